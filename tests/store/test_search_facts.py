"""What search ranks on stays true to the workflows' writes, on PostgreSQL's own triggers,
and a search that runs too long is stopped with a clear error.

The writes here are the statements the projection activities send (an UPDATE of a user's
verified steps, of reviews' revealed_at, of a contract's stage). They only queue the person;
``refresh_queued`` (what every worker runs in a loop) applies the facts. The end-to-end story
with real workflows is tests/api/test_workers.py."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bench.search import create_database, migrate
from core.db import create_search_engine
from search import SearchTooSlow
from search.freshness import refresh_queued
from search.postgres import _searching
from tests.conftest import sandbox_settings

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> Any:
    """A database of its own on the test server: the API tests' worker runs the refresher
    on the shared one and would drain the queue this test inspects."""
    url = await create_database(database_url, f"facts_{uuid.uuid4().hex[:12]}")
    await asyncio.to_thread(migrate, url)
    engine = create_async_engine(url)
    yield engine
    await engine.dispose()


async def person(conn: AsyncConnection, role: str) -> uuid.UUID:
    uid = uuid.uuid4()
    await conn.execute(
        sa.text(
            "INSERT INTO users (id, email, password_hash, display_name, role) "
            "VALUES (:id, :email, 'x', 'P', :role)"
        ),
        {"id": uid, "email": f"{uid}@example.com", "role": role},
    )
    return uid


async def queued(engine: AsyncEngine) -> set[tuple[str, uuid.UUID]]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT kind, id FROM search_queue"))
        return {(kind, id_) for kind, id_ in rows}


async def refreshed(engine: AsyncEngine) -> None:
    """What the workers' loop does: until the queue is empty."""
    while await refresh_queued(engine):
        pass


async def facts(engine: AsyncEngine, worker: uuid.UUID) -> dict[str, Any]:
    async with engine.connect() as conn:
        row = await conn.execute(
            sa.text(
                "SELECT verified_steps, rating_count, rating_sum, completed_contracts, "
                "response_minutes, (rank_base - epoch_ms(active_at)) / 8640000 AS standing"
                " FROM worker_profiles WHERE user_id = :id"
            ),
            {"id": worker},
        )
        return dict(row.mappings().one())


async def standing_of_jobs(engine: AsyncEngine, client: uuid.UUID) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT s.client_standing FROM job_search s JOIN jobs j ON j.id = s.job_id"
                " WHERE j.client_id = :id ORDER BY j.title"
            ),
            {"id": client},
        )
        return list(rows.scalars())


