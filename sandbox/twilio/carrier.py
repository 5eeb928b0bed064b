"""What happens to an outbound message after the API accepted it: the carrier's side.

    accepted ─▶ queued ─▶ sent ─▶ delivered
    (only with a         │       └─▶ undelivered   (magic recipients, error 30003 / 30005)
     Messaging Service)  └─▶ failed               (magic recipient, error 30008)

A message is created in its first status; the steps still ahead are stored on it (`_steps`)
and the next one is a job of the shared scheduler, so a sandbox restarted from its data file
carries on where it stopped. Every change — never the initial status, as on Twilio — is
reported to the message's `StatusCallback` URL.
"""

from __future__ import annotations

import time
from decimal import Decimal

from ..scheduler import Scheduler
from ..store import JSON, ObjectStore
from .dates import raw_dlr_done_date, rfc2822
from .numbers import CarrierOutcome
from .webhooks import STATUS_CALLBACK, TwilioWebhooks

MESSAGE = "message"  # the store kind of Message resources (inbound and outbound)
STEP_SECONDS = 0.05  # between two carrier events; seconds on Twilio, shrunk for tests
STEP_JOB = "twilio.carrier_step"
PRICE_PER_SEGMENT = Decimal("0.00790")  # USD, what a US long code text costs


def plan(outcome: CarrierOutcome, *, via_messaging_service: bool) -> list[JSON]:
    """The statuses a new outbound message will still go through."""
    steps: list[JSON] = [{"status": "queued"}] if via_messaging_service else []
    if outcome.status == "failed":
        return [*steps, _step(outcome)]
    return [*steps, {"status": "sent"}, _step(outcome)]


def _step(outcome: CarrierOutcome) -> JSON:
    step: JSON = {"status": outcome.status}
    if outcome.error_code is not None:
        step["error_code"] = outcome.error_code
        step["error_message"] = outcome.error_message
    return step


def price(segments: int) -> str:
    """Twilio reports cost as a negative decimal string (`-0.00790`)."""
    return f"-{PRICE_PER_SEGMENT * segments}"


class Carrier:
    def __init__(self, store: ObjectStore, webhooks: TwilioWebhooks, scheduler: Scheduler) -> None:
        self.store = store
        self.webhooks = webhooks
        self.scheduler = scheduler
        scheduler.register(STEP_JOB, self._advance)

    def take(self, message: JSON, steps: list[JSON]) -> None:
        """Hand a new message to the carrier (the caller stores it, in the same transaction)."""
        message["_steps"] = steps
        if steps:
            self.scheduler.schedule(STEP_JOB, {"sid": message["sid"]}, STEP_SECONDS)

    def _advance(self, job: JSON) -> None:
        message = self.store.get(MESSAGE, job["sid"])
        if message is None or not message.get("_steps"):
            return  # wiped by a reset
        self._apply(message, message["_steps"].pop(0), time.time())
        if message["_steps"]:
            self.scheduler.schedule(STEP_JOB, job, STEP_SECONDS)

    def _apply(self, message: JSON, step: JSON, now: float) -> None:
        status = step["status"]
        message["status"] = status
        message["date_updated"] = rfc2822(now)
        if status == "queued":  # a Messaging Service picks the sender from its pool now
            message["from"] = message["_sender"]
            message["num_segments"] = str(message["_segments"])
        elif status == "sent":
            message["date_sent"] = rfc2822(now)
            message["_sent_at"] = now
            message["price"] = price(message["_segments"])
        if "error_code" in step:
            message["error_code"] = step["error_code"]
            message["error_message"] = step["error_message"]
        self.store.save(MESSAGE, message)
        callback = message.get("_status_callback")
        if callback:
            self.webhooks.enqueue(
                f"{message['sid']}-{status}",
                type=STATUS_CALLBACK,
                url=callback,
                params=status_callback_params(message, now),
            )


def status_callback_params(message: JSON, now: float) -> dict[str, str]:
    """The form fields of a status callback, as Twilio sends them for SMS."""
    params = {
        "AccountSid": message["account_sid"],
        "ApiVersion": message["api_version"],
        "From": message["from"] or "",
        "MessageSid": message["sid"],
        "MessageStatus": message["status"],
        "SmsSid": message["sid"],
        "SmsStatus": message["status"],
        "To": message["to"],
    }
    if message.get("messaging_service_sid"):
        params["MessagingServiceSid"] = message["messaging_service_sid"]
    if message.get("error_code") is not None:
        params["ErrorCode"] = str(message["error_code"])
    if message["status"] in ("delivered", "undelivered"):
        params["RawDlrDoneDate"] = raw_dlr_done_date(now)
    return params
