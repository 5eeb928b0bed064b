"""Activities for the bare floors (bench/bare_workflow.py): no-ops standing in for the
product's projections, notices and provider calls, and the one real write a bare job posting
makes. Kept out of the workflow module: it imports psycopg, which Temporal's sandbox must not
re-import per run (the workflow module passes it through).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg_pool import AsyncConnectionPool
from temporalio import activity

# Same columns, types, defaults, CHECKs, generated search column and indexes as the product's
# `jobs` (LIKE … INCLUDING ALL copies all but foreign keys), so a bare insert costs Postgres
# what the product's projection insert does. The migrated schema is there: floors run on the
# same database as the product they are the floor of.
CREATE_BENCH_JOBS = "CREATE TABLE IF NOT EXISTS bench_jobs (LIKE jobs INCLUDING ALL)"

INSERT_BENCH_JOB = """
INSERT INTO bench_jobs (id, client_id, title, description, skills, budget_cents, currency,
                        positions, hired_count, status, created_at, expires_at, version)
VALUES (%s, %s, %s, %s, %s, %s, 'usd', 1, 0, 'open', now(), now() + interval '30 days', 1)
"""


@dataclass
class BareJob:
    """What a bare posting inserts: the fields a client sends in POST /v1/jobs."""

    job_id: str
    client_id: str
    title: str
    description: str
    budget_cents: int
    skills: list[str] = field(default_factory=list)


@activity.defn(name="bare.noop")
async def noop(step: str) -> None:
    """Stands in for one product activity (``step`` names which, for reading histories)."""


class PostingActivities:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    @activity.defn(name="bare.insert_job")
    async def insert_job(self, job: BareJob) -> None:
        async with self._pool.connection() as conn:  # commits on leaving
            await conn.execute(
                INSERT_BENCH_JOB,
                (
                    job.job_id,
                    job.client_id,
                    job.title,
                    job.description,
                    job.skills,
                    job.budget_cents,
                ),
            )
