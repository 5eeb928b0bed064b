"""What every workflow shares: named retry policies, timeouts and small helpers.

Deterministic code only: this module is imported inside Temporal's workflow sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.errors import Rejection

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


def reject(kind: Rejection, message: str) -> NoReturn:
    """Rejects a command; the API turns ``kind`` into the HTTP status (see api/errors.py)."""
    raise ApplicationError(message, type=kind.value, non_retryable=True)


async def store(fn: Callable[..., Any], *args: Any) -> Any:
    """Runs a Postgres write as a local activity: cheap, idempotent, retried in the worker.

    Commands await their projection before answering, so a read right after a command sees it.
    """
    return await workflow.execute_local_activity(
        fn,
        args=list(args),
        start_to_close_timeout=STORE_TIMEOUT,
        schedule_to_close_timeout=STORE_DEADLINE,
        retry_policy=STORE_RETRY,
    )


async def notify(fn: Callable[..., Any], notice: Any) -> None:
    await workflow.execute_local_activity(
        fn,
        notice,
        start_to_close_timeout=STORE_TIMEOUT,
        retry_policy=NOTIFY_RETRY,
    )


def remaining(until: datetime) -> timedelta:
    """Time left until a deadline, never negative (a passed deadline fires at once)."""
    return max(until - workflow.now(), timedelta(0))
