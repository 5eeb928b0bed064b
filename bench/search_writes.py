"""What keeping search fresh costs the workflows' projection writes (issue 10: at most +10 %).

Two databases on one PostgreSQL server, filled with the same users and jobs
(``SearchData``, ``rows`` of each): ``before`` migrated to revision 0004 (no search schema)
and ``head`` migrated to the newest revision (0005: worker profiles, the generated search
documents and rank columns, their GIN/GiST/b-tree indexes, the facts triggers, the jobs'
fillfactor). ``head`` also holds a profile for every worker, as it would in production,
so the triggers have profiles to refresh.

The writes are the real ``activities.store.StoreActivities`` methods called directly (no
Temporal), serially, in the order a job's and a contract's workflows make them:

1. ``project_job``: the job inserted (version 1), an application (v2, job + application in
   one transaction), the hire (v3, same), the close as filled (v4);
2. ``project_contract``: offered (v1), active with ``accepted_at`` (v2: the head schema's
   trigger recomputes the worker's response time), completed (v3: and completed count);
3. ``save_review`` by both sides, then ``reveal_reviews`` (head: both people's ratings, the
   worker's profile, the client's open jobs' standing);
4. ``project_verification`` of another person, four times (email, phone, identity,
   background verified): ``verified_steps`` changes each time (head: profile or jobs
   refreshed). Workers and clients alternate.

One difference is unavoidable and is the only one: revision 0004 has no location columns,
and ``project_job`` at head writes them. The ``before`` side therefore runs ``project_job``
exactly as it was before migration 0005 (commit 76fec83: the same statement without
``city``/``latitude``/``longitude``; ``BeforeSearch`` below), and its jobs have no
location. Every other method is the head code on both sides (their SQL did not change).

Sides alternate (before, head, head, before, …) over ``rounds`` after an untimed warm-up
round each; every write is timed on its own. Reported: µs per write by activity and overall
for each side, and the ratio head / before.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.store import StoreActivities, _upsert_newer
from bench.search_data import (
    JOB_COLUMNS,
    USER_COLUMNS,
    Loaded,
    SearchData,
    copy_rows,
    grow_to,
    psycopg_url,
    stable_uuid,
)
from core.db import autocommit
from models.common import Role
from models.contracts import ContractInput, ContractPolicy, ContractStage, MilestoneSpec
from models.jobs import (
    Application,
    ApplicationStatus,
    CloseReason,
    JobLocation,
    JobPostingState,
    JobStatus,
)
from models.store import RevealReviews, ReviewRecord
from models.tables import APPLICATIONS, JOBS
from models.verification import CodeStep, StepStatus, VerificationPolicy, VerificationState
from search.freshness import refresh_queued

POLICY = ContractPolicy(
    platform_fee_bps=1000,
    offer_ttl=timedelta(hours=72),
    funding_deadline=timedelta(days=7),
    auto_release_after=timedelta(days=14),
    approval_reminders=[],
    review_window=timedelta(days=7),
    payout_account_reminder_every=timedelta(days=7),
    payout_account_support_after=timedelta(days=90),
)
# Columns revision 0004 has (users without ratings, jobs without locations).
USER_COLUMNS_0004 = tuple(c for c in USER_COLUMNS if c[0] not in {"rating_count", "rating_sum"})
JOB_COLUMNS_0004 = tuple(c for c in JOB_COLUMNS if c[0] not in {"city", "latitude", "longitude"})


class BeforeSearch(StoreActivities):
    """``project_job`` as it was before migration 0005 (commit 76fec83), for a 0004 schema."""

    async def project_job(self, state: JobPostingState, application_ids: list[str]) -> None:
        job = state.model_dump(
            include={
                "client_id",
                "title",
                "description",
                "skills",
                "budget_cents",
                "currency",
                "positions",
                "on_site",
                "hired_count",
                "status",
                "close_reason",
                "created_at",
                "expires_at",
                "closed_at",
                "version",
            }
        )
        applications = [
            state.applications[a].model_dump(exclude={"application_id"})
            | {"id": state.applications[a].application_id, "version": state.version}
            for a in application_ids
        ]
        async with self._engine.begin() if applications else autocommit(self._engine) as conn:
            await conn.execute(*_upsert_newer(JOBS, job | {"id": state.job_id}, "id"))
            for row in applications:
                await conn.execute(*_upsert_newer(APPLICATIONS, row, "id"))


def _columns(
    row: Sequence[Any], columns: Sequence[tuple[str, str]], keep: Sequence[tuple[str, str]]
) -> tuple[Any, ...]:
    index = {name: i for i, (name, _) in enumerate(columns)}
    return tuple(row[index[name]] for name, _ in keep)


async def fill_before(database_url: str, data: SearchData, rows: int) -> None:
    """The same clients, workers and jobs as ``grow_to`` writes, in revision 0004's columns."""
    async with await psycopg.AsyncConnection.connect(
        psycopg_url(database_url), autocommit=True
    ) as conn:
        users = itertools.chain(
            (data.client_user(i) for i in range(data.clients)),
            (data.worker(i)[0] for i in range(rows)),
        )
        await copy_rows(
            conn,
            "users",
            USER_COLUMNS_0004,
            (_columns(u, USER_COLUMNS, USER_COLUMNS_0004) for u in users),
        )
        await copy_rows(
            conn,
            "jobs",
            JOB_COLUMNS_0004,
            (_columns(j, JOB_COLUMNS, JOB_COLUMNS_0004) for j in data.jobs(0, rows)),
        )
        await conn.execute("VACUUM (ANALYZE)")