async def test_profiles_and_jobs_follow_verification_contracts_and_reviews(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        client, worker = await person(conn, "client"), await person(conn, "worker")
        await conn.execute(
            sa.text(
                "INSERT INTO worker_profiles (user_id, headline, bio, skills, hourly_rate_cents,"
                " currency, city, latitude, longitude, service_radius_km, availability)"
                " VALUES (:id, 'Plumber', '', '{plumbing}', 5000, 'usd', 'Oakland', 37.8,"
                " -122.27, 20, 'available')"
            ),
            {"id": worker},
        )
        job_id = uuid.uuid4()
        for title, status, jid in (("a open", "open", job_id), ("b closed", "closed", None)):
            await conn.execute(
                sa.text(
                    "INSERT INTO jobs (id, client_id, title, description, skills, budget_cents,"
                    " currency, positions, hired_count, status, created_at, expires_at, version)"
                    " VALUES (:id, :client, :title, 'd', '{plumbing}', 100, 'usd', 1, 0, :status,"
                    " :now, :now, 1)"
                ),
                {
                    "id": jid or uuid.uuid4(),
                    "client": client,
                    "title": title,
                    "status": status,
                    "now": NOW,
                },
            )
    # A new job is queued; indexed, it carries its client's standing: no reviews (a 4.0
    # prior: 1500), no steps.
    assert ("job", job_id) in await queued(engine)
    assert await standing_of_jobs(engine, client) == []  # not searchable yet
    await refreshed(engine)
    assert await standing_of_jobs(engine, client) == [1500, 1500]
    before = await facts(engine, worker)
    assert before["rating_count"] == 0 and before["completed_contracts"] == 0

    # The Verification workflow's projection: the client's open job rises.
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE users SET verified_steps = '{email,phone}' WHERE id = :id"),
            {"id": client},
        )
        await conn.execute(
            sa.text("UPDATE users SET verified_steps = '{email,phone,identity}' WHERE id = :id"),
            {"id": worker},
        )
    # The write itself only queued them.
    assert await queued(engine) == {("person", client), ("person", worker)}
    assert await standing_of_jobs(engine, client) == [1500, 1500]
    await refreshed(engine)
    assert await queued(engine) == set()
    assert await standing_of_jobs(engine, client) == [2000, 1500]  # closed jobs stay
    assert (await facts(engine, worker))["verified_steps"] == ["email", "phone", "identity"]

    # The Contract workflow's projection: offered, accepted 90 minutes later, completed.
    contract_id = uuid.uuid4()
    state: dict[str, str | None] = {"accepted_at": None}
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO contracts (id, job_id, client_id, worker_id, stage, total_cents,"
                " currency, needs_support, state, created_at, updated_at, version)"
                " VALUES (:id, :job, :client, :worker, 'offered', 100, 'usd', false,"
                " CAST(:state AS jsonb), :now, :now, 1)"
            ),
            {
                "id": contract_id,
                "job": job_id,
                "client": client,
                "worker": worker,
                "state": json.dumps(state),
                "now": NOW,
            },
        )
    for stage in ("active", "active", "completed"):  # a retried write changes nothing more
        state["accepted_at"] = (NOW + timedelta(minutes=90)).isoformat()
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "UPDATE contracts SET stage = :stage, state = CAST(:state AS jsonb)"
                    " WHERE id = :id"
                ),
                {"id": contract_id, "stage": stage, "state": json.dumps(state)},
            )
    await refreshed(engine)
    worked = await facts(engine, worker)
    assert worked["response_minutes"] == 90 and worked["completed_contracts"] == 1

    # Blind reviews revealed (twice: an activity retry), each person rated by the other.
    async with engine.begin() as conn:
        for author, subject, role, rating in (
            (client, worker, "client", 5),
            (worker, client, "worker", 2),
        ):
            await conn.execute(
                sa.text(
                    "INSERT INTO reviews (contract_id, author_id, subject_id, author_role,"
                    " rating, comment, submitted_at) VALUES (:c, :a, :s, :r, :n, 'ok', :now)"
                ),
                {"c": contract_id, "a": author, "s": subject, "r": role, "n": rating, "now": NOW},
            )
    for _ in range(2):
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "UPDATE reviews SET revealed_at = :now WHERE contract_id = :c"
                    " AND revealed_at IS NULL"
                ),
                {"c": contract_id, "now": NOW},
            )
    await refreshed(engine)
    rated = await facts(engine, worker)
    assert (rated["rating_count"], rated["rating_sum"]) == (1, 5)
    # Standing went up by the rating (4.0 → 4.25 Bayesian: +125) and 3 steps (+750); the
    # recency part of rank_base moved too (taking on and finishing work is activity).
    assert rated["standing"] - before["standing"] == 125 + 750
    # The client's 2-star review lowers their open job: (2 + 12) / 4 = 3.5 stars → 1250 + 500.
    assert await standing_of_jobs(engine, client) == [1750, 1500]


async def test_a_search_past_its_time_limit_is_stopped(database_url: str) -> None:
    settings = sandbox_settings(
        "http://127.0.0.1:9", database_url=database_url, search_statement_timeout_ms=100
    )
    engine = create_search_engine(settings)
    try:
        async with _searching(engine) as conn:
            assert (
                await conn.execute(sa.text("SHOW max_parallel_workers_per_gather"))
            ).scalar() == "0"
        with pytest.raises(SearchTooSlow):
            async with _searching(engine) as conn:
                await conn.execute(sa.text("SELECT pg_sleep(2)"))
    finally:
        await engine.dispose()
