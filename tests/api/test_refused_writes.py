"""A write the database refuses for good is not retried for an hour: the workflow holds,
flagged `NeedsSupport` with the reason in plain words, and the poster is told at once.

The refusal here is real: a CHECK constraint added for the test makes PostgreSQL reject this
one job's projection (SQLSTATE 23514), as it would a value it cannot store.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle

from models import search_attributes as attrs
from tests.api.helpers import post_job
from tests.conftest import ApiClient, Infra, eventually, problem, sign_up
from workflows.common import RETRY_STORE_SIGNAL


@pytest.fixture
async def refused_title(infra: Infra) -> AsyncIterator[str]:
    """A title PostgreSQL refuses (only for this test's job), until the fixture lifts it."""
    marker = f"refused{uuid.uuid4().hex[:8]}"
    constraint = f"test_{marker}"
    async with infra.engine.begin() as conn:
        await conn.execute(
            sa.text(
                f"ALTER TABLE jobs ADD CONSTRAINT {constraint} "
                f"CHECK (title NOT LIKE '%{marker}%') NOT VALID"
            )
        )
    try:
        yield marker
    finally:
        await lift(infra, marker)


async def lift(infra: Infra, marker: str) -> None:
    async with infra.engine.begin() as conn:
        await conn.execute(sa.text(f"ALTER TABLE jobs DROP CONSTRAINT IF EXISTS test_{marker}"))


async def job_workflow_of(infra: Infra, client_id: str) -> WorkflowHandle[object, object]:
    query = f"WorkflowType = 'JobPosting' AND ClientId = '{client_id}'"

    async def found() -> list[str]:
        return [w.id async for w in infra.temporal.list_workflows(query)]

    ids = await eventually(found, lambda ids: len(ids) == 1)
    return infra.temporal.get_workflow_handle(ids[0])


async def test_a_job_the_database_refuses_is_held_for_support_not_retried(
    http: ApiClient, infra: Infra, refused_title: str
) -> None:
    client = await sign_up(http, "client")
    body = {
        "title": f"Paint a fence {refused_title}",
        "description": "White.",
        "budget_cents": 9_000,
    }

    # The poster is told at once that it did not work: never a 201 for a job nobody can read.
    response = await client.post("/v1/jobs", body)
    assert problem(response, 500)["type"] == "/problems/not-saved"

    handle = await job_workflow_of(infra, client.id)
    described = await handle.describe()
    assert described.typed_search_attributes.get(attrs.NEEDS_SUPPORT) is True
    # What support reads in the UI's "Current details": why, and what unblocks it.
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "database refused" in metadata.current_details
    assert "check constraint" in metadata.current_details
    assert RETRY_STORE_SIGNAL in metadata.current_details

    # Not retried: the failed write is in the history once, and stays once.
    async def refused_writes() -> int:
        history = await handle.fetch_history()
        return sum(
            1
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            and e.marker_recorded_event_attributes.HasField("failure")
        )

    assert await refused_writes() == 1
    await asyncio.sleep(2)  # a retried write (every 0.2-30 s) would record more, or stall
    assert await refused_writes() == 1
    job_id = handle.id.removeprefix("job-")
    assert (await http.get(f"/v1/jobs/{job_id}")).status_code == 404

    # Support fixes the cause and asks for a retry: the job appears, the flag clears.
    await lift(infra, refused_title)
    await handle.signal(RETRY_STORE_SIGNAL)
    readable = await eventually(
        lambda: http.get(f"/v1/jobs/{job_id}"), lambda r: r.status_code == 200
    )
    assert readable.json()["title"] == body["title"]
    described = await handle.describe()
    assert described.typed_search_attributes.get(attrs.NEEDS_SUPPORT) is False


async def test_a_command_to_a_held_workflow_answers_504_instead_of_hanging(
    http: ApiClient, infra: Infra, refused_title: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The job is saved first (its row predates the constraint: NOT VALID checks new writes
    # only); closing it must write the row again, which is refused, so the workflow holds.
    client = await sign_up(http, "client")
    body = {"title": f"Mow a lawn {refused_title}", "description": "Front.", "budget_cents": 4_000}
    await lift(infra, refused_title)
    job = await post_job(client, **body)
    async with infra.engine.begin() as conn:
        await conn.execute(
            sa.text(
                f"ALTER TABLE jobs ADD CONSTRAINT test_{refused_title} "
                f"CHECK (title NOT LIKE '%{refused_title}%') NOT VALID"
            )
        )
    monkeypatch.setattr("api.errors.COMMAND_DEADLINE_SECONDS", 2.0)
    closing = await client.post(f"/v1/jobs/{job['id']}/close")
    assert problem(closing, 504)["type"] == "/problems/timeout"
    handle = infra.temporal.get_workflow_handle(f"job-{job['id']}")
    described = await handle.describe()
    assert described.typed_search_attributes.get(attrs.NEEDS_SUPPORT) is True
    # Once support lifts the cause, the close the client asked for lands.
    await lift(infra, refused_title)
    await handle.signal(RETRY_STORE_SIGNAL)
    closed = await eventually(
        lambda: http.get(f"/v1/jobs/{job['id']}"), lambda r: r.json()["status"] == "closed"
    )
    assert closed.json()["close_reason"] == "closed_by_client"
