"""What every provider webhook shares: each event recorded once (its id), marked processed
only after its news reached the workflow, and a signal that tolerates finished workflows.

Workflow signal handlers are idempotent and order-tolerant, so duplicates, out-of-order
delivery and a webhook that beats the API call that caused it all end in the same state.
Until an event is marked processed, a redelivery (providers retry non-2xx answers) processes
it again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.errors import TempworkError
from core.db import autocommit
from models.tables import WEBHOOK_EVENTS
from models.text import storable

log = logging.getLogger("tempwork.webhooks")

# A counter here, unlike the business figures the worker reads from the tables at scrape time
# (workers/business_metrics.py): a delivery is handled once per request, so nothing retries
# this increment, and "duplicate"/"bad_signature" are facts about requests, not tables.
WEBHOOK_EVENTS_TOTAL = Counter(
    "tempwork_webhook_events_total", "Webhook events received", ["provider", "type", "outcome"]
)


async def first_time(
    engine: AsyncEngine, provider: str, event_id: str, type_: str, payload: Any
) -> bool:
    """Records the event; False if it was already processed (a duplicate delivery)."""
    event_id, type_ = storable(event_id), storable(type_)
    async with engine.begin() as conn:
        await conn.execute(
            insert(WEBHOOK_EVENTS)
            .values(provider=provider, event_id=event_id, type=type_, payload=storable(payload))
            .on_conflict_do_nothing()
        )
        processed = (
            await conn.execute(
                sa.select(WEBHOOK_EVENTS.c.processed_at).where(
                    WEBHOOK_EVENTS.c.provider == provider, WEBHOOK_EVENTS.c.event_id == event_id
                )
            )
        ).scalar()
    return processed is None


async def handle_once(
    engine: AsyncEngine,
    provider: str,
    event_id: str,
    type_: str,
    payload: Any,
    apply: Callable[[AsyncConnection], Awaitable[None]],
) -> bool:
    """Records an event and applies its database effect in one transaction; False for a
    duplicate. (Events whose news must reach a workflow use ``first_time`` / ``signal`` /
    ``mark_processed`` instead: a signal cannot join a database transaction.)"""
    event_id, type_ = storable(event_id), storable(type_)
    async with engine.begin() as conn:
        new = (
            await conn.execute(
                insert(WEBHOOK_EVENTS)
                .values(
                    provider=provider,
                    event_id=event_id,
                    type=type_,
                    payload=storable(payload),
                    processed_at=sa.func.now(),
                )
                .on_conflict_do_nothing()
                .returning(WEBHOOK_EVENTS.c.event_id)
            )
        ).first()
        if new is None:  # seen before; only one recorded but never processed is taken up again
            unfinished = (
                await conn.execute(
                    sa.update(WEBHOOK_EVENTS)
                    .where(
                        WEBHOOK_EVENTS.c.provider == provider,
                        WEBHOOK_EVENTS.c.event_id == event_id,
                        WEBHOOK_EVENTS.c.processed_at.is_(None),
                    )
                    .values(processed_at=sa.func.now())
                    .returning(WEBHOOK_EVENTS.c.event_id)
                )
            ).first()
            if unfinished is None:
                return False
        await apply(conn)
    return True


async def mark_processed(engine: AsyncEngine, provider: str, event_id: str) -> None:
    event_id = storable(event_id)
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(WEBHOOK_EVENTS)
            .where(WEBHOOK_EVENTS.c.provider == provider, WEBHOOK_EVENTS.c.event_id == event_id)
            .values(processed_at=sa.func.now())
        )


async def signal(temporal: Client, workflow_id: str, name: str, arg: Any) -> bool:
    """Tells a workflow; False (and no error) when it does not run — an unknown person or
    session is answered exactly like a known one, so a webhook reveals nothing."""
    try:
        await temporal.get_workflow_handle(workflow_id).signal(name, arg)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            log.info("webhook for %s ignored: workflow not running", workflow_id)
            return False
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise TempworkError("temporal-unavailable") from None  # the provider retries
        raise
    return True


async def owner(engine: AsyncEngine, column: sa.Column[Any], value: str) -> str | None:
    """The user id on the row whose ``column`` holds a provider's object id (an account, an
    identity session, a candidate): how a webhook finds whose workflow to tell."""
    user_id = column.table.c.user_id
    async with autocommit(engine) as conn:
        found = (await conn.execute(sa.select(user_id).where(column == value))).scalar()
    return str(found) if found else None


def bad_signature(provider: str) -> TempworkError:
    WEBHOOK_EVENTS_TOTAL.labels(provider, "unknown", "bad_signature").inc()
    return TempworkError("bad-signature")


def counted(provider: str, type_: str, outcome: str) -> None:
    WEBHOOK_EVENTS_TOTAL.labels(provider, type_, outcome).inc()
