"""Open workflows: many JobPosting workflows open at once on one worker (issue 9, part 5).

Starts ``count`` JobPosting workflows the way ``POST /v1/jobs`` does (update-with-start
``publish`` with the inputs the API builds, so each job is published and its projection row
written), straight through a Temporal client at bounded concurrency — not over HTTP, which
``make bench`` measures elsewhere. Between blocks it samples the resident memory (VmRSS) of the
worker process and of the Temporal dev server. With all of them open it checks visibility
(all Running) and Postgres (all open), then closes every job with the update the API's close
endpoint sends, and checks again (all Completed, all closed). Finally it reads workflow
histories (all of them by default) for workflow task timeouts and failures.

The worker's sticky cache is bounded (``max_cached_workflows``): its RSS grows until the cache
is full, then per open workflow only by what lives outside the cache. The slope is fitted by
least squares over the samples taken with at least twice as many workflows open as the cache
holds, and extrapolated to 100,000 open workflows (the Temporal server's likewise; the dev
server keeps every history in memory, closed ones too, so its slope is per workflow started).

    python -m bench.open_workflows --count 20000     (exit status 1 unless all checks hold)

On the 2-core dev machine (shared with other work) 20,000 took 22-24 minutes: about 30
starts/s and 33 closes/s, each costing ~20 ms of worker CPU and ~20 ms of server CPU (12-13 ms
each when the machine is otherwise idle), so the worker and the dev server together keep the
two cores busy. 4,000 took six minutes with the machine loaded (load average 7), and give only
two samples beyond the cache to fit.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType, TimeoutType, WorkflowTaskFailedCause
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

import workers.main
from api.routes.jobs import posting_start
from core.db import create_engine
from core.settings import Settings
from devstack.stack import Ports, Stack, new_secrets
from models.common import Actor, Role
from models.jobs import (
    CloseJob,
    CloseReason,
    JobCreate,
    JobPostingState,
    JobStatus,
)
from models.tables import JOBS
from workflows.job_posting import job_workflow_id

EXTRAPOLATE_TO = 100_000
MIB = 1024 * 1024


# --- resident memory -----------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """Direct and indirect children of ``pid`` (a wrapper's real server, if it has one)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid …": comm may hold spaces and parentheses.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss_bytes(pid: int) -> int:
    """VmRSS of the process and its children, in bytes."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of the process, its live children, and its reaped children."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After "(comm)": state=0 … utime=11 stime=12 cutime=13 cstime=14.
        total += int(fields[11]) + int(fields[12])
        if p == pid:
            total += int(fields[13]) + int(fields[14])
    return total / CLOCK_TICKS


@dataclass
class Sample:
    phase: str
    open: int  # JobPosting workflows open when sampled
    worker_rss: int
    server_rss: int
    at_s: float  # seconds since the first sample


def fit(points: Sequence[tuple[float, float]]) -> tuple[float, float, float]:
    """Least squares y = a + b·x: (a, b, r²)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    slope = sxy / sxx
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in points)
    return intercept, slope, 1 - ss_res / ss_tot if ss_tot else 1.0


# --- the worker's options, read from the code that builds it -------------------------------


def worker_options(client: Client, settings: Settings) -> dict[str, object]:
    """The options ``workers.main.build_worker`` gives the SDK's Worker, with the SDK's
    defaults for those it leaves out (the real worker process runs the same function)."""
    engine = create_engine(settings)
    with mock.patch.object(workers.main, "Worker") as fake:
        workers.main.build_worker(client, settings, engine)
    given = fake.call_args.kwargs
    defaults = inspect.signature(Worker.__init__).parameters
    names = (
        "max_cached_workflows",
        "max_concurrent_workflow_tasks",
        "max_concurrent_local_activities",
        "sticky_queue_schedule_to_start_timeout",
    )
    options: dict[str, object] = {}
    for name in names:
        value = given.get(name, defaults[name].default)
        if name == "max_concurrent_workflow_tasks" and value is None and "tuner" not in given:
            value = "SDK default (100 slots)"
        options[name] = str(value) if not isinstance(value, int | str) else value
    return options


