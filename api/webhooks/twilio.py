"""Twilio's webhooks on one URL: replies to our number (STOP turns a person's texts off, START
back on) and the status callbacks of the messages we sent (delivered, undelivered, failed).

The signature is checked with the SDK's own ``RequestValidator`` over the URL Twilio called
(``Settings.twilio_callback_url``: behind a proxy the Host header is not it) plus the form
parameters.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Header, Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection
from twilio.request_validator import RequestValidator

from api.deps import EngineDep, SettingsDep
from api.webhooks.events import bad_signature, counted, handle_once
from models.tables import DELIVERIES, USERS

router = APIRouter()

# Twilio's default opt-out keywords (also what it sends as OptOutType with Advanced Opt-Out).
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "YES", "UNSTOP"}
# A message's final status and the delivery status it means for us (queued, sending and sent
# add nothing: the activity recorded "sent" when Twilio took the message).
STATUS = {"delivered": "delivered", "undelivered": "undelivered", "failed": "failed"}
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@router.post(
    "/twilio",
    response_class=Response,
    responses={200: {"description": "Empty TwiML", "content": {"text/xml": {}}}},
)
async def twilio_webhook(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    x_twilio_signature: str = Header(default=""),
) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    url = settings.twilio_callback_url  # what Twilio signed, not what the Host header says
    if request.url.query:
        url += f"?{request.url.query}"
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    if not x_twilio_signature or not validator.validate(url, form, x_twilio_signature):
        raise bad_signature("twilio")
    message_sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = form.get("MessageStatus")
    if status:
        outcome = await _message_status(engine, message_sid, status, form)
    else:
        outcome = await _inbound(engine, message_sid, form)
    counted("twilio", f"status.{status}" if status else "inbound", outcome)
    # Twilio reads an answer to an inbound message as TwiML; empty means "no reply from us"
    # (Twilio itself confirms STOP/START to the person).
    return Response(EMPTY_TWIML, media_type="text/xml")


async def _inbound(engine: EngineDep, message_sid: str, form: dict[str, str]) -> str:
    keyword = (form.get("OptOutType") or form.get("Body", "")).strip().upper()
    if keyword in STOP_WORDS:
        texts_on = False
    elif keyword in START_WORDS:
        texts_on = True
    else:
        return "ignored"  # people may text anything; we only act on opt-out keywords

    async def apply(conn: AsyncConnection) -> None:
        await conn.execute(
            sa.update(USERS)
            .where(USERS.c.phone_number == form.get("From", ""))
            .values(sms_notifications=texts_on)
        )

    first = await handle_once(engine, "twilio", f"{message_sid}:inbound", "inbound", form, apply)
    return "handled" if first else "duplicate"


async def _message_status(
    engine: EngineDep, message_sid: str, status: str, form: dict[str, str]
) -> str:
    ours = STATUS.get(status)
    if ours is None:
        return "ignored"  # queued/sending/sent: the activity already recorded "sent"
    error_code = form.get("ErrorCode")
    detail = f"Twilio error {error_code}" if error_code else None

    async def apply(conn: AsyncConnection) -> None:
        await conn.execute(
            sa.update(DELIVERIES)
            .where(DELIVERIES.c.channel == "sms", DELIVERIES.c.provider_message_id == message_sid)
            .values(status=ours, detail=detail, updated_at=sa.func.now())
        )

    event_id = f"{message_sid}:{status}"
    first = await handle_once(engine, "twilio", event_id, f"status.{status}", form, apply)
    return "handled" if first else "duplicate"
