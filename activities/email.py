"""Email through SendGrid's official SDK: verification codes and notices, each sent once.

SendGrid's Mail Send has no idempotency key, so "once" comes from the delivery record
(activities/deliveries.py) plus SendGrid's Email Activity feed: after an attempt that may have
reached SendGrid (a crash, a lost answer), the feed is asked for a message carrying our
``dedupe_key`` custom argument before anything is sent again. The feed lags behind sends, so
that question waits until ``sendgrid_activity_feed_lag`` has passed since the unfinished call.

The SDK is synchronous (urllib): calls run in a thread so the worker's event loop never blocks.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from python_http_client.exceptions import HTTPError as SendGridHTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, Mail
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deliveries import Claim, Contact, DeliveryLog
from core.settings import Settings
from core.verification_codes import code_digest, email_code
from models.notices import DeliveryOutcome, NoticeDelivery
from models.verification import CodeEmailRequest, CodeEmailSent

T = TypeVar("T")
CHANNEL = "email"
SENDGRID_API = "https://api.sendgrid.com"


def sendgrid_client(settings: Settings) -> SendGridAPIClient:
    """The one way the app builds its SendGrid client: the real API unless a base is set."""
    client = SendGridAPIClient(
        settings.sendgrid_api_key.get_secret_value(),
        host=settings.sendgrid_api_base or SENDGRID_API,
    )
    client.client.timeout = settings.sendgrid_timeout_seconds
    return client


class Rejected(Exception):
    """SendGrid refused the message for good (a 4xx other than 401/429)."""


def _retry_after(err: SendGridHTTPError) -> timedelta | None:
    headers = err.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    reset = headers.get("X-RateLimit-Reset") or headers.get("x-ratelimit-reset")
    try:
        if value:
            return timedelta(seconds=float(value))
        if reset:
            return max(datetime.fromtimestamp(float(reset), UTC) - datetime.now(UTC), timedelta(0))
    except ValueError:
        return None
    return None


def _errors(err: SendGridHTTPError) -> str:
    try:
        body = json.loads(err.body)
        return "; ".join(str(e.get("message")) for e in body.get("errors", [])) or str(body)
    except (ValueError, TypeError, AttributeError):
        return f"HTTP {err.status_code}"


async def _call(fn: Callable[[], T]) -> T:
    """One SDK call in a thread; answers classified once: 4xx refusals raise ``Rejected``,
    everything worth retrying raises a retryable ApplicationError."""
    try:
        return await asyncio.to_thread(fn)
    except SendGridHTTPError as err:
        if err.status_code == 429:
            raise ApplicationError(
                "SendGrid rate limit",
                type="ProviderRateLimited",
                next_retry_delay=_retry_after(err),
            ) from None
        # 401/403 usually mean a rotated or mis-scoped key: ops fix it, the retries continue.
        if 400 <= err.status_code < 500 and err.status_code not in (401, 403):
            raise Rejected(_errors(err)) from None
        raise ApplicationError(
            f"SendGrid unavailable: HTTP {err.status_code}", type="ProviderUnavailable"
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        raise ApplicationError(
            f"SendGrid unreachable: {type(err).__name__}", type="ProviderUnavailable"
        ) from None


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name) if hasattr(headers, "get") else None
    return str(value) if value else None


class EmailActivities:
    def __init__(self, client: SendGridAPIClient, engine: AsyncEngine, settings: Settings) -> None:
        self._sendgrid = client
        self._log = DeliveryLog(engine)
        self._settings = settings

    @activity.defn(name="email.send_verification_code")
    async def send_verification_code(self, req: CodeEmailRequest) -> CodeEmailSent:
        """Sends code number ``send_number`` of this workflow; a retry sends the same code
        (or nothing, if it went out already) and answers the same digest."""
        secret = self._settings.verification_code_secret.get_secret_value()
        workflow_id = activity.info().workflow_id
        assert workflow_id, "codes are derived from the workflow that asks for them"
        code = email_code(secret, workflow_id, req.send_number)
        digest = CodeEmailSent(code_digest=code_digest(secret, req.user_id, code))
        subject = "Your Tempwork verification code"
        data = {
            "subject": subject,
            "code": code,
            "name": req.display_name,
            "expires_at": f"{req.expires_at:%H:%M} UTC",
            "minutes": max(int((req.expires_at - datetime.now(UTC)).total_seconds() // 60), 1),
        }
        claim = await self._log.claim(
            req.dedupe_key, CHANNEL, req.user_id, "verification-code", req.to
        )
        try:
            outcome = await self._send_once(
                claim, req.dedupe_key, req.to, self._settings.sendgrid_code_template_id, data
            )
        except Rejected as err:
            outcome = DeliveryOutcome(status="failed", detail=str(err))
            await self._log.finish(req.dedupe_key, CHANNEL, outcome)
        if outcome.status not in ("sent", "delivered"):
            raise ApplicationError(
                f"the email could not be sent: {outcome.detail or outcome.status}",
                type="EmailRejected",
                non_retryable=True,
            )
        return digest

    async def send_notice(self, req: NoticeDelivery, contact: Contact | None) -> DeliveryOutcome:
        """One notice by email, once (the ``notices.deliver`` activity calls this)."""
        notice = req.notice
        if contact is None:
            return DeliveryOutcome(status="skipped", detail="no such user")
        if not (notice.essential or contact.email_notifications):
            return await self._log.record(
                req.dedupe_key,
                CHANNEL,
                req.user_id,
                notice.kind,
                contact.email,
                DeliveryOutcome(status="skipped", detail="email notices are turned off"),
            )
        claim = await self._log.claim(
            req.dedupe_key, CHANNEL, req.user_id, notice.kind, contact.email
        )
        data = {"subject": notice.subject, "body": notice.body, "kind": notice.kind}
        try:
            return await self._send_once(
                claim,
                req.dedupe_key,
                contact.email,
                self._settings.sendgrid_notice_template_id,
                data,
            )
        except Rejected as err:
            # The address itself is refused: retrying will not help, and the notice is still
            # in the app. Recorded for support; the workflow carries on.
            outcome = DeliveryOutcome(status="failed", detail=str(err))
            await self._log.finish(req.dedupe_key, CHANNEL, outcome)
            return outcome

    async def _send_once(
        self, claim: Claim, dedupe_key: str, to: str, template_id: str, data: dict[str, Any]
    ) -> DeliveryOutcome:
        if claim.finished:
            return claim.outcome()
        if claim.unfinished_call_at is not None:
            found = await self._sent_earlier(dedupe_key, claim.unfinished_call_at)
            if found is not None:
                outcome = DeliveryOutcome(status="sent", provider_message_id=found)
                await self._log.finish(dedupe_key, CHANNEL, outcome)
                return outcome
            await self._log.calling(dedupe_key, CHANNEL)  # not sent after all: send now
        mail = Mail(
            from_email=(self._settings.sendgrid_from_email, self._settings.sendgrid_from_name),
            to_emails=to,
        )
        mail.template_id = template_id
        mail.dynamic_template_data = data
        # Comes back on every event webhook and is what the Email Activity search finds.
        mail.custom_arg = [CustomArg("dedupe_key", dedupe_key), CustomArg("channel", CHANNEL)]
        response = await _call(lambda: self._sendgrid.send(mail))
        outcome = DeliveryOutcome(
            status="sent", provider_message_id=_header(response.headers, "X-Message-Id")
        )
        await self._log.finish(dedupe_key, CHANNEL, outcome)
        activity.logger.info("email sent", extra={"dedupe_key": dedupe_key})
        return outcome

    async def _sent_earlier(self, dedupe_key: str, call_started_at: datetime) -> str | None:
        """The SendGrid message id of an earlier attempt's send, if the feed shows one."""
        lag = self._settings.sendgrid_activity_feed_lag
        waited = datetime.now(UTC) - call_started_at
        if waited < lag:
            raise ApplicationError(
                "an earlier attempt may have sent this email; waiting for SendGrid's activity feed",
                type="AwaitingProviderRecords",
                next_retry_delay=lag - waited,
            )
        query = f"unique_args['dedupe_key']=\"{dedupe_key}\""
        response = await _call(
            lambda: self._sendgrid.client.messages.get(query_params={"query": query, "limit": 10})
        )
        messages = json.loads(response.body or b"{}").get("messages", [])
        return str(messages[0]["msg_id"]) if messages else None

    def all(self) -> list[Any]:
        return [self.send_verification_code]