# --- the bench -----------------------------------------------------------------------------


def app_settings(stack: Stack) -> Settings:
    """The settings the API and worker processes of ``stack`` run with."""
    values = {k.removeprefix("TEMPWORK_").lower(): v for k, v in stack.env().items()}
    return Settings.model_validate(values)


async def register_client(stack: Stack) -> uuid.UUID:
    """One client account (through the API, once: the jobs' rows reference it)."""
    email = f"open-workflows-{uuid.uuid4().hex[:10]}@bench.example"
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http:
        r = await http.post(
            "/v1/auth/register",
            json={
                "email": email,
                "password": "bench password 123",
                "display_name": "Open workflows bench",
                "role": "client",
            },
        )
        r.raise_for_status()
        return uuid.UUID(r.json()["id"])


def start_operation(
    settings: Settings, client_id: uuid.UUID, i: int
) -> tuple[uuid.UUID, WithStartWorkflowOperation[Any, Any]]:
    """What ``POST /v1/jobs`` (api/routes/jobs.py) builds for a job without idempotency key."""
    job_id = uuid.uuid4()
    body = JobCreate(
        title=f"Open bench job {i} react landing page",
        description="A job kept open by the open-workflows benchmark.",
        skills=["react"],
        budget_cents=10_000 + i,
    )
    return job_id, posting_start(settings, job_id, client_id, "bench", body)


