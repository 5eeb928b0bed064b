"""Keeps what search ranks on current with what the workflows established, off their path.

The workflows' projection writes only queue a person whose facts may have changed
(``search_queue``, by triggers: migration 0005). This loop, in every worker process, takes
queued people in small batches and recomputes their facts from the source rows
(``refresh_member_facts``): badges, rating, completed contracts, response time and last
activity on the profile, and the client's standing on their open jobs. Taking the batch and
refreshing it is one transaction, so a crash leaves them queued; ``SKIP LOCKED`` lets several
workers share the queue; a person queued again while being refreshed is refreshed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("tempwork.search")

BATCH = 50  # people per transaction: each holds their users row until it commits
IDLE_SECONDS = 0.5  # how long a queued fact can wait when the queue was empty

# In user id order, as every other writer of several users rows locks them.
_REFRESH = sa.text(
    """
    WITH claimed AS (
        DELETE FROM search_queue WHERE user_id IN (
            SELECT user_id FROM search_queue ORDER BY queued_at LIMIT :batch
            FOR UPDATE SKIP LOCKED)
        RETURNING user_id
    )
    SELECT count(*) FROM (
        SELECT refresh_member_facts(user_id) FROM claimed ORDER BY user_id
    ) AS refreshed
    """
)


async def refresh_queued(engine: AsyncEngine, batch: int = BATCH) -> int:
    """Refreshes up to ``batch`` queued people; how many it did."""
    async with engine.begin() as conn:
        return int((await conn.execute(_REFRESH, {"batch": batch})).scalar_one())


async def keep_fresh(engine: AsyncEngine, stop: asyncio.Event) -> None:
    """Refreshes queued people until ``stop`` is set: at once while the queue is busy, every
    ``IDLE_SECONDS`` when it is empty. A failed round (PostgreSQL restarting) is logged and
    retried at the next tick; nothing leaves the queue without its refresh committing."""
    while not stop.is_set():
        try:
            done = await refresh_queued(engine)
        except Exception:
            log.exception("refreshing search facts failed; retrying")
            done = 0
        if done < BATCH:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), IDLE_SECONDS)
