"""Keeps what search ranks on current with what the workflows established, off their path.

The workflows' projection writes only queue what changed (``search_queue``, by triggers:
migration 0005): a job posted or closed, a person whose facts may have changed. This loop, in
every worker process, takes the queue in small batches: jobs are (re)indexed into
``job_search`` (``index_jobs``), people's facts recomputed from the source rows
(``refresh_member_facts``: badges, rating, completed contracts, response time and last
activity on the profile; the client's standing on their open jobs). Taking a batch and
applying it is one transaction, so a crash leaves it queued; ``SKIP LOCKED`` lets several
workers share the queue; anything queued again while being applied is applied again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("tempwork.search")

BATCH = 50  # jobs and people per transaction: each person's users row is held until it commits
IDLE_SECONDS = 0.5  # how long a queued fact can wait when the queue was empty

_CLAIM = sa.text(
    """
    DELETE FROM search_queue WHERE (kind, id) IN (
        SELECT kind, id FROM search_queue ORDER BY queued_at LIMIT :batch FOR UPDATE SKIP LOCKED)
    RETURNING kind, id
    """
)
_INDEX_JOBS = sa.text("SELECT index_jobs(CAST(:ids AS uuid[]))")
# In id order, as every other writer of several users rows locks them.
_REFRESH_PEOPLE = sa.text(
    "SELECT count(*) FROM (SELECT refresh_member_facts(person)"
    " FROM unnest(CAST(:ids AS uuid[])) AS person ORDER BY person) AS refreshed"
)


async def refresh_queued(engine: AsyncEngine, batch: int = BATCH) -> int:
    """Indexes up to ``batch`` queued jobs and people (jobs first: a new job then takes its
    client's standing as refreshed in the same transaction); how many it did."""
    async with engine.begin() as conn:
        claimed = (await conn.execute(_CLAIM, {"batch": batch})).all()
        jobs = [row.id for row in claimed if row.kind == "job"]
        people = sorted(row.id for row in claimed if row.kind == "person")
        if jobs:
            await conn.execute(_INDEX_JOBS, {"ids": jobs})
        if people:
            await conn.execute(_REFRESH_PEOPLE, {"ids": people})
        return len(claimed)


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
