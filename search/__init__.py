"""Search for people and jobs, behind one small interface.

The API depends on :class:`SearchBackend` only. PostgreSQL (search/postgres.py) is the default
and meets the targets of docs/search.md up to 500,000 profiles on one machine; the same
interface is what an OpenSearch backend fed from the projection would implement when a
deployment outgrows it (docs/search.md, "Beyond one machine").
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from models.search import JobHitPage, JobQuery, WorkerPage, WorkerProfilePublic, WorkerQuery


class SearchBackend(Protocol):
    async def workers(self, query: WorkerQuery) -> WorkerPage:
        """Workers with a profile matching the query, one page in the query's sort order."""
        ...

    async def jobs(self, query: JobQuery) -> JobHitPage:
        """Jobs matching the query, one page in the query's sort order."""
        ...

    async def worker(self, user_id: UUID) -> WorkerProfilePublic | None:
        """One worker's public profile; None if they have none."""
        ...