@dataclass
class Timings:
    samples: dict[str, list[float]] = field(default_factory=dict)

    async def timed(self, name: str, write: Awaitable[Any]) -> None:
        began = time.perf_counter()
        await write
        self.samples.setdefault(name, []).append(time.perf_counter() - began)

    def micros(self) -> dict[str, float]:
        per = {name: 1e6 * sum(s) / len(s) for name, s in sorted(self.samples.items())}
        every = list(itertools.chain.from_iterable(self.samples.values()))
        per["all"] = 1e6 * sum(every) / len(every)
        return {name: round(us, 1) for name, us in per.items()}


@dataclass(frozen=True)
class Workload:
    """The logical writes of one round, identical on both sides."""

    data: SearchData
    rows: int  # workers and jobs in each database
    per_round: int  # job + contract + reviews + verification sequences per round

    def _job(self, round_: int, k: int, now: datetime) -> JobPostingState:
        template = self.data.job(self.rows + round_ * self.per_round + k)  # not in the tables
        located = template[16] is not None
        return JobPostingState(
            job_id=stable_uuid(self.data.seed, f"write-job-{round_}", k),
            client_id=self.data.client_id((round_ * self.per_round + k) % self.data.clients),
            title=template[2],
            description=template[3],
            skills=template[4],
            budget_cents=template[5],
            currency="usd",
            positions=1,
            on_site=located,
            location=JobLocation(city=template[16], latitude=template[17], longitude=template[18])
            if located
            else None,
            min_verification_level=0,
            created_at=now,
            expires_at=now + timedelta(days=30),
            version=1,
        )

    async def run(self, store: StoreActivities, round_: int, timings: Timings) -> None:
        now = datetime.now(UTC)
        for k in range(self.per_round):
            await self._one(store, round_, k, now, timings)

    async def _one(
        self, store: StoreActivities, round_: int, k: int, now: datetime, t: Timings
    ) -> None:
        seq = round_ * self.per_round + k
        job = self._job(round_, k, now)
        worker_id = self.data.worker_id(seq)
        await t.timed("project_job insert", store.project_job(job, []))
        application = Application(
            application_id=stable_uuid(self.data.seed, f"write-app-{round_}", k),
            job_id=job.job_id,
            worker_id=worker_id,
            cover_letter="I can do this next week.",
            applied_at=now,
            updated_at=now,
        )
        app_key = str(application.application_id)
        job = job.model_copy(update={"applications": {app_key: application}, "version": 2})
        await t.timed("project_job update", store.project_job(job, [app_key]))
        contract_id = stable_uuid(self.data.seed, f"write-contract-{round_}", k)
        hired = application.model_copy(
            update={"status": ApplicationStatus.HIRED, "contract_id": contract_id}
        )
        job = job.model_copy(
            update={"applications": {app_key: hired}, "hired_count": 1, "version": 3}
        )
        await t.timed("project_job update", store.project_job(job, [app_key]))
        contract = (
            ContractInput(
                contract_id=contract_id,
                job_id=job.job_id,
                application_id=application.application_id,
                client_id=job.client_id,
                worker_id=worker_id,
                job_title=job.title,
                currency="usd",
                policy=POLICY,
                offered_at=now,
                milestones=[MilestoneSpec(title="All", amount_cents=job.budget_cents)],
            )
            .initial_state()
            .model_copy(update={"version": 1})
        )
        await t.timed("project_contract", store.project_contract(contract))
        contract = contract.model_copy(
            update={
                "stage": ContractStage.ACTIVE,
                "accepted_at": now + timedelta(minutes=5 + k % 120),
                "version": 2,
            }
        )
        await t.timed("project_contract", store.project_contract(contract))
        job = job.model_copy(
            update={
                "status": JobStatus.CLOSED,
                "close_reason": CloseReason.FILLED,
                "closed_at": now,
                "version": 4,
            }
        )
        await t.timed("project_job update", store.project_job(job, []))
        contract = contract.model_copy(
            update={"stage": ContractStage.COMPLETED, "completed_at": now, "version": 3}
        )
        await t.timed("project_contract", store.project_contract(contract))
        for author, subject, role in (
            (job.client_id, worker_id, Role.CLIENT),
            (worker_id, job.client_id, Role.WORKER),
        ):
            review = ReviewRecord(
                contract_id=contract_id,
                author_id=author,
                subject_id=subject,
                author_role=role,
                rating=5 - k % 3,
                comment="Good to work with.",
                submitted_at=now,
            )
            await t.timed("save_review", store.save_review(review))
        reveal = RevealReviews(contract_id=contract_id, revealed_at=now)
        await t.timed("reveal_reviews", store.reveal_reviews(reveal))
        await self._verification(store, seq, now, t)

    async def _verification(
        self, store: StoreActivities, seq: int, now: datetime, t: Timings
    ) -> None:
        # Other people than the contracts': workers after theirs, clients from the end.
        if seq % 2 == 0:
            user_id, role = self.data.worker_id(self.rows - 1 - seq), Role.WORKER
        else:
            user_id, role = self.data.client_id(self.data.clients - 1 - seq), Role.CLIENT
        state = VerificationState(
            user_id=user_id,
            role=role,
            email_address=f"person{seq}@bench.example",
            display_name="Person",
            policy=VerificationPolicy(),
        )
        verified = CodeStep(status=StepStatus.VERIFIED, verified_at=now)
        steps: list[dict[str, Any]] = [
            {"email": verified},
            {"phone": verified.model_copy(update={"destination": f"+1555{seq:07d}"})},
            {"identity": state.identity.model_copy(update={"status": StepStatus.VERIFIED})},
            {"background": state.background.model_copy(update={"status": StepStatus.VERIFIED})},
        ]
        for version, change in enumerate(steps, start=1):
            state = state.model_copy(update={**change, "version": version})
            await t.timed("project_verification", store.project_verification(state))


