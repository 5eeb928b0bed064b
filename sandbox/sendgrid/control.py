"""Sandbox-only control endpoints (`/_sandbox/sendgrid/...`) for tests and demos.

They do what a recipient's mail server or the recipient would do later (bounce, open, report
spam), and let tests look inside (every copy, suppression lists, webhook deliveries).
Unauthenticated on purpose: the sandbox binds to 127.0.0.1.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict

from ..outbox import address_key
from .activity import control_view
from .delivery import inject_event
from .events import EVENT_NAMES
from .state import SendGridSandbox
from .suppressions import ListName


class InjectedEvent(BaseModel):
    """`{"event": "bounce", ...}`; any other keys become the event's own fields (e.g.
    `reason`, `status`, `type`, `response`, `attempt`, `url`). `"blocked"` is shorthand for a
    bounce of type blocked."""

    model_config = ConfigDict(extra="allow")

    event: str


class NewSuppression(BaseModel):
    list: ListName
    email: str
    reason: str | None = None
    group_id: int | None = None


def control_router(sandbox: SendGridSandbox) -> APIRouter:
    router = APIRouter(tags=["sandbox: sendgrid"])

    @router.get("/messages")
    async def messages(
        to: str | None = Query(default=None, description="Recipient address"),
        x_message_id: str | None = Query(default=None, description="A Mail Send's X-Message-Id"),
        limit: int = Query(default=50, ge=1, le=1000),
    ) -> Any:
        """Every recipient's copy, newest first, with its events and custom args."""
        wanted = address_key(to) if to else None

        def matches(copy: dict[str, Any]) -> bool:
            return (wanted is None or address_key(copy["to_email"]) == wanted) and (
                x_message_id is None or copy["x_message_id"] == x_message_id
            )

        return {"data": [control_view(m) for m in sandbox.activity.search(matches, limit)]}

    @router.get("/messages/{msg_id}")
    async def message(msg_id: str) -> Any:
        copy = sandbox.activity.get(msg_id)
        if copy is None:
            raise HTTPException(404, f"No such message: {msg_id}")
        return control_view(copy)

    @router.post("/messages/{msg_id}/events")
    async def add_event(msg_id: str, body: InjectedEvent) -> Any:
        """Make something happen to a sent copy; the event is posted to the webhook."""
        event, fields = body.event, dict(body.model_extra or {})
        if event == "blocked":
            event, fields = "bounce", {**fields, "type": "blocked"}
        if event not in EVENT_NAMES:
            raise HTTPException(422, f"event must be one of {', '.join(EVENT_NAMES)}, blocked")
        if sandbox.activity.get(msg_id) is None:
            raise HTTPException(404, f"No such message: {msg_id}")
        with sandbox.store.db.atomic():
            return inject_event(sandbox, msg_id, event, fields)

    @router.get("/suppressions")
    async def suppressions(email: str | None = None) -> Any:
        return sandbox.suppressions.listing(email)

    @router.post("/suppressions")
    async def add_suppression(body: NewSuppression) -> Any:
        """Put an address on a list without a send (e.g. "this user bounced last month")."""
        if (body.list == "group_unsubscribes") != (body.group_id is not None):
            raise HTTPException(422, "group_id is required for, and only for, group_unsubscribes")
        return sandbox.suppressions.add(
            body.list, body.email, reason=body.reason, group_id=body.group_id
        )

    @router.delete("/suppressions/{list_name}/{email}")
    async def remove_suppression(
        list_name: ListName, email: str, group_id: int | None = None
    ) -> Any:
        if not sandbox.suppressions.remove(list_name, email, group_id):
            raise HTTPException(404, f"{email} is not on {list_name}")
        return {"list": list_name, "email": email, "removed": True}

    @router.get("/webhooks")
    async def webhook_deliveries() -> Any:
        return {"url": sandbox.webhooks.url, "data": sandbox.webhooks.deliveries()}

    @router.post("/webhooks/{delivery_id}/resend")
    async def resend_webhook(delivery_id: str) -> Any:
        if sandbox.webhooks.url is None:
            raise HTTPException(409, "No event webhook URL is configured")
        if not sandbox.webhooks.resend(delivery_id):
            raise HTTPException(404, f"No such webhook delivery: {delivery_id}")
        return {"id": delivery_id, "status": "pending"}

    return router
