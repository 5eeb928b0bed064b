"""The restore drill: Tempwork's database is lost and comes back from last night's dump.

Real contracts with real money run through the API, workflows and the Stripe sandbox on a
database of their own (the session's shared one stays untouched). Then the services stop, the
database is dumped with ``ops.backup``, dropped, created empty and restored — and the ledger
balances with the same totals, the API answers every contract and search exactly as before,
and the schema is at Alembic's head.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.search import create_database, migrate
from core.db import create_engine
from ops import backup as ops_backup
from tests.api.helpers import contract_offer, fund, put_profile
from tests.api.test_contracts import connect_payout_account
from tests.conftest import ApiClient, Infra, Person, eventually


async def server_do(database_url: str, sql: str) -> None:
    """A statement on the server itself (CREATE/DROP DATABASE), from its maintenance database."""
    engine = create_async_engine(
        make_url(database_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(sql))
    finally:
        await engine.dispose()


@pytest.fixture
async def drill_database(database_url: str) -> AsyncIterator[str]:
    name = f"drill_{uuid.uuid4().hex[:12]}"
    url = await create_database(database_url, name)
    await asyncio.to_thread(migrate, url)
    try:
        yield url
    finally:
        await server_do(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def tempwork_on(infra: Infra, database_url: str, *, worker: bool) -> AsyncIterator[ApiClient]:
    """The API (and, while the business runs, a worker on a task queue of its own) on the
    drill's database; the Temporal server and the provider sandboxes are the session's."""
    from api.main import create_app
    from sandbox.testing import serve_asgi
    from workers.main import build_worker

    settings = infra.settings.model_copy(
        update={
            "database_url": database_url,
            "temporal_task_queue": f"tempwork-drill-{uuid.uuid4().hex[:8]}",
        }
    )
    engine = create_engine(settings)
    try:
        async with AsyncExitStack() as stack:
            if worker:
                await stack.enter_async_context(build_worker(infra.temporal, settings, engine))
            url = await stack.enter_async_context(serve_asgi(create_app(settings)))
            yield await stack.enter_async_context(ApiClient(url, infra.sandbox_url))
    finally:
        await engine.dispose()


async def contract(person: Person, contract_id: str) -> dict[str, Any]:
    response = await person.get(f"/v1/contracts/{contract_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def completed_contract(http: ApiClient) -> tuple[Person, Person, str]:
    """Two milestones funded, delivered, approved and paid out; both sides review."""
    client, worker, cid = await contract_offer(http, [40_000, 60_000])
    await put_profile(worker)
    await connect_payout_account(http, worker)
    assert (await worker.post(f"/v1/contracts/{cid}/accept")).status_code == 200
    for number in (1, 2):
        assert (await fund(client, cid, number)).status_code == 200
        await worker.post(f"/v1/contracts/{cid}/milestones/{number}/submit", {"note": "done"})
        approved = await client.post(f"/v1/contracts/{cid}/milestones/{number}/approve")
        assert approved.status_code == 200, approved.text
    await eventually(
        lambda: contract(client, cid),
        lambda c: c["stage"] == "completed" and c["money"]["released_cents"] == 90_000,
        timeout=60,
    )
    await client.post(f"/v1/contracts/{cid}/reviews", {"rating": 5, "comment": "Superb"})
    await worker.post(f"/v1/contracts/{cid}/reviews", {"rating": 4, "comment": "Clear brief"})
    await eventually(lambda: contract(client, cid), lambda c: len(c["reviews"]) == 2, timeout=30)
    return client, worker, cid


async def refunded_contract(http: ApiClient) -> tuple[Person, Person, str]:
    """One of two milestones funded, then the client cancels: the escrow goes back."""
    client, worker, cid = await contract_offer(http, [30_000, 20_000])
    assert (await worker.post(f"/v1/contracts/{cid}/accept")).status_code == 200
    assert (await fund(client, cid, 1)).status_code == 200
    cancelled = await client.post(f"/v1/contracts/{cid}/cancel", {"reason": "plans changed"})
    assert cancelled.status_code == 200, cancelled.text
    await eventually(
        lambda: contract(client, cid),
        lambda c: c["stage"] == "cancelled" and c["money"]["refunded_cents"] == 30_000,
        timeout=60,
    )
    return client, worker, cid


async def what_people_see(
    http: ApiClient, contracts: list[tuple[Person, Person, str]]
) -> dict[str, Any]:
    """Every contract as its client and its worker read it, and a search by distance (the
    cube/earthdistance extensions and the generated ranking columns at work)."""
    seen: dict[str, Any] = {}
    for client, worker, cid in contracts:
        for person in (client, worker):
            seen[f"{cid} as {person.user['role']}"] = await contract(person, cid)
    someone = contracts[0][0]
    search = await someone.http.get(
        "/v1/workers",
        params={"near": "37.80,-122.27", "radius_km": 50, "sort": "distance"},
        headers=someone.auth,
    )
    assert search.status_code == 200, search.text
    seen["workers near Oakland"] = search.json()
    return seen


def with_http(people: list[tuple[Person, Person, str]], http: ApiClient) -> None:
    for client, worker, _ in people:
        client.http = worker.http = http


async def test_a_lost_database_comes_back_from_its_dump(
    infra: Infra, drill_database: str, tmp_path: Path
) -> None:
    # The business runs: money is charged, held, paid out and refunded.
    async with tempwork_on(infra, drill_database, worker=True) as http:
        contracts = [await completed_contract(http), await refunded_contract(http)]
        contracts.append(await contract_offer(http, [5_000]))  # an offer nobody answered yet
        before = await what_people_see(http, contracts)
    assert before["workers near Oakland"]["items"], "the drill needs a worker to find"
    with ops_backup.connected(drill_database) as conn:
        ledger_before = ops_backup.ledger_figures(conn)
    assert ledger_before.totals == {
        "usd": {
            "client_payments": -130_000,
            "client_refunds": 30_000,
            "escrow": 0,
            "platform_fees": 10_000,
            "worker_payouts": 90_000,
        }
    }
    # Three fundings, two releases, one refund.
    assert ledger_before.transactions == 6 and ledger_before.balanced

    # Nightly: the dump, and what it holds.
    dump = tmp_path / "tempwork.dump"
    manifest = ops_backup.backup(drill_database, dump)
    assert manifest.ledger["totals"] == ledger_before.totals
    assert manifest.tables["public.contracts"] == 3 and manifest.tables["public.reviews"] == 2

    # The database is lost.
    name = make_url(drill_database).database
    await server_do(drill_database, f'DROP DATABASE "{name}" WITH (FORCE)')
    await server_do(drill_database, f'CREATE DATABASE "{name}"')
    with ops_backup.connected(drill_database) as conn:
        assert ops_backup.user_tables(conn) == [], "the wipe left tables behind"
    with pytest.raises(ops_backup.RestoreCheckFailed, match="no Tempwork schema"):
        ops_backup.verify(drill_database)

    # The restore, checked against the manifest: every table's rows, the ledger's totals.
    report = ops_backup.restore(dump, drill_database)
    assert report.alembic_version == ops_backup.alembic_head()
    assert report.ledger.totals == ledger_before.totals and report.ledger.balanced
    assert report.tables == manifest.tables

    # The API reads exactly what it read before (the same tokens: the users came back too).
    async with tempwork_on(infra, drill_database, worker=False) as http:
        with_http(contracts, http)
        after = await what_people_see(http, contracts)
    assert after == before

    # The ledger's guards came back with it: rows stay append-only.
    with (
        ops_backup.connected(drill_database) as conn,
        pytest.raises(sa.exc.DBAPIError, match="append-only"),
    ):
        conn.execute(sa.text("UPDATE ledger_entries SET amount_cents = amount_cents"))


async def test_a_restore_refuses_a_damaged_dump_and_a_database_in_use(
    drill_database: str, tmp_path: Path
) -> None:
    dump = tmp_path / "tempwork.dump"
    ops_backup.backup(drill_database, dump)
    # Over a database that has tables: refused unless the operator says --clean.
    with pytest.raises(ops_backup.RestoreCheckFailed, match="not empty"):
        ops_backup.restore(dump, drill_database)
    assert ops_backup.restore(dump, drill_database, clean=True).alembic_version is not None
    # A copy that lost a byte on the way is not restored at all.
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    with pytest.raises(ops_backup.RestoreCheckFailed, match="SHA-256"):
        ops_backup.restore(dump, drill_database, clean=True)


async def test_verify_finds_an_unbalanced_ledger(drill_database: str) -> None:
    """What verify reports when the ledger is wrong (written here with the database's own
    guards switched off, as a broken restore or a manual edit would leave it)."""
    engine = create_async_engine(drill_database)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            cid = uuid.uuid4()  # no such contract either: the foreign keys are off too
            await conn.execute(
                sa.text(
                    "INSERT INTO ledger_transactions (key, contract_id, kind, currency)"
                    " VALUES ('broken', :c, 'funding', 'usd')"
                ),
                {"c": cid},
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO ledger_entries (transaction_id, contract_id, account, currency,"
                    " amount_cents) SELECT id, :c, 'escrow', 'usd', -100 FROM ledger_transactions"
                ),
                {"c": cid},
            )
    finally:
        await engine.dispose()
    with pytest.raises(ops_backup.RestoreCheckFailed) as failed:
        ops_backup.verify(drill_database)
    assert failed.value.problems == [
        "1 ledger transactions do not sum to 0",
        "1 contracts have a negative escrow balance",
    ]
