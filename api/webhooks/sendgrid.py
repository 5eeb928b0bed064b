"""SendGrid's signed Event Webhook: what became of each email (delivered, bounced, dropped),
recorded on its delivery row for support; a bounced verification code is also told to the
person's Verification workflow, so they learn the address does not work.

The signature (ECDSA over timestamp + body) is checked with the SDK's own ``EventWebhook``
and the public "verification key" from SendGrid's settings. Events come in batches; each is
recorded once by its ``sg_event_id``.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Header, Request
from sendgrid.helpers.eventwebhook import EventWebhook
from sqlalchemy.ext.asyncio import AsyncConnection

from api.deps import EngineDep, SettingsDep, TemporalDep
from api.webhooks.events import (
    bad_signature,
    counted,
    first_time,
    handle_once,
    mark_processed,
    signal,
)
from models.tables import DELIVERIES, USERS
from models.verification import EmailUndeliverable

router = APIRouter()

# SendGrid event → delivery status. Blocks arrive as "bounce" with type "blocked"; other
# events (processed, deferred, open, click) change nothing we keep.
STATUS: dict[str, str] = {"delivered": "delivered", "bounce": "bounced", "dropped": "dropped"}
# The person said "no more": non-essential email stops (codes and legal notices still go).
OPT_OUT_EVENTS = {"spamreport", "unsubscribe", "group_unsubscribe"}


@cache
def _verifier(public_key: str) -> EventWebhook:
    return EventWebhook(public_key)


@router.post("/sendgrid")
async def sendgrid_webhook(
    request: Request,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    signature: str = Header(default="", alias="X-Twilio-Email-Event-Webhook-Signature"),
    timestamp: str = Header(default="", alias="X-Twilio-Email-Event-Webhook-Timestamp"),
) -> dict[str, Any]:
    payload = (await request.body()).decode("utf-8", errors="replace")
    try:
        verified = bool(signature and timestamp) and _verifier(
            settings.sendgrid_webhook_public_key
        ).verify_signature(payload, signature, timestamp)
    except (ValueError, TypeError):  # not base64 / not a DER signature
        verified = False
    if not verified:
        raise bad_signature("sendgrid")
    try:
        events = json.loads(payload)
    except ValueError:
        events = None
    if not isinstance(events, list):
        raise bad_signature("sendgrid")  # signed by SendGrid but not a batch: never seen
    for event in events:
        if isinstance(event, dict) and event.get("sg_event_id"):
            await _handle(engine, temporal, event)
    return {"received": True}


async def _handle(engine: EngineDep, temporal: TemporalDep, event: dict[str, Any]) -> None:
    event_id, kind = str(event["sg_event_id"]), str(event.get("event", "unknown"))
    key, reason = event.get("dedupe_key"), str(event.get("reason") or event.get("response") or "")
    status = STATUS.get(kind)
    opt_out = kind in OPT_OUT_EVENTS and bool(event.get("email"))
    if not (key and status) and not opt_out:
        counted("sendgrid", kind, "ignored")  # processed, deferred, open, …: nothing to record
        return

    async def apply(conn: AsyncConnection) -> None:
        if key and status:
            await conn.execute(
                sa.update(DELIVERIES)
                .where(DELIVERIES.c.dedupe_key == key, DELIVERIES.c.channel == "email")
                .values(status=status, detail=reason or None, updated_at=sa.func.now())
            )
        if opt_out:
            await conn.execute(
                sa.update(USERS)
                .where(sa.func.lower(USERS.c.email) == str(event["email"]).lower())
                .values(email_notifications=False)
            )

    code_failed = bool(key and status in ("bounced", "dropped") and ":email-code:" in key)
    if not code_failed:
        first = await handle_once(engine, "sendgrid", event_id, kind, event, apply)
        counted("sendgrid", kind, "handled" if first else "duplicate")
        return
    # A code that could not be delivered is also news for the person's Verification workflow:
    # marked processed only once the workflow has it (a failed signal is redelivered).
    if not await first_time(engine, "sendgrid", event_id, kind, event):
        counted("sendgrid", kind, "duplicate")
        return
    async with engine.begin() as conn:
        await apply(conn)
    assert key is not None
    problem = EmailUndeliverable(destination=str(event.get("email", "")), reason=reason or kind)
    await signal(temporal, key.split(":", 1)[0], "email_undeliverable", problem)
    await mark_processed(engine, "sendgrid", event_id)
    counted("sendgrid", kind, "handled")
