"""Floors: the same work as a ``make bench`` figure, done by bare Temporal or a bare ASGI app
with none of the product, measured in the same run with the same load generator
(bench/load.py). A figure minus its floor is what the product costs.

* ``lifecycle_floor``: whole contract lifecycles (bench/bare_workflow.py BareLifecycle, the
  product's Temporal shape with no-op bodies), driven update by update by a raw client.
* ``update_floor``: the raw update round trip (validator + handler that returns at once).
* ``post_job_floor``: update-with-start of a posting whose update INSERTs one job row.
* ``read_floor``: GET one contract row over HTTP from bench/bare_app.py.

The Temporal floors need a worker for the bare workflows: ``async with bare_worker(…) as
task_queue`` runs ``python -m bench.bare_worker`` as a separate process (as the product's
worker is separate from its API). ``python -m bench.floors_check`` runs each one small
against a fresh dev stack.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from pathlib import Path

import httpx
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from bench.bare_activities import BareJob
from bench.bare_worker import READY
from bench.bare_workflow import BareLifecycle, BarePosting, BareUpdate
from bench.load import Run, load
from devstack.processes import ManagedProcess

ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def bare_worker(
    temporal_address: str, database_url: str, logs: Path, *, uvloop: bool = False
) -> AsyncIterator[str]:
    """Runs ``bench.bare_worker`` as its own process; yields its task queue (fresh per call,
    so nothing left from an earlier run is picked up). ``uvloop``: match the product's worker
    (workers/main.py runs on uvloop unless TEMPWORK_WORKER_UVLOOP=false)."""
    task_queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
    log_path = logs / f"{task_queue}.log"
    argv = [
        sys.executable,
        "-m",
        "bench.bare_worker",
        "--address",
        temporal_address,
        "--task-queue",
        task_queue,
        "--database-url",
        database_url,
    ]
    process = ManagedProcess(
        "bare-worker",
        argv + (["--uvloop"] if uvloop else []),
        log_path=log_path,
        cwd=ROOT,
        # Polling once it prints READY (the log is this process's alone: a fresh queue name).
        ready=lambda: log_path.exists() and READY in log_path.read_text(errors="replace"),
    )
    # start() blocks while it waits: off the event loop. It stops the process itself if it
    # never gets ready.
    await asyncio.to_thread(process.start, 60)
    try:
        yield task_queue
    finally:
        await asyncio.to_thread(process.stop)


def _job(name: str) -> BareJob:
    """The job a bare posting inserts: sizes like the bench's own POST /v1/jobs body."""
    return BareJob(
        job_id=str(uuid.uuid4()),
        client_id=str(uuid.uuid4()),
        title=f"Bench job {name} react landing page",
        description="benchmark",
        budget_cents=10_000,
        skills=["react"],
    )


async def _post(client: Client, task_queue: str, name: str) -> str:
    """Posts a bare job like POST /v1/jobs: update-with-start, answered after the insert.
    Returns the workflow id."""
    workflow_id = f"bare-posting-{name}"
    start = WithStartWorkflowOperation(
        BarePosting.run,
        _job(name),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    await client.execute_update_with_start_workflow("publish", start_workflow_operation=start)
    return workflow_id


async def close_postings(client: Client, workflow_ids: list[str], concurrency: int = 20) -> None:
    """Closes bare postings (their workflows then complete)."""

    async def close(i: int) -> None:
        await client.get_workflow_handle(workflow_ids[i]).execute_update("close")

    await load(close, len(workflow_ids), concurrency)


async def post_job_floor(
    temporal_address: str, count: int, concurrency: int, *, task_queue: str, close: bool = True
) -> Run:
    """Each op: one BarePosting update-with-start, answered once its row is inserted. The
    postings stay open while measured (like the product's jobs); ``close`` closes them
    afterwards, untimed."""
    client = await Client.connect(temporal_address)
    run_tag = uuid.uuid4().hex[:8]
    posted: list[str] = []

    async def post(i: int) -> None:
        posted.append(await _post(client, task_queue, f"{run_tag}-{i}"))

    try:
        return await load(post, count, concurrency)
    finally:
        if close:
            await close_postings(client, posted)


async def lifecycle_floor(
    temporal_address: str,
    count: int,
    concurrency: int,
    *,
    task_queue: str,
    timed: AbstractContextManager[object] | None = None,
) -> Run:
    """Each op: one whole BareLifecycle, driven like a client drives a contract: apply and
    hire on its posting (hire starts the contract as a child), then accept, fund, submit and
    approve on the contract, one update after another, then its result (released and
    completed). The postings are made first, untimed, as make bench posts its jobs before
    timing lifecycles."""
    client = await Client.connect(temporal_address)
    run_tag = uuid.uuid4().hex[:8]

    async def post(i: int) -> None:
        await _post(client, task_queue, f"{run_tag}-{i}")

    await load(post, count, concurrency)

    async def lifecycle(i: int) -> None:
        # Updates by name, as the API sends the product's.
        job = client.get_workflow_handle(f"bare-posting-{run_tag}-{i}")
        await job.execute_update("apply")
        contract_id = await job.execute_update("hire", f"{run_tag}-{i}", result_type=str)
        contract = client.get_workflow_handle_for(BareLifecycle.run, contract_id)
        for step in ("accept", "fund", "submit", "approve"):
            await contract.execute_update(step)
        await contract.result()

    # ``timed`` wraps the timed part only (make bench counts CPU per lifecycle inside it).
    with timed or nullcontext():
        return await load(lifecycle, count, concurrency)


async def update_floor(
    temporal_address: str,
    count: int,
    concurrency: int,
    *,
    task_queue: str,
    workflows: int | None = None,
) -> Run:
    """Starts ``workflows`` BareUpdate workflows (untimed), sends ``count`` updates spread
    round-robin over them at ``concurrency``, then stops them. By default one workflow per
    lane, so updates in flight seldom share a workflow: in make bench each lifecycle's
    commands go to its own contract."""
    client = await Client.connect(temporal_address)
    run_tag = uuid.uuid4().hex[:8]
    handles = [
        await client.start_workflow(
            BareUpdate.run, id=f"bare-update-{run_tag}-{n}", task_queue=task_queue
        )
        for n in range(workflows or concurrency)
    ]

    async def ping(i: int) -> None:
        await handles[i % len(handles)].execute_update("ping", i)

    try:
        return await load(ping, count, concurrency)
    finally:
        for handle in handles:
            await handle.signal(BareUpdate.stop)


async def read_floor(base_url: str, contract_id: str, count: int, concurrency: int) -> Run:
    """Each op: GET /contracts/{id} from bench/bare_app.py, over one shared client (as the
    product's read figure uses one)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:

        async def read(i: int) -> None:
            (await http.get(f"/contracts/{contract_id}")).raise_for_status()

        return await load(read, count, concurrency)
