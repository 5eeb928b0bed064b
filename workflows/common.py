"""What every workflow shares: named retry policies, timeouts and small helpers.

Deterministic code only: this module is imported inside Temporal's workflow sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.notices import NoticeActivities
    from activities.store import StoreActivities
    from models import search_attributes as sa
    from models.errors import UNSTORABLE, Rejection
    from models.notices import Notice, NoticeDelivery
    from models.store import NotificationRequest

# Provider money calls. No attempt limit: the schedule-to-close timeout bounds them instead,
# and it stays below Stripe's 24 h idempotency-key lifetime so every retry is still deduplicated.
PAYMENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
# A client is waiting on the HTTP request while a milestone is funded: fail fast(ish) then.
FUNDING_TIMEOUT = timedelta(seconds=60)
MONEY_CALL_TIMEOUT = timedelta(seconds=30)
MONEY_STEP_DEADLINE = timedelta(hours=20)

# Our own database: retried quickly and for a long time (a DB outage is ops' to fix).
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
STORE_TIMEOUT = timedelta(seconds=15)
STORE_DEADLINE = timedelta(hours=1)

NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=20,
)
# Email/SMS to a person: a provider outage is waited out for a few hours, then given up on
# (the in-app notice is already there); the activity itself refuses to send twice.
DELIVERY_TIMEOUT = timedelta(seconds=30)
DELIVERY_DEADLINE = timedelta(hours=6)
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)

# A provider call a person is waiting on over HTTP (send a code, start a check): a few quick
# retries, then the API answers 503 and nothing was done twice.
PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
)
PERSON_WAITING_CALL_TIMEOUT = timedelta(seconds=10)
PERSON_WAITING_DEADLINE = timedelta(seconds=30)
# A provider call nobody waits on (cancel a session, file an adverse action): patient.
BACKGROUND_CALL_TIMEOUT = timedelta(seconds=30)
BACKGROUND_CALL_DEADLINE = timedelta(hours=6)

# Patch: notices also go out by email and SMS (and the notices added with them are sent).
# Histories recorded before it replay without those commands.
NOTICES_BY_EMAIL_AND_SMS = "notices-by-email-and-sms"
# Patch: a chargeback whose webhook arrives before the funding call recorded the charge is
# matched to its milestone by PaymentIntent (before, it was ignored: nothing froze the
# release). Histories recorded before it replay ignoring such a signal, as they did.
CHARGEBACK_BEFORE_FUNDING_RECORDED = "chargeback-before-funding-recorded"
# A lost chargeback marks its milestone LOST only once the ledger has recorded the loss. Marked
# first, the milestone loop saw it settled and projected the contract while the ledger write
# was still in flight, so a read could show "lost" with no loss in the money (make test saw
# it once after projections got faster in issue 9). Histories recorded before replay the old
# order.
LEDGER_BEFORE_CHARGEBACK_LOSS = "ledger-before-chargeback-loss"


def reject(kind: Rejection, message: str, **details: Any) -> NoReturn:
    """Rejects a command; the API turns ``kind`` into the HTTP status (see api/errors.py) and
    ``details`` (e.g. ``retry_after_seconds``, ``missing_steps``) into problem fields."""
    if details:
        raise ApplicationError(message, details, type=kind.value, non_retryable=True)
    raise ApplicationError(message, type=kind.value, non_retryable=True)


async def store(
    fn: Callable[..., Any],
    *args: Any,
    on_hold: Callable[[str], None] | None = None,
    summary: str | None = None,
) -> Any:
    """Runs a Postgres write as a local activity: cheap, idempotent, retried in the worker.

    Commands await their projection before answering, so a read right after a command sees it.
    A write the database refuses for good (a data error: retrying would fail the same way)
    is not retried: the workflow holds here, flagged ``NeedsSupport`` with the reason, until
    support sends the ``retry-store`` signal (after fixing the data or deploying a fix) or a
    day passes. ``on_hold`` hears the reason, so a command waiting on the write can answer.
    ``summary`` is what the Temporal UI's timeline calls the write (by default the
    activity's name in words, e.g. "database: project contract").
    """
    while True:
        try:
            return await workflow.execute_local_activity(
                fn,
                args=list(args),
                start_to_close_timeout=STORE_TIMEOUT,
                schedule_to_close_timeout=STORE_DEADLINE,
                retry_policy=STORE_RETRY,
                summary=summary or f"database: {fn.__name__.replace('_', ' ')}",
            )
        except (ActivityError, ApplicationError) as err:
            # A local activity's failure may arrive bare or wrapped, by SDK version.
            cause = err.cause if isinstance(err, ActivityError) else err
            if not (isinstance(cause, ApplicationError) and cause.type == UNSTORABLE):
                raise
            if on_hold is not None:
                on_hold(cause.message)
            await _hold_for_support(cause.message)


STORE_HOLD_RETRY_EVERY = timedelta(days=1)
RETRY_STORE_SIGNAL = "retry-store"


def _retry_requests() -> list[int]:
    """How many ``retry-store`` signals this run has had, as a one-item box shared by every
    write that is holding (two commands may hold at once; one signal retries them all). The
    handler is registered at the first hold, so the signal exists only where it means
    something; one sent earlier was buffered by Temporal and counts now."""
    instance = workflow.instance()
    box: list[int] | None = getattr(instance, "_store_retry_requests", None)
    if box is None:
        box = [0]
        instance._store_retry_requests = box

        def count(*_: Any) -> None:
            box[0] += 1

        workflow.set_signal_handler(RETRY_STORE_SIGNAL, count)
    return box


async def _hold_for_support(reason: str) -> None:
    flagged_before = workflow.info().typed_search_attributes.get(sa.NEEDS_SUPPORT) or False
    details_before = workflow.get_current_details()
    workflow.logger.error("held for support: could not save to the database: %s", reason)
    workflow.upsert_search_attributes([sa.NEEDS_SUPPORT.value_set(True)])
    workflow.set_current_details(
        f"**Needs support** — the database refused to save this workflow's data: {reason}.\n\n"
        f"Nothing moves until it is saved. Fix the data or deploy a fix, then send the "
        f"`{RETRY_STORE_SIGNAL}` signal (it also retries by itself once a day)."
    )
    requests = _retry_requests()
    seen = requests[0]
    with contextlib.suppress(TimeoutError):
        await workflow.wait_condition(
            lambda: requests[0] > seen,
            timeout=STORE_HOLD_RETRY_EVERY,
            timeout_summary="retry the refused database write",
        )
    workflow.upsert_search_attributes([sa.NEEDS_SUPPORT.value_set(flagged_before)])
    workflow.set_current_details(details_before)


async def notify(fn: Callable[..., Any], notice: Any) -> None:
    await workflow.execute_local_activity(
        fn,
        notice,
        start_to_close_timeout=STORE_TIMEOUT,
        retry_policy=NOTIFY_RETRY,
        summary=f"in-app notice: {notice.subject}",
    )


class Notifier:
    """Tells a person something: the in-app notice is recorded before ``send`` returns; the
    email and the SMS are *started* and tracked, so a command never waits on SendGrid or
    Twilio (and an outage never holds a contract up). Call ``drain`` before the workflow
    ends or continues as new. Every delivery is keyed by ``dedupe_key``: a retry, a replay
    or a crash never sends it twice."""

    def __init__(self) -> None:
        self._in_flight: set[asyncio.Task[Any]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def send(self, user_id: Any, notice: Notice, step_key: str) -> None:
        """``step_key`` names the workflow step; the recipient completes the key, because one
        step may tell both parties (each must get it, once)."""
        dedupe_key = f"{step_key}:to:{user_id}"
        await notify(
            StoreActivities.notify,
            NotificationRequest(
                user_id=user_id,
                kind=notice.kind,
                subject=notice.subject,
                body=notice.body,
                dedupe_key=dedupe_key,
            ),
        )
        if workflow.patched(NOTICES_BY_EMAIL_AND_SMS):
            self.deliver(NoticeDelivery(user_id=user_id, dedupe_key=dedupe_key, notice=notice))

    def deliver(self, delivery: NoticeDelivery) -> None:
        """Email (and a text, when the notice has a text version) without the in-app notice."""
        task = workflow.start_activity_method(
            NoticeActivities.deliver,
            delivery,
            start_to_close_timeout=DELIVERY_TIMEOUT,
            schedule_to_close_timeout=DELIVERY_DEADLINE,
            retry_policy=DELIVERY_RETRY,
            summary=f"notify: {delivery.notice.subject}",
        )
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Given up after DELIVERY_DEADLINE; the in-app notice stands, support sees the
            # delivery row. Nothing to undo.
            workflow.logger.warning("a notification was not delivered: %s", task.exception())

    async def drain(self) -> None:
        await workflow.wait_condition(lambda: not self._in_flight)


def remaining(until: datetime) -> timedelta:
    """Time left until a deadline, never negative (a passed deadline fires at once)."""
    return max(until - workflow.now(), timedelta(0))
