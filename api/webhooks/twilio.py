"""Twilio's webhooks on one URL: replies to our number (STOP turns a person's texts off, START
back on) and the status callbacks of the messages we sent (delivered, undelivered, failed).

The signature is checked with the SDK's own ``RequestValidator`` over the URL Twilio called,
which is our public URL (behind a proxy the Host header is not it) plus the form parameters.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Header, Request, Response
from twilio.request_validator import RequestValidator

from api.deps import EngineDep, SettingsDep
from api.webhooks.events import bad_signature, counted, first_time, mark_processed
from models.tables import DELIVERIES, USERS

router = APIRouter()

# Twilio's default opt-out keywords (also what it sends as OptOutType with Advanced Opt-Out).
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "YES", "UNSTOP"}
# A message status and the delivery status it means for us.
STATUS = {
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
}
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@router.post("/twilio")
async def twilio_webhook(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    x_twilio_signature: str = Header(default=""),
) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    url = f"{settings.api_public_url.rstrip('/')}{request.url.path}"
    if request.url.query:
        url += f"?{request.url.query}"
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    if not x_twilio_signature or not validator.validate(url, form, x_twilio_signature):
        raise bad_signature("twilio")
    message_sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = form.get("MessageStatus")
    kind = f"status.{status}" if status else "inbound"
    event_id = f"{message_sid}:{status or 'inbound'}"
    if message_sid and await first_time(engine, "twilio", event_id, kind, form):
        if status:
            await _message_status(engine, message_sid, status, form.get("ErrorCode"))
        else:
            await _inbound(engine, form)
        await mark_processed(engine, "twilio", event_id)
        counted("twilio", kind, "handled")
    else:
        counted("twilio", kind, "duplicate")
    # Twilio reads an answer to an inbound message as TwiML; empty means "no reply from us"
    # (Twilio itself confirms STOP/START to the person).
    return Response(EMPTY_TWIML, media_type="text/xml")


async def _inbound(engine: EngineDep, form: dict[str, str]) -> None:
    keyword = (form.get("OptOutType") or form.get("Body", "")).strip().upper()
    if keyword in STOP_WORDS:
        texts_on = False
    elif keyword in START_WORDS:
        texts_on = True
    else:
        return  # people may text anything; we only act on opt-out keywords
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(USERS)
            .where(USERS.c.phone_number == form.get("From", ""))
            .values(sms_notifications=texts_on)
        )


async def _message_status(
    engine: EngineDep, message_sid: str, status: str, error_code: str | None
) -> None:
    ours = STATUS.get(status)
    if ours is None:
        return  # queued/sending/accepted: nothing new for support
    detail = f"Twilio error {error_code}" if error_code else None
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(DELIVERIES)
            .where(
                DELIVERIES.c.channel == "sms",
                DELIVERIES.c.provider_message_id == message_sid,
                # Callbacks arrive out of order: "sent" never overwrites a final status.
                DELIVERIES.c.status.in_(("sending", "sent")) if ours == "sent" else sa.true(),
            )
            .values(status=ours, detail=detail, updated_at=sa.func.now())
        )