async def drain_queue(engine: AsyncEngine) -> dict[str, float]:
    """Applies everything the writes queued (jobs to index, people to refresh), as the
    workers' loop does; items per second."""
    async with engine.connect() as conn:
        queued = int(
            (await conn.execute(sa.text("SELECT count(*) FROM search_queue"))).scalar_one()
        )
    began = time.perf_counter()
    while await refresh_queued(engine):
        pass
    seconds = time.perf_counter() - began
    return {
        "queued": queued,
        "seconds": round(seconds, 2),
        "per_second": round(queued / seconds, 1) if seconds else 0.0,
    }


async def write_cost(
    before_url: str,
    head_url: str,
    data: SearchData,
    *,
    rows: int,
    rounds: int,
    per_round: int,
    make_engine: Callable[[str], AsyncEngine],
    head_filled: bool = False,
) -> dict[str, Any]:
    """Fills both databases (already migrated; ``head_filled``: the head one already holds
    ``grow_to(rows)``'s rows), then alternates the workload on them."""
    began = time.perf_counter()
    await fill_before(before_url, data, rows)
    if not head_filled:
        await grow_to(head_url, data, rows, Loaded())
    filled = time.perf_counter() - began
    workload = Workload(data, rows, per_round)
    engines = {"before": make_engine(before_url), "head": make_engine(head_url)}
    stores: dict[str, StoreActivities] = {
        "before": BeforeSearch(engines["before"]),
        "head": StoreActivities(engines["head"]),
    }
    timings = {side: Timings() for side in stores}
    try:
        for store in stores.values():  # warm-up: connections, statements, caches
            await workload.run(store, 0, Timings())
        for round_ in range(1, rounds + 1):
            order = ("before", "head") if round_ % 2 else ("head", "before")
            for side in order:
                await workload.run(stores[side], round_, timings[side])
        # The writes only queued people whose facts changed; what applying them costs, off
        # the workflows' path (search/freshness.py, in the worker processes).
        freshness = await drain_queue(engines["head"])
    finally:
        for engine in engines.values():
            await engine.dispose()
    micros = {side: t.micros() for side, t in timings.items()}
    return {
        "rows": rows,
        "rounds": rounds,
        "writes_per_round": sum(len(s) for s in timings["head"].samples.values()) // rounds,
        "fill_seconds": round(filled, 1),
        "us_per_write": micros,
        "ratio": {
            name: round(micros["head"][name] / micros["before"][name], 3) for name in micros["head"]
        },
        "freshness": freshness,
        "target": "ratio['all'] <= 1.10",
        "what": "real StoreActivities methods, serial; the 0004 side's project_job is the "
        "pre-0005 code (no location columns); see bench/search_writes.py",
    }