@dataclass
class Phase:
    """Timings of one kind of operation (starts or closes), per block and overall."""

    name: str
    done: int = 0
    failed: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    blocks: list[dict[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # CPU seconds each process spent during the phase.
    cpu: dict[str, float] = field(default_factory=dict)

    def per(self, size: int) -> list[dict[str, float]]:
        """The blocks' rates merged into consecutive groups of ``size`` operations."""
        groups: dict[int, list[dict[str, float]]] = {}
        for b in self.blocks:
            groups.setdefault(int(b["through"] - 1) // size, []).append(b)
        merged = []
        for blocks in groups.values():
            ops, seconds = sum(b["ops"] for b in blocks), sum(b["seconds"] for b in blocks)
            merged.append(
                {
                    "through": blocks[-1]["through"],
                    "per_s": round(ops / seconds, 1) if seconds else 0.0,
                }
            )
        return merged

    def summary(self) -> dict[str, object]:
        return {
            "ok": self.done,
            "failed": self.failed,
            "seconds": round(self.seconds, 1),
            "per_s": round(self.done / self.seconds, 1) if self.seconds else 0.0,
            "latency_ms": _percentiles([x * 1000 for x in self.latencies]),
            "blocks": self.blocks,
            "per_5000": self.per(5000),
            "first_errors": self.errors,
            "cpu": {
                who: {
                    "seconds": round(sec, 1),
                    "cores": round(sec / self.seconds, 2) if self.seconds else 0.0,
                    "ms_per_op": round(sec * 1000 / self.done, 2) if self.done else 0.0,
                }
                for who, sec in self.cpu.items()
            },
        }


async def run_blocks(
    phase: Phase,
    items: Sequence[Any],
    op: Callable[[int, Any], Awaitable[None]],
    *,
    concurrency: int,
    block: int,
    after_block: Callable[[int], Awaitable[None]],
    cpu: Callable[[], dict[str, float]],
    progress: Callable[[str], None],
) -> None:
    """Runs ``op`` over ``items`` block by block (``concurrency`` in flight), calling
    ``after_block`` with the number done once each block has finished."""
    for first in range(0, len(items), block):
        chunk = list(enumerate(items[first : first + block], start=first))
        began, cpu_before = time.perf_counter(), cpu()

        async def lane(queue: Iterator[tuple[int, Any]]) -> None:
            for i, item in queue:
                t0 = time.perf_counter()
                try:
                    await op(i, item)
                except Exception as err:
                    phase.failed += 1
                    if len(phase.errors) < 5:
                        phase.errors.append(f"#{i}: {type(err).__name__}: {err}")
                    continue
                phase.latencies.append(time.perf_counter() - t0)
                phase.done += 1

        shared = iter(chunk)  # the lanes take the next item from one iterator
        await asyncio.gather(*(lane(shared) for _ in range(concurrency)))
        took = time.perf_counter() - began
        spent = {who: sec - cpu_before[who] for who, sec in cpu().items()}
        for who, sec in spent.items():
            phase.cpu[who] = phase.cpu.get(who, 0.0) + sec
        phase.seconds += took
        phase.blocks.append(
            {
                "through": first + len(chunk),
                "ops": len(chunk),
                "seconds": round(took, 2),
                "per_s": round(len(chunk) / took, 1),
                # CPU ms per operation of the worker and the server in this block.
                "worker_cpu_ms": round(spent["worker"] * 1000 / len(chunk), 1),
                "server_cpu_ms": round(spent["server"] * 1000 / len(chunk), 1),
            }
        )
        progress(
            f"  {phase.name}: {first + len(chunk):6d}/{len(items)}  "
            f"{len(chunk) / took:6.1f}/s  CPU ms/op worker {spent['worker'] * 1000 / len(chunk):.1f}"
            f" server {spent['server'] * 1000 / len(chunk):.1f}  (failed so far {phase.failed})"
        )
        await after_block(first + len(chunk))


async def count_until(client: Client, query: str, want: int, timeout: float = 60.0) -> int:
    """Visibility is eventually consistent: counts until it shows ``want`` or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        seen = (await client.count_workflows(query)).count
        if seen == want or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.5)


async def projection_counts(engine: AsyncEngine, client_id: uuid.UUID) -> dict[str, int]:
    query = (
        sa.select(JOBS.c.status, JOBS.c.close_reason, sa.func.count())
        .where(JOBS.c.client_id == client_id)
        .group_by(JOBS.c.status, JOBS.c.close_reason)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {f"{status}" + (f"/{reason}" if reason else ""): n for status, reason, n in rows}


@dataclass
class HistoryScan:
    """Reads whole workflow histories: counts workflow task timeouts (by kind) and failures,
    and how long the histories are. Also times each workflow task: how long it waited in its
    task queue for the worker (scheduled → started) and how long the worker took (started →
    completed), for the first task (the publish) and for later ones."""

    client: Client
    concurrency: int
    t0_epoch: float  # problems are reported in seconds since this moment
    seconds: float = 0.0
    problems: Counter[str] = field(default_factory=Counter)
    lengths: Counter[int] = field(default_factory=Counter)
    affected: list[dict[str, object]] = field(default_factory=list)
    example: list[str] = field(default_factory=list)
    waits: dict[str, list[float]] = field(default_factory=lambda: {"first": [], "later": []})
    works: dict[str, list[float]] = field(default_factory=lambda: {"first": [], "later": []})

    async def read(self, workflow_ids: Sequence[str]) -> None:
        todo = iter(workflow_ids)

        async def lane() -> None:
            for wid in todo:
                self._check(
                    wid, (await self.client.get_workflow_handle(wid).fetch_history()).events
                )

        began = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(self.concurrency)))
        self.seconds += time.perf_counter() - began

    def _check(self, wid: str, events: Sequence[Any]) -> None:
        self.lengths[len(events)] += 1
        if not self.example:
            self.example.extend(
                EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events
            )
        found: list[str] = []
        times: dict[int, float] = {}
        tasks = 0
        for event in events:
            times[event.event_id] = at = event.event_time.ToMicroseconds() / 1e6
            which = "first" if tasks == 0 else "later"
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                scheduled = event.workflow_task_started_event_attributes.scheduled_event_id
                self.waits[which].append((at - times[scheduled]) * 1000)
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                started = event.workflow_task_completed_event_attributes.started_event_id
                self.works[which].append((at - times[started]) * 1000)
                tasks += 1
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                timed_out = event.workflow_task_timed_out_event_attributes
                kind = TimeoutType.Name(timed_out.timeout_type).removeprefix("TIMEOUT_TYPE_")
                self.problems[f"WorkflowTaskTimedOut/{kind}"] += 1
                scheduled_at = times[timed_out.scheduled_event_id]
                taken = (
                    f"started {times[timed_out.started_event_id] - scheduled_at:.1f} s after "
                    f"it was scheduled, timed out {at - scheduled_at:.1f} s after"
                    if timed_out.started_event_id in times
                    else f"never started, timed out {at - scheduled_at:.1f} s after scheduled"
                )
                found.append(
                    f"event {event.event_id} at {at - self.t0_epoch:.1f} s "
                    f"({datetime.fromtimestamp(at, UTC):%H:%M:%S.%f} UTC): {which} task timed "
                    f"out ({kind}), {taken}"
                )
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                failed = event.workflow_task_failed_event_attributes
                cause = WorkflowTaskFailedCause.Name(failed.cause).removeprefix(
                    "WORKFLOW_TASK_FAILED_CAUSE_"
                )
                self.problems[f"WorkflowTaskFailed/{cause}"] += 1
                found.append(
                    f"event {event.event_id} at {at - self.t0_epoch:.1f} s "
                    f"({datetime.fromtimestamp(at, UTC):%H:%M:%S.%f} UTC): {which} task failed "
                    f"({cause}): {failed.failure.message[:400]}"
                )
        if found and len(self.affected) < 10:
            self.affected.append({"workflow_id": wid, "events": found})

    def result(self) -> dict[str, object]:
        problems = self.problems
        return {
            "histories_read": sum(self.lengths.values()),
            "seconds": round(self.seconds, 1),
            "workflow_task_timeouts": sum(
                n for k, n in problems.items() if k.startswith("WorkflowTaskTimedOut")
            ),
            "workflow_task_failures": sum(
                n for k, n in problems.items() if k.startswith("WorkflowTaskFailed")
            ),
            "problems_by_kind": dict(problems),
            "affected_examples": self.affected,
            "history_lengths": {str(k): v for k, v in sorted(self.lengths.items())},
            "example_history": self.example,
            "workflow_task_ms": {
                f"{which}_{what}": _percentiles(samples[which])
                for what, samples in (("queued", self.waits), ("worker", self.works))
                for which in ("first", "later")
            },
        }


async def check_histories(
    client: Client,
    workflow_ids: Sequence[str],
    query: str,
    *,
    sample: int | None,
    concurrency: int,
    t0_epoch: float,
    progress: Callable[[str], None],
) -> dict[str, object]:
    """Workflow task timeouts and failures in every workflow of ``workflow_ids`` (all closed).

    ``sample=None`` reads every history. Otherwise it reads a random sample, then every
    history whose length (visibility's HistoryLength) differs from the sample's shortest: a
    job opened and closed has a fixed set of events besides its workflow tasks, so a history
    that had a task time out or fail (three or more events for the retried task) is longer
    than the shortest clean one, and the ones of that length are counted, not read."""
    scan = HistoryScan(client, concurrency, t0_epoch)
    if sample is None or sample >= len(workflow_ids):
        progress(f"reading all {len(workflow_ids)} histories for workflow task problems")
        await scan.read(workflow_ids)
        result = scan.result()
        result["coverage"] = f"all {len(workflow_ids)} histories read"
        return result
    chosen = random.sample(list(workflow_ids), sample)
    progress(f"reading {sample} random histories for workflow task problems")
    await scan.read(chosen)
    shortest = min(scan.lengths)
    read = set(chosen)
    longer = [
        w.id
        async for w in client.list_workflows(f"{query} AND HistoryLength != {shortest}")
        if w.id not in read
    ]
    progress(f"reading the {len(longer)} other histories longer than {shortest} events")
    await scan.read(longer)
    same = (await client.count_workflows(f"{query} AND HistoryLength = {shortest}")).count
    result = scan.result()
    result["coverage"] = (
        f"{sample} random histories read, plus all {len(longer)} others not {shortest} events "
        f"long; {same} of {shortest} events (the shortest clean length) counted by visibility"
    )
    # Distinct workflows checked: those read, and those of the shortest length not read.
    result["covered"] = len(read) + len(longer) + same - scan.lengths[shortest]
    return result


def _percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99/max of ``samples`` (milliseconds), and how many there are."""
    ordered = sorted(samples)
    if not ordered:
        return {"n": 0}

    def at(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)

    return {"n": len(ordered), "p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": at(1.0)}


def log_summary(logs: Path) -> dict[str, object]:
    """What the worker and the Temporal server logged above INFO: counts, and the first few
    errors (the server warns of every gRPC call slower than 5 s)."""
    summary: dict[str, object] = {}
    for name in ("worker", "temporal"):
        try:
            lines = (logs / f"{name}.log").read_text(errors="replace").splitlines()
        except OSError:
            continue
        errors = [ln for ln in lines if re.search(r"\bERROR\b", ln)]
        warnings = [ln for ln in lines if re.search(r"\bWARN(ING)?\b", ln)]
        summary[name] = {
            "errors": len(errors),
            "warnings": len(warnings),
            "slow_grpc_calls": sum("Slow gRPC call" in ln for ln in warnings),
            "first_errors": [ln[:300] for ln in errors[:5]],
        }
    return summary


async def open_workflows(
    count: int = 20_000,
    *,
    concurrency: int = 64,
    block: int = 2_500,
    scan: int | None = None,
    keep_logs: Path | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, object]:
    """Starts its own stack (throwaway data, free ports), measures, stops it; returns the
    figures. ``scan``: None reads every history for workflow task problems, N a random N plus
    every history longer than the shortest (see ``check_histories``);
    ``keep_logs``: a directory to copy the processes' logs to before the data is removed."""
    wall, load_before = time.perf_counter(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tempwork-open-workflows-") as tmp:
        stack = Stack(Path(tmp), Ports.free(), new_secrets(), durable=False)
        stack.start()
        try:
            stack_s = time.perf_counter() - wall
            progress(f"stack started in {stack_s:.1f} s")
            result = await _measure(stack, count, concurrency, block, scan, progress)
            result["logs"] = log_summary(Path(tmp) / "logs")
        finally:
            stack.stop()
            if keep_logs is not None:
                shutil.copytree(Path(tmp) / "logs", keep_logs, dirs_exist_ok=True)
    result["machine"] = {
        "cpus": os.cpu_count(),
        # Anything else running on the machine shows here (the stack's processes count too).
        "loadavg_1_5_15_before": [round(x, 2) for x in load_before],
        "loadavg_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
    }
    result["stack_start_s"] = round(stack_s, 1)
    result["wall_s"] = round(time.perf_counter() - wall, 1)
    return result


async def _measure(
    stack: Stack,
    count: int,
    concurrency: int,
    block: int,
    scan: int | None,
    progress: Callable[[str], None],
) -> dict[str, object]:
    settings = app_settings(stack)
    client = await Client.connect(
        stack.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
    engine = create_engine(settings)
    try:
        return await _run(
            stack, settings, client, engine, count, concurrency, block, scan, progress
        )
    finally:
        await engine.dispose()


async def _run(
    stack: Stack,
    settings: Settings,
    client: Client,
    engine: AsyncEngine,
    count: int,
    concurrency: int,
    block: int,
    scan: int | None,
    progress: Callable[[str], None],
) -> dict[str, object]:
    options = worker_options(client, settings)
    cache = options["max_cached_workflows"]
    assert isinstance(cache, int)
    worker_pid, server_pid = stack.processes["worker"].pid, stack.processes["temporal"].pid
    assert worker_pid is not None and server_pid is not None
    client_id = await register_client(stack)
    actor = Actor(user_id=client_id, role=Role.CLIENT)
    jobs_query = 'WorkflowType="JobPosting"'

    samples: list[Sample] = []
    t0, t0_epoch = time.perf_counter(), time.time()

    def sample(phase: str, open_now: int) -> None:
        s = Sample(phase, open_now, rss_bytes(worker_pid), rss_bytes(server_pid), 0.0)
        s.at_s = round(time.perf_counter() - t0, 1)
        samples.append(s)

    # Let the worker finish starting (it has no readiness check) before the baseline.
    await client.count_workflows(jobs_query)
    await asyncio.sleep(2)
    sample("idle", 0)
    progress(f"worker sticky cache: max_cached_workflows={cache}; {count} jobs to open")

    postgres = stack.postgres.process.pid if stack.postgres and stack.postgres.process else None
    assert postgres is not None
    api_pid = stack.processes["api"].pid
    assert api_pid is not None

    def cpu() -> dict[str, float]:
        mine = os.times()
        return {
            "worker": cpu_seconds(worker_pid),
            "server": cpu_seconds(server_pid),
            "postgres": cpu_seconds(postgres),
            "api": cpu_seconds(api_pid),
            "bench": mine.user + mine.system,  # this process: the client side
        }

    workflow_ids: list[str] = []

    async def start(i: int, _: None) -> None:
        job_id, op = start_operation(settings, client_id, i)
        state = await client.execute_update_with_start_workflow(
            "publish", start_workflow_operation=op, result_type=JobPostingState
        )
        if state.status is not JobStatus.OPEN or state.version < 1:
            raise RuntimeError(f"job {job_id} answered {state.status} v{state.version}")
        workflow_ids.append(job_workflow_id(job_id))

    async def after_start(done: int) -> None:
        await asyncio.sleep(0.5)
        sample("open", done)

    starts = Phase("start")
    await run_blocks(
        starts,
        [None] * count,
        start,
        concurrency=concurrency,
        block=block,
        after_block=after_start,
        cpu=cpu,
        progress=progress,
    )
    # The same workflows a few seconds later (no new work): what stays resident.
    await asyncio.sleep(5)
    sample("open+5s", len(workflow_ids))
    opened = len(workflow_ids)
    running = await count_until(client, f'{jobs_query} AND ExecutionStatus="Running"', opened)
    open_rows = await projection_counts(engine, client_id)
    progress(f"visibility: {running} Running; projection: {open_rows}")

    async def close(_: int, wid: str) -> None:
        state = await client.get_workflow_handle(wid).execute_update(
            "close", CloseJob(actor=actor), result_type=JobPostingState
        )
        if state.status is not JobStatus.CLOSED:
            raise RuntimeError(f"{wid} answered {state.status}")

    async def after_close(done: int) -> None:
        await asyncio.sleep(0.5)
        sample("closing", opened - done)

    closes = Phase("close")
    await run_blocks(
        closes,
        list(workflow_ids),
        close,
        concurrency=concurrency,
        block=block,
        after_block=after_close,
        cpu=cpu,
        progress=progress,
    )
    await asyncio.sleep(5)
    sample("closed+5s", opened - closes.done)
    completed = await count_until(
        client, f'{jobs_query} AND ExecutionStatus="Completed"', closes.done
    )
    still_running = (
        await client.count_workflows(f'{jobs_query} AND ExecutionStatus="Running"')
    ).count
    other = (
        await client.count_workflows(
            f'{jobs_query} AND ExecutionStatus!="Running" AND ExecutionStatus!="Completed"'
        )
    ).count
    closed_rows = await projection_counts(engine, client_id)
    progress(f"visibility: {completed} Completed, {still_running} Running; {closed_rows}")

    histories = await check_histories(
        client,
        workflow_ids,
        jobs_query,
        sample=scan,
        concurrency=concurrency,
        t0_epoch=t0_epoch,
        progress=progress,
    )

    # RSS slope beyond the sticky cache: the samples with at least twice as many open as it
    # holds (just past it the worker still grows while evictions begin; measured: flat by twice).
    beyond = [s for s in samples if s.phase == "open" and s.open >= 2 * cache]
    slopes: dict[str, object] = {"fitted_over_open": [s.open for s in beyond]}
    if len(beyond) >= 2:
        for who in ("worker", "server"):
            a, b, r2 = fit([(s.open, getattr(s, f"{who}_rss")) for s in beyond])
            slopes[who] = {
                "bytes_per_open_workflow": round(b),
                "r2": round(r2, 4),
                "intercept_mib": round(a / MIB, 1),
                f"rss_at_{EXTRAPOLATE_TO}_mib": round((a + b * EXTRAPOLATE_TO) / MIB),
            }
        # What the full cache itself holds: the fitted line at 0 open, less the idle worker.
        idle = samples[0].worker_rss
        a, _, _ = fit([(s.open, s.worker_rss) for s in beyond])
        slopes["worker_full_cache_mib"] = round((a - idle) / MIB, 1)
        slopes["worker_bytes_per_cached_workflow"] = round((a - idle) / cache)

    closed_ok = closed_rows.get(f"{JobStatus.CLOSED}/{CloseReason.BY_CLIENT}", 0)
    return {
        "count": count,
        "concurrency": concurrency,
        "block": block,
        "worker_options": options,
        "started": starts.summary(),
        "closed": closes.summary(),
        "visibility": {
            "running_after_starts": running,
            "completed_after_closes": completed,
            "running_after_closes": still_running,
            "other_status_after_closes": other,
        },
        "projection": {"after_starts": open_rows, "after_closes": closed_rows},
        "histories": histories,
        "rss": [asdict(s) for s in samples],
        "slopes": slopes,
        "all_good": (
            starts.failed == 0
            and closes.failed == 0
            and opened == count
            and running == count
            and open_rows == {str(JobStatus.OPEN): count}
            and completed == count
            and still_running == 0
            and other == 0
            and closed_ok == count
            and histories["workflow_task_timeouts"] == 0
            and histories["workflow_task_failures"] == 0
        ),
    }


# --- output --------------------------------------------------------------------------------


def table(result: dict[str, Any]) -> str:
    def mib(n: int) -> str:
        return f"{n / MIB:8.1f}"

    started, closed = result["started"], result["closed"]
    vis, hist = result["visibility"], result["histories"]
    lines = [
        f"Open workflows: {result['count']} JobPosting workflows on one worker "
        f"(concurrency {result['concurrency']}, blocks of {result['block']})",
        f"worker options: {result['worker_options']}",
        "",
        f"{'phase':<10} {'ok':>7} {'failed':>6} {'seconds':>8} {'per s':>7}  latency p50/p95/p99/max ms",
    ]
    for name, p in (("start", started), ("close", closed)):
        lat = p["latency_ms"]
        lines.append(
            f"{name:<10} {p['ok']:7d} {p['failed']:6d} {p['seconds']:8.1f} {p['per_s']:7.1f}  "
            f"{lat['p50']}/{lat['p95']}/{lat['p99']}/{lat['max']}"
        )
        lines.append(
            "           per block: "
            + ", ".join(f"…{b['through']}: {b['per_s']}/s" for b in p["blocks"])
        )
        lines.append(
            "           per 5,000: "
            + ", ".join(f"…{b['through']}: {b['per_s']}/s" for b in p["per_5000"])
        )
        lines.append(
            "           CPU cores busy (ms per op): "
            + ", ".join(f"{who} {c['cores']:.2f} ({c['ms_per_op']})" for who, c in p["cpu"].items())
        )
        for err in p["first_errors"]:
            lines.append(f"           error {err}")
    lines += [
        "",
        f"{'sample':<10} {'open':>7} {'at s':>7} {'worker MiB':>11} {'server MiB':>11}",
    ]
    for s in result["rss"]:
        lines.append(
            f"{s['phase']:<10} {s['open']:7d} {s['at_s']:7.1f} {mib(s['worker_rss']):>11} "
            f"{mib(s['server_rss']):>11}"
        )
    slopes = result["slopes"]
    lines.append("")
    lines.append(
        f"RSS slope beyond the sticky cache ({result['worker_options']['max_cached_workflows']} "
        f"workflows), least squares over open = {slopes['fitted_over_open']}:"
    )
    for who in ("worker", "server"):
        if who in slopes:
            s = slopes[who]
            lines.append(
                f"  {who:<7} {s['bytes_per_open_workflow']:8d} bytes/open workflow "
                f"(r² {s['r2']})  → {s[f'rss_at_{EXTRAPOLATE_TO}_mib']} MiB at "
                f"{EXTRAPOLATE_TO:,} open"
            )
    if "worker_full_cache_mib" in slopes:
        lines.append(
            f"  worker's full sticky cache ≈ {slopes['worker_full_cache_mib']} MiB over idle "
            f"(≈ {slopes['worker_bytes_per_cached_workflow']} bytes per cached workflow)"
        )
    lines += [
        "",
        f"visibility: Running after starts {vis['running_after_starts']}, Completed after "
        f"closes {vis['completed_after_closes']}, Running after closes "
        f"{vis['running_after_closes']}, other {vis['other_status_after_closes']}",
        f"projection rows: after starts {result['projection']['after_starts']}, after closes "
        f"{result['projection']['after_closes']}",
        f"histories: {hist['coverage']}",
        f"histories read: {hist['histories_read']} in {hist['seconds']} s — workflow task "
        f"timeouts {hist['workflow_task_timeouts']}, failures {hist['workflow_task_failures']} "
        f"{hist['problems_by_kind'] or ''}; events per history {hist['history_lengths']}",
        "workflow tasks (ms; queued = scheduled→started, worker = started→completed): "
        + "; ".join(
            f"{k} p50 {v.get('p50')} p95 {v.get('p95')} max {v.get('max')}"
            for k, v in hist["workflow_task_ms"].items()
        ),
        *(f"  {a['workflow_id']}: {'; '.join(a['events'])}" for a in hist["affected_examples"]),
        *(
            f"{name} log: {v['errors']} errors, {v['warnings']} warnings"
            + (f" ({v['slow_grpc_calls']} 'Slow gRPC call')" if v["slow_grpc_calls"] else "")
            + "".join(f"\n  {e}" for e in v["first_errors"])
            for name, v in result["logs"].items()
        ),
        f"machine: {result['machine']}",
        f"stack start {result['stack_start_s']} s, wall {result['wall_s']} s; "
        f"all good: {result['all_good']}",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    args.add_argument("--count", type=int, default=20_000)
    args.add_argument("--concurrency", type=int, default=64)
    args.add_argument("--block", type=int, default=2_500)
    args.add_argument(
        "--scan",
        type=int,
        default=None,
        help="read this many random histories plus every one longer than the shortest "
        "(default: read all of them)",
    )
    args.add_argument("--keep-logs", type=Path, help="copy the stack's logs here at the end")
    a = args.parse_args(argv)
    result = asyncio.run(
        open_workflows(
            a.count,
            concurrency=a.concurrency,
            block=a.block,
            scan=a.scan,
            keep_logs=a.keep_logs,
            progress=lambda line: print(line, flush=True),
        )
    )
    print()
    print(table(result))
    print()
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["all_good"] else 1)


if __name__ == "__main__":
    main()
