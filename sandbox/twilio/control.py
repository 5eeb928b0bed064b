"""Sandbox-only control endpoints (`/_sandbox/twilio/...`) for tests and demos.

They do what a person's phone would do (text our number, e.g. STOP) and let tests look inside
(messages, verifications with their codes, the opt-out list, webhook deliveries).
Unauthenticated on purpose: the sandbox binds to 127.0.0.1.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from ..outbox import address_key
from . import inbound, messages, verify
from .carrier import MESSAGE
from .numbers import is_e164
from .state import TwilioSandbox


class InboundText(BaseModel):
    """A text a person sends to our number."""

    model_config = ConfigDict(populate_by_name=True)

    sender: str = Field(alias="from", description="The person's number, E.164")
    body: str
    to: str | None = Field(default=None, description="Our number (default: phone_number)")


def control_router(sandbox: TwilioSandbox) -> APIRouter:
    router = APIRouter(tags=["sandbox: twilio"])
    settings = sandbox.settings

    def matching(to: str | None, number: str) -> bool:
        return to is None or address_key(number) == address_key(to)

    @router.post("/inbound")
    async def receive_text(text: InboundText) -> Any:
        """Simulate a person texting our number (opt-out keywords apply, webhook is sent)."""
        to = text.to or settings.phone_number
        if not is_e164(text.sender):
            raise HTTPException(422, f"from must be an E.164 phone number, not {text.sender!r}")
        if to != settings.phone_number:
            raise HTTPException(422, f"{to} is not a number of this account")
        with sandbox.store.db.atomic():
            return inbound.receive(sandbox, sender=text.sender, to=to, body=text.body)

    @router.get("/messages")
    async def list_messages(to: str | None = Query(default=None)) -> Any:
        """Message resources (inbound and outbound), newest first."""
        found = [
            messages.public(m)
            for m in reversed(sandbox.store.all(MESSAGE))
            if matching(to, m["to"])
        ]
        return {"data": found}

    @router.get("/verifications")
    async def list_verifications(to: str | None = Query(default=None)) -> Any:
        """Verifications, newest first, with their codes and attempt counts."""
        with sandbox.store.db.atomic():
            found = [
                verify.sandbox_view(sandbox, v)
                for v in reversed(sandbox.store.all(verify.VERIFICATION))
                if matching(to, v["to"])
            ]
        return {"data": found}

    @router.post("/verifications/{sid}/expire")
    async def expire_verification(sid: str) -> Any:
        """Age a verification past its 10 minutes."""
        verification = sandbox.store.get(verify.VERIFICATION, sid)
        if verification is None:
            raise HTTPException(404, f"No such verification: {sid}")
        with sandbox.store.db.atomic():
            verify.expire(sandbox, verification)
            return verify.sandbox_view(sandbox, verification)

    @router.get("/opt_outs")
    async def opt_outs() -> Any:
        return {"data": sandbox.opt_outs.all()}

    @router.get("/webhooks")
    async def webhook_deliveries() -> Any:
        """Status callbacks and incoming-message webhooks: url, params, status, attempts."""
        return {
            "inbound_webhook_url": settings.inbound_webhook_url,
            "data": sandbox.webhooks.deliveries(),
        }

    @router.post("/webhooks/{delivery_id}/resend")
    async def resend_webhook(delivery_id: str) -> Any:
        if not sandbox.webhooks.resend(delivery_id):
            raise HTTPException(404, f"No such webhook delivery: {delivery_id}")
        return {"id": delivery_id, "status": "pending"}

    return router
