"""The restore drill: Tempwork's database is lost and comes back from last night's dump.

Real contracts with real money run through the API, workflows and the Stripe sandbox on a
database of their own (the session's shared one stays untouched). Then the services stop, the
database is dumped with ``ops.backup``, dropped, created empty and restored — and the ledger
balances with the same totals, the API answers every contract and search exactly as before,
and the schema is at Alembic's head.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
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
from ops.reproject import reproject
from tests.api.helpers import contract_offer, fund, put_profile
from tests.api.test_contracts import connect_payout_account
from tests.conftest import ApiClient, Infra, Person, eventually, placeholder_settings_env


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
async def tempwork_on(
    infra: Infra, database_url: str, task_queue: str, *, worker: bool
) -> AsyncIterator[ApiClient]:
    """The API (and, while the business runs, a worker on the drill's own task queue) on the
    drill's database; the Temporal server and the provider sandboxes are the session's."""
    from api.main import create_app
    from sandbox.testing import serve_asgi
    from workers.main import build_worker

    settings = infra.settings.model_copy(
        update={
            "database_url": database_url,
            "temporal_task_queue": task_queue,
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


def new_task_queue() -> str:
    return f"tempwork-drill-{uuid.uuid4().hex[:8]}"


async def test_a_lost_database_comes_back_from_its_dump(
    infra: Infra, drill_database: str, tmp_path: Path
) -> None:
    queue = new_task_queue()
    # The business runs: money is charged, held, paid out and refunded.
    async with tempwork_on(infra, drill_database, queue, worker=True) as http:
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
    async with tempwork_on(infra, drill_database, queue, worker=False) as http:
        with_http(contracts, http)
        after = await what_people_see(http, contracts)
    assert after == before

    # The ledger's guards came back with it: rows stay append-only.
    with (
        ops_backup.connected(drill_database) as conn,
        pytest.raises(sa.exc.DBAPIError, match="append-only"),
    ):
        conn.execute(sa.text("UPDATE ledger_entries SET amount_cents = amount_cents"))


async def lose_and_restore(database_url: str, dump: Path) -> None:
    name = make_url(database_url).database
    await server_do(database_url, f'DROP DATABASE "{name}" WITH (FORCE)')
    await server_do(database_url, f'CREATE DATABASE "{name}"')
    ops_backup.restore(dump, database_url)


async def test_after_a_restore_the_workflows_bring_the_projection_up_to_date(
    infra: Infra, drill_database: str, tmp_path: Path
) -> None:
    """Last night's dump knows the milestone as funded; since then it was delivered, approved
    and paid out. After the restore ``ops reproject`` replays the workflows' histories and
    repeats their writes: the API shows today again, the payout's ledger entry included."""
    queue = new_task_queue()
    dump = tmp_path / "nightly.dump"
    async with tempwork_on(infra, drill_database, queue, worker=True) as http:
        client, worker, cid = await contract_offer(http, [25_000])
        await connect_payout_account(http, worker)
        await worker.post(f"/v1/contracts/{cid}/accept")
        assert (await fund(client, cid, 1)).status_code == 200
        at_dump = await contract(client, cid)
        # While the business runs, as at night (in a thread: the worker shares this loop).
        dumped = await asyncio.to_thread(ops_backup.backup, drill_database, dump)
        await worker.post(f"/v1/contracts/{cid}/milestones/1/submit", {"note": "done"})
        await client.post(f"/v1/contracts/{cid}/milestones/1/approve")
        today = await eventually(
            lambda: contract(client, cid), lambda c: c["stage"] == "completed", timeout=60
        )
    assert at_dump["milestones"][0]["status"] == "funded"

    await lose_and_restore(drill_database, dump)
    async with tempwork_on(infra, drill_database, queue, worker=True) as http:
        with_http([(client, worker, cid)], http)
        assert await contract(client, cid) == at_dump  # as old as the dump
        engine = create_async_engine(drill_database)
        try:
            # What the runbook runs: only runs open at or after the dump can hold anything the
            # dump lacks (and here only the drill's own, in the session's shared namespace).
            changed = f'ExecutionStatus = "Running" OR CloseTime > "{dumped.created_at}"'
            only_ours = f'TaskQueue = "{queue}" AND ({changed})'
            report = await reproject(infra.temporal, engine, query=only_ours)
            assert report.clean and report.runs["Contract"] == 1, report.lines()
            assert await contract(client, cid) == today

            # Twice is once: nothing older replaces what is there.
            again = await reproject(infra.temporal, engine, query=only_ours)
            assert again.clean and not again.forced and await contract(client, cid) == today

            # Temporal restored to a point older than PostgreSQL leaves rows "from the
            # future" (here: a made-up later version); only --force lets the workflow win.
            async with engine.begin() as conn:
                await conn.execute(
                    sa.text(
                        "UPDATE contracts SET version = version + 100, stage = 'cancelled',"
                        " state = jsonb_set(state, '{stage}', '\"cancelled\"') WHERE id = :id"
                    ),
                    {"id": cid},
                )
            await reproject(infra.temporal, engine, query=only_ours)
            assert (await contract(client, cid))["stage"] == "cancelled"
            forced = await reproject(infra.temporal, engine, query=only_ours, force=True)
            assert forced.forced == [f"contract-{cid}"]
            assert (await contract(client, cid))["stage"] == "completed"
        finally:
            await engine.dispose()

    # The payout after the dump is in the ledger again, once.
    with ops_backup.connected(drill_database) as conn:
        ledger = ops_backup.ledger_figures(conn)
    assert ledger.transactions == 2 and ledger.balanced
    assert ledger.totals == {
        "usd": {
            "client_payments": -25_000,
            "escrow": 0,
            "platform_fees": 2_500,
            "worker_payouts": 22_500,
        }
    }


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


@pytest.mark.parametrize(
    ("module", "commands"),
    [("ops.backup", ["dump", "restore", "verify"]), ("ops.reproject", [])],
)
def test_the_commands_explain_themselves(module: str, commands: list[str]) -> None:
    env = {**os.environ, **placeholder_settings_env()}
    for argv in [["--help"], *([c, "--help"] for c in commands)]:
        done = subprocess.run(
            [sys.executable, "-m", module, *argv], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("usage: ops "), done.stdout
        if argv == ["--help"]:
            assert "deploy/RUNBOOK.md" in done.stdout, "the help points at the procedure"
