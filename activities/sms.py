"""Text messages through Twilio's official SDK: phone verification (Twilio Verify) and notices
(Twilio Messages), the latter sent once per notice.

Twilio's Messages API takes no idempotency key either: after an attempt that may have
reached Twilio, the messages sent to that number since the attempt began are read back and
one with the same text counts as sent (texts carry the milestone, date or amount they are
about, so two different notices do not share a text within minutes).

Twilio's answers are classified once, in ``_call``: what a person got wrong (an invalid
number, too many codes) becomes a typed non-retryable error the workflow turns into a clear
answer; 429 (20429) and 5xx are retried.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client as TwilioClient

from activities.deliveries import Contact, DeliveryLog
from core.settings import Settings
from core.twilio_http import TwilioHttpClient
from models.notices import DeliveryOutcome, NoticeDelivery
from models.verification import (
    PhoneCodeCheck,
    PhoneCodeResult,
    PhoneVerificationRequest,
    PhoneVerificationStarted,
)

T = TypeVar("T")
CHANNEL = "sms"

# Twilio error codes (https://www.twilio.com/docs/api/errors) and what they mean for us.
INVALID_NUMBER = {21211, 21614, 21612, 21408, 60200, 60205}
UNSUBSCRIBED = 21610  # the person replied STOP: Twilio refuses to text them
TOO_MANY_SENDS = 60203
TOO_MANY_CHECKS = 60202
NOTHING_PENDING = 20404  # VerificationCheck: expired, approved or canceled
# A resend lands on the same verification within its 10-minute life: wait that long.
SEND_WINDOW = timedelta(minutes=10)
# How far before an unfinished call a matching text still counts as that call's.
_CLOCK_SLACK = timedelta(minutes=1)


def twilio_client(settings: Settings) -> TwilioClient:
    """The one way the app builds its Twilio client: the real API unless a base is set."""
    client = TwilioClient(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        http_client=TwilioHttpClient(
            api_base=settings.twilio_api_base, timeout=settings.twilio_timeout_seconds
        ),
    )
    # The SDK imports its API modules on first attribute access (hundreds of them: 8 % of
    # the worker's CPU in a short make bench). Touching them here moves that to start-up
    # instead of the first text's activity. No request is made.
    _ = client.messages, client.verify.v2
    return client


def _rejected(err: TwilioRestException, kind: str) -> ApplicationError:
    return ApplicationError(str(err.msg), {"code": err.code}, type=kind, non_retryable=True)


async def _call(what: str, call: Awaitable[T]) -> T:
    try:
        return await call
    except TwilioRestException as err:
        code = int(err.code or 0)
        activity.logger.warning("twilio call failed", extra={"what": what, "code": code})
        if code in INVALID_NUMBER:
            raise _rejected(err, "InvalidPhoneNumber") from None
        if code == TOO_MANY_SENDS:
            raise ApplicationError(
                str(err.msg),
                {"code": code, "retry_after_seconds": int(SEND_WINDOW.total_seconds())},
                type="TooManySends",
                non_retryable=True,
            ) from None
        if code == TOO_MANY_CHECKS:
            raise _rejected(err, "TooManyChecks") from None
        if code == NOTHING_PENDING and err.status == 404:
            raise _rejected(err, "NoPendingVerification") from None
        if code == UNSUBSCRIBED:
            raise _rejected(err, "Unsubscribed") from None
        if err.status == 429 or err.status >= 500 or err.status in (401, 403):
            # Rate limits, outages and a rotated token (ops fix it): keep retrying.
            raise ApplicationError(
                f"Twilio unavailable: HTTP {err.status} ({code})", type="ProviderUnavailable"
            ) from None
        raise _rejected(err, "SmsRejected") from None
    except httpx.HTTPError as err:
        raise ApplicationError(
            f"Twilio unreachable: {type(err).__name__}", type="ProviderUnavailable"
        ) from None


class SmsActivities:
    def __init__(self, client: TwilioClient, engine: AsyncEngine, settings: Settings) -> None:
        self._twilio = client
        self._log = DeliveryLog(engine)
        self._settings = settings

    def _verify(self) -> Any:
        return self._twilio.verify.v2.services(self._settings.twilio_verify_service_sid)

    @activity.defn(name="sms.start_phone_verification")
    async def start_phone_verification(
        self, req: PhoneVerificationRequest
    ) -> PhoneVerificationStarted:
        """Twilio Verify texts a code. A resend after a lockout starts a fresh verification
        (the locked one is canceled first, or Twilio would keep refusing checks on it)."""
        if req.cancel_sid:
            try:
                await _call(
                    "cancel_verification",
                    self._verify().verifications(req.cancel_sid).update_async(status="canceled"),
                )
            except ApplicationError as err:
                if err.type != "NoPendingVerification":  # already over: nothing to cancel
                    raise
        verification = await _call(
            "create_verification",
            self._verify().verifications.create_async(to=req.to, channel="sms"),
        )
        return PhoneVerificationStarted(sid=verification.sid)

    @activity.defn(name="sms.check_phone_verification")
    async def check_phone_verification(self, req: PhoneCodeCheck) -> PhoneCodeResult:
        check = await _call(
            "check_verification",
            self._verify().verification_checks.create_async(to=req.to, code=req.code),
        )
        return PhoneCodeResult(approved=check.status == "approved")

    async def send_notice(self, req: NoticeDelivery, contact: Contact | None) -> DeliveryOutcome:
        """One notice by text, once, to a verified number of someone who wants texts (the
        ``notices.deliver`` activity calls this)."""
        text = req.notice.sms
        skip = None
        if not text:
            skip = "this notice has no text version"
        elif contact is None:
            skip = "no such user"
        elif contact.phone is None:
            skip = "no verified phone number"
        elif not contact.sms_notifications:
            skip = "text messages are turned off"
        if skip or contact is None or text is None:
            phone = contact.phone if contact else None
            return await self._log.record(
                req.dedupe_key,
                CHANNEL,
                req.user_id,
                req.notice.kind,
                phone,
                DeliveryOutcome(status="skipped", detail=skip),
            )
        assert contact.phone is not None
        claim = await self._log.claim(
            req.dedupe_key, CHANNEL, req.user_id, req.notice.kind, contact.phone
        )
        if claim.finished:
            return claim.outcome()
        if claim.unfinished_call_at is not None:
            found = await self._sent_earlier(contact.phone, text, claim.unfinished_call_at)
            if found is not None:
                outcome = DeliveryOutcome(status="sent", provider_message_id=found)
                await self._log.finish(req.dedupe_key, CHANNEL, outcome)
                return outcome
            await self._log.calling(req.dedupe_key, CHANNEL)  # not sent after all: send now
        try:
            message = await _call(
                "create_message",
                self._twilio.messages.create_async(
                    to=contact.phone,
                    from_=self._settings.twilio_from_number,
                    body=text,
                    status_callback=self._settings.twilio_callback_url,
                ),
            )
        except ApplicationError as err:
            if err.non_retryable:
                return await self._refused(req, err)
            raise
        outcome = DeliveryOutcome(status="sent", provider_message_id=message.sid)
        await self._log.finish(req.dedupe_key, CHANNEL, outcome)
        return outcome

    async def _refused(self, req: NoticeDelivery, err: ApplicationError) -> DeliveryOutcome:
        if err.type == "Unsubscribed":
            # Twilio knows they replied STOP even if our webhook missed it: believe it.
            await self._log.turn_off_sms(req.user_id)
            outcome = DeliveryOutcome(status="skipped", detail="the recipient replied STOP")
        else:
            outcome = DeliveryOutcome(status="failed", detail=f"{err.type}: {err.message}")
        await self._log.finish(req.dedupe_key, CHANNEL, outcome)
        return outcome

    async def _sent_earlier(self, to: str, text: str, call_started_at: datetime) -> str | None:
        since = call_started_at - _CLOCK_SLACK
        messages = await _call(
            "list_messages", self._twilio.messages.list_async(to=to, limit=50, page_size=50)
        )
        for message in messages:
            created = message.date_created
            if created is not None and created.tzinfo is None:
                created = created.replace(tzinfo=UTC)
            if message.body == text and created is not None and created >= since:
                return str(message.sid)
        return None

    def all(self) -> list[Any]:
        return [self.start_phone_verification, self.check_phone_verification]
