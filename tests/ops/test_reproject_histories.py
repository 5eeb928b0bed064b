"""``ops reproject`` over whole recorded histories (tests/replay/histories): an empty database
gets back what the workflows wrote, a second pass adds nothing, and rows no workflow accounts
for are named. The Temporal client is a stand-in that lists and returns those histories, so a
full pass (no visibility query) can be run without touching the session's shared namespace."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory

from bench.search import create_database, migrate
from ops import backup as ops_backup
from ops.reproject import reproject

HISTORIES = Path(__file__).parents[1] / "replay" / "histories"
RECORDED = ["job_posting_hired_with_notices", "contract_life_with_notices"]


@dataclass
class Run:
    id: str
    run_id: str
    start_time: datetime
    workflow_type: str
    history: WorkflowHistory
    input: dict[str, Any]
    status: WorkflowExecutionStatus = WorkflowExecutionStatus.COMPLETED


def recorded(name: str) -> Run:
    text = (HISTORIES / f"{name}.json").read_text()
    started = WorkflowHistory.from_json("x", text).events[0]
    attributes = started.workflow_execution_started_event_attributes
    workflow_input = json.loads(attributes.input.payloads[0].data)
    prefix = {"JobPosting": "job", "Contract": "contract"}[attributes.workflow_type.name]
    workflow_id = f"{prefix}-{workflow_input[f'{prefix}_id']}"
    return Run(
        workflow_id,
        str(uuid.uuid4()),
        started.event_time.ToDatetime(tzinfo=UTC),
        attributes.workflow_type.name,
        WorkflowHistory.from_json(workflow_id, text),
        workflow_input,
    )


class RecordedTemporal:
    """The two calls ops.reproject makes of a Temporal client, answered from recordings."""

    def __init__(self, runs: list[Run]) -> None:
        self.runs = runs

    async def list_workflows(self, query: str) -> AsyncIterator[Run]:
        for run in self.runs:
            if f'WorkflowType = "{run.workflow_type}"' in query:
                yield run

    def get_workflow_handle(self, workflow_id: str, *, run_id: str) -> Any:
        (run,) = [r for r in self.runs if (r.id, r.run_id) == (workflow_id, run_id)]

        class Handle:
            async def fetch_history(self) -> WorkflowHistory:
                return run.history

        return Handle()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    url = await create_database(database_url, f"reproject_{uuid.uuid4().hex[:12]}")
    await asyncio.to_thread(migrate, url)
    engine = create_async_engine(url)
    yield engine
    await engine.dispose()


PEOPLE_KEYS = {"client_id", "worker_id", "user_id"}


def people_in(value: Any) -> set[str]:
    """Every person's id anywhere in a history's payloads (inputs, updates, results)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "data" in value and "metadata" in value:  # a payload: base64 of JSON
            try:
                return people_in(json.loads(base64.b64decode(value["data"])))
            except ValueError:
                return found
        for key, item in value.items():
            if key in PEOPLE_KEYS and isinstance(item, str):
                found.add(item)
            found |= people_in(item)
    elif isinstance(value, list):
        for item in value:
            found |= people_in(item)
    return found


async def people_and_the_contracts_job(engine: AsyncEngine, runs: list[Run]) -> None:
    """What the API wrote and a dump would hold: the users, and (recorded in another story)
    the job the contract was hired from."""
    people: set[str] = set()
    for run in runs:
        people |= people_in(json.loads(run.history.to_json()))
    async with engine.begin() as conn:
        for person in people:
            await conn.execute(
                sa.text(
                    "INSERT INTO users (id, email, password_hash, display_name, role)"
                    " VALUES (:id, :email, 'x', 'P', 'client')"
                ),
                {"id": person, "email": f"{person}@example.com"},
            )
        contract = next(r for r in runs if r.workflow_type == "Contract").input
        await conn.execute(
            sa.text(
                "INSERT INTO jobs (id, client_id, title, description, skills, budget_cents,"
                " currency, positions, hired_count, status, created_at, expires_at, version)"
                " VALUES (:job, :client, 'Job', 'Work', '{}', 100000, 'usd', 1, 1, 'filled',"
                " now(), now(), 1)"
            ),
            {"job": contract["job_id"], "client": contract["client_id"]},
        )


async def counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            table: int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())  # noqa: S608
            for table in (
                "jobs",
                "applications",
                "contracts",
                "ledger_transactions",
                "reviews",
                "payout_waiters",
            )
        }


async def test_a_full_pass_rebuilds_what_the_workflows_wrote_and_names_the_rest(
    engine: AsyncEngine,
) -> None:
    runs = [recorded(name) for name in RECORDED]
    temporal = cast(Client, RecordedTemporal(runs))
    await people_and_the_contracts_job(engine, runs)
    contract_id = next(r.input["contract_id"] for r in runs if r.workflow_type == "Contract")

    started = time.monotonic()
    report = await reproject(temporal, engine, types=["JobPosting", "Contract"])
    took = time.monotonic() - started
    assert report.refused == [], report.lines()
    assert report.runs == {"JobPosting": 1, "Contract": 1}
    written = await counts(engine)
    assert written["contracts"] == 1 and written["ledger_transactions"] > 0
    assert written["jobs"] == 2 and written["applications"] >= 1
    assert written["payout_waiters"] == 0, "a closed contract waits for no payout account"
    with ops_backup.connected(engine.url.render_as_string(hide_password=False)) as conn:
        ledger = ops_backup.ledger_figures(conn)
    assert ledger.balanced and ledger.transactions == written["ledger_transactions"]
    async with engine.connect() as conn:
        stage = (
            await conn.execute(
                sa.text("SELECT stage FROM contracts WHERE id = :id"), {"id": contract_id}
            )
        ).scalar_one()
    assert stage == "completed"  # where the recorded contract ended
    assert ledger.totals["usd"]["escrow"] == 0 and ledger.totals["usd"]["worker_payouts"] > 0
    # The stub job came from another recording: no workflow answers for it.
    contract_job = runs[1].input["job_id"]
    assert report.without_workflow == [f"job-{contract_job}"]
    assert not report.clean

    again = await reproject(temporal, engine, types=["JobPosting", "Contract"])
    assert await counts(engine) == written and again.refused == []
    print(f"replayed and repeated {report.writes} writes of 2 runs in {took:.2f}s")
