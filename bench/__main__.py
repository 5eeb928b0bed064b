"""``make bench``: figures beside their floors, never assertions.

Starts the real stack (the processes ``make dev`` runs: PostgreSQL, Temporal, sandboxes, worker,
API — on free ports, throwaway data) and measures over HTTP what users do, each beside a
*floor*: the same work done by bare Temporal or a bare ASGI app with none of the product
(bench/floors.py), measured in the same run. Project and floor runs alternate (A, B, A, B) so
noise on this shared machine hits both. Then the scale-out figures (1 → 2 worker processes,
1 → 2 API processes). Then search (bench/search.py: latency per query class at 10k, 100k and
500k profiles and jobs beside its floors, and the projection write cost of keeping it fresh) on
its own PostgreSQL after the stack has stopped. The open-workflows measurement is
``make bench-open``.

Prints a table and writes ``bench/results.json``: per figure ``{"project", "floor", "ratio",
"unit", "target"}`` plus ``machine`` and ``date``. Bounded in count and time.

    make bench                     # the whole thing (stack phases ~3.5 min, search ~14 min)
    python -m bench --quick        # small counts (about 2 minutes)
    python -m bench --profile DIR  # also py-spy the API and the worker (flame graphs in DIR)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import procstat
from bench.bare_app import bare_app_process
from bench.floors import (
    bare_worker,
    lifecycle_floor,
    post_job_floor,
    read_floor,
    update_floor,
)
from bench.load import Run, load
from bench.search import QUICK as SEARCH_QUICK
from bench.search import Plan as SearchPlan
from bench.search import search_bench
from devstack.processes import free_port
from devstack.stack import Ports, Stack, new_secrets
from devstack.verify import verify

RESULTS = Path(__file__).resolve().parent / "results.json"


@dataclass(frozen=True)
class Counts:
    rounds: int = 3  # A, B, A, B, A, B
    jobs: int = 120  # POST /v1/jobs per round (also the jobs the lifecycles hire on)
    lifecycles: int = 40  # per round
    commands: int = 60  # accepts at concurrency 10 per round (on offers made untimed)
    serial_reads: int = 400
    concurrent_reads: int = 1500
    updates: int = 300  # raw update round trips per round (the command floor)
    scale_lifecycles: int = 40
    # 0: not part of make bench (20,000 take longer than its budget: make bench-open).
    open_workflows: int = 0
    # Search at 10k, 100k and 500k profiles and jobs (the cost curve; loading 500k of
    # each is about 3 minutes of COPY), then the projection write cost at 100k.
    search: SearchPlan | None = field(
        default_factory=lambda: SearchPlan(
            sizes=(10_000, 100_000, 500_000),
            queries=150,
            seconds=8.0,
            warmup=5,
            write_per_round=60,
        )
    )


QUICK = Counts(
    rounds=2,
    jobs=30,
    lifecycles=10,
    commands=20,
    serial_reads=100,
    concurrent_reads=300,
    updates=60,
    scale_lifecycles=10,
    open_workflows=0,
    search=SEARCH_QUICK,
)


# --- people and the project's operations --------------------------------------------------


async def person(http: httpx.AsyncClient, role: str) -> dict[str, str]:
    email, password = f"{role}-{uuid.uuid4().hex[:10]}@bench.example", "bench password 123"
    r = await http.post(
        "/v1/auth/register",
        json={"email": email, "password": password, "display_name": role, "role": role},
    )
    r.raise_for_status()
    token = (
        await http.post("/v1/auth/token", data={"username": email, "password": password})
    ).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


@dataclass
class Marketplace:
    """One client hiring one verified worker with a payout account, over HTTP."""

    http: httpx.AsyncClient
    client: dict[str, str]
    worker: dict[str, str]
    open_jobs: list[str] = field(default_factory=list)
    command_samples: dict[str, list[float]] = field(default_factory=dict)
    polls: int = 0
    lifecycles: int = 0

    @classmethod
    async def open(cls, http: httpx.AsyncClient, sandbox: httpx.AsyncClient) -> Marketplace:
        client, worker = await person(http, "client"), await person(http, "worker")
        # Verified through the sandboxes like anyone (not timed: once per worker).
        await verify(http, sandbox, worker)
        r = await http.post("/v1/payout-account", headers=worker)
        await http.get(r.json()["onboarding_url"], params={"complete": "1"})
        return cls(http, client, worker)

    async def post_job(self, i: int) -> None:
        body = {
            "title": f"Bench job {i} react landing page",
            "description": "benchmark",
            "skills": ["react"],
            "budget_cents": 10_000 + i,
        }
        r = await self.http.post("/v1/jobs", json=body, headers=self.client)
        r.raise_for_status()
        self.open_jobs.append(r.json()["id"])

    async def command(self, name: str, path: str, who: dict[str, str], body: Any = None) -> Any:
        started = time.perf_counter()
        r = await self.http.post(path, json=body, headers=who)
        self.command_samples.setdefault(name, []).append(time.perf_counter() - started)
        r.raise_for_status()
        return r.json()

    async def lifecycle(self, _: int) -> str:
        """Job → application → hire → accept → fund → submit → approve → paid."""
        self.lifecycles += 1
        contract_id = await self.hire(timed=True)
        c = f"/v1/contracts/{contract_id}"
        await self.command("accept", f"{c}/accept", self.worker)
        await self.command(
            "fund", f"{c}/milestones/1/fund", self.client, {"payment_method": "pm_card_visa"}
        )
        await self.command("submit", f"{c}/milestones/1/submit", self.worker)
        await self.command("approve", f"{c}/milestones/1/approve", self.client)
        # Paid = the transfer to the worker went through (after approve answers). Polled
        # every 100 ms like an app would (each poll is a real GET, counted); the bare floor
        # long-polls the workflow's result instead.
        while True:
            self.polls += 1
            read = await self.http.get(c, headers=self.client)
            if read.json()["milestones"][0]["status"] == "released":
                break
            await asyncio.sleep(0.1)
        return contract_id

    async def offer(self, _: int) -> str:
        """A contract offered and waiting for the worker (not timed): the command phase's
        subject."""
        return await self.hire(timed=False)

    async def hire(self, *, timed: bool) -> str:
        """The worker applies to an open job and the client hires them: the new contract's id.
        ``timed``: the hire counts among the commands."""
        job_id = self.open_jobs.pop()
        application = (
            await self.http.post(
                f"/v1/jobs/{job_id}/applications",
                json={"cover_letter": "hi"},
                headers=self.worker,
            )
        ).json()
        path = f"/v1/jobs/{job_id}/applications/{application['id']}/hire"
        milestones = {"milestones": [{"title": "All", "amount_cents": 10_000}]}
        if timed:
            return str((await self.command("hire", path, self.client, milestones))["id"])
        r = await self.http.post(path, json=milestones, headers=self.client)
        r.raise_for_status()
        return str(r.json()["id"])

    def all_commands(self) -> list[float]:
        return list(itertools.chain.from_iterable(self.command_samples.values()))


# --- pairing figures with floors --------------------------------------------------------


@dataclass
class Pair:
    """One figure: the project's runs and the floor's, alternated."""

    project: list[Run] = field(default_factory=list)
    floor: list[Run] = field(default_factory=list)


def pooled(runs: list[Run]) -> Run:
    return Run(
        samples=list(itertools.chain.from_iterable(r.samples for r in runs)),
        wall=sum(r.wall for r in runs),
    )


async def alternate(
    rounds: int, project: Callable[[], Awaitable[Run]], floor: Callable[[], Awaitable[Run]]
) -> Pair:
    pair = Pair()
    for _ in range(rounds):
        pair.project.append(await project())
        pair.floor.append(await floor())
    return pair


def figure(project: float, floor: float, unit: str, target: str) -> dict[str, Any]:
    return {
        "project": round(project, 2),
        "floor": round(floor, 2),
        "ratio": round(project / floor, 2) if floor else None,
        "unit": unit,
        "target": target,
    }


# --- the CPU each process spends --------------------------------------------------------


@contextlib.contextmanager
def cpu_per_operation(pids: dict[str, int], into: dict[str, float]) -> Iterator[None]:
    """CPU milliseconds per process tree over the block (divided by ops by the caller).
    The bench process itself (the load generator) is counted too: on 2 cores it competes."""
    before = {name: procstat.cpu_seconds(pid) for name, pid in pids.items()}
    own = resource.getrusage(resource.RUSAGE_SELF)
    yield
    for name, pid in pids.items():
        into[name] = (procstat.cpu_seconds(pid) - before[name]) * 1000
    after = resource.getrusage(resource.RUSAGE_SELF)
    into["bench (load generator)"] = (
        (after.ru_utime - own.ru_utime) + (after.ru_stime - own.ru_stime)
    ) * 1000


def stack_pids(stack: Stack) -> dict[str, int]:
    pids = {name: p.pid for name, p in stack.processes.items() if p.pid}
    if stack.postgres and stack.postgres.process and stack.postgres.process.pid:
        pids["postgres"] = stack.postgres.process.pid
    return pids


@contextlib.contextmanager
def profiled(directory: Path | None, label: str, pids: dict[str, int]) -> Iterator[None]:
    """py-spy flame graphs of the API and the worker while the block runs (``--profile``)."""
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    spies = [
        subprocess.Popen(  # noqa: S603 (our own argv)
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--subprocesses",
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(directory / f"{label}-{name}.txt"),
                "--pid",
                str(pids[name]),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in ("api", "worker")
        if name in pids
    ]
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
        for spy in spies:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(timeout=30)


# --- the run ----------------------------------------------------------------------------


async def measure(stack: Stack, counts: Counts, profile: Path | None) -> dict[str, Any]:
    logs = stack.data_dir / "logs"
    results: dict[str, Any] = {}
    cpu: dict[str, list[dict[str, float]]] = {}
    async with (
        httpx.AsyncClient(base_url=stack.api_url, timeout=90) as http,
        httpx.AsyncClient(base_url=stack.sandbox_url, timeout=30) as sandbox,
        # On uvloop, like the product's worker (TEMPWORK_WORKER_UVLOOP defaults to true).
        bare_worker(stack.temporal_address, stack.database_url, logs, uvloop=True) as bare_queue,
    ):
        market = await Marketplace.open(http, sandbox)
        pids = stack_pids(stack)

        # 1. Posting a job: workflow start + its projection, answered when readable.
        jobs = await alternate(
            counts.rounds,
            lambda: load(market.post_job, counts.jobs, 10),
            lambda: post_job_floor(stack.temporal_address, counts.jobs, 10, task_queue=bare_queue),
        )
        results["post_job_per_s"] = figure(
            pooled(jobs.project).per_s,
            pooled(jobs.floor).per_s,
            "jobs/s at concurrency 10",
            "≥ 0.5",
        )

        # 2. Whole lifecycles, and the commands inside them, beside a bare workflow of the
        # same shape and the raw update round trip at the same concurrency.
        life = Pair()
        updates: list[Run] = []
        floor_pids = {"temporal": pids["temporal"]}
        if (bare := procstat.child_running("bench.bare_worker")) is not None:
            floor_pids["bare worker"] = bare
        for round_ in range(counts.rounds):
            usage: dict[str, float] = {}
            with (
                cpu_per_operation(pids, usage),
                profiled(profile if round_ == 0 else None, "lifecycle", pids),
            ):
                life.project.append(await load(market.lifecycle, counts.lifecycles, 10))
            cpu.setdefault("project", []).append(usage)
            usage = {}
            life.floor.append(
                await lifecycle_floor(
                    stack.temporal_address,
                    counts.lifecycles,
                    10,
                    task_queue=bare_queue,
                    timed=cpu_per_operation(floor_pids, usage),
                )
            )
            cpu.setdefault("floor", []).append(usage)
            updates.append(
                await update_floor(
                    stack.temporal_address, counts.updates, 10, task_queue=bare_queue
                )
            )
        results["lifecycle_per_s"] = figure(
            pooled(life.project).per_s,
            pooled(life.floor).per_s,
            "contract lifecycles/s at concurrency 10",
            "≥ 0.5",
        )
        in_lifecycles = Run(samples=market.all_commands(), wall=0.0)
        results["command_p95_ms_in_lifecycles"] = figure(
            in_lifecycles.p95_ms,
            pooled(updates).p95_ms,
            "ms, p95 of hire/accept/fund/submit/approve inside lifecycles at concurrency 10 "
            "(floor: raw update round trip at concurrency 10)",
            "(context)",
        )

        # 3. One command at concurrency 10 with nothing else running: the worker accepting
        # offers made beforehand, beside the raw update round trip at the same concurrency.
        await load(market.post_job, counts.commands * counts.rounds, 10)
        offers: list[str] = []

        async def make_offer(i: int) -> None:
            offers.append(await market.offer(i))

        await load(make_offer, counts.commands * counts.rounds, 10)

        async def accept(i: int) -> None:
            contract_id = offers.pop()
            r = await http.post(f"/v1/contracts/{contract_id}/accept", headers=market.worker)
            r.raise_for_status()

        accepts = await alternate(
            counts.rounds,
            lambda: load(accept, counts.commands, 10),
            lambda: update_floor(stack.temporal_address, counts.updates, 10, task_queue=bare_queue),
        )
        results["command_p95_ms_c10"] = figure(
            pooled(accepts.project).p95_ms,
            pooled(accepts.floor).p95_ms,
            "ms, p95 of POST /v1/contracts/{id}/accept at concurrency 10 "
            "(floor: raw update round trip at concurrency 10)",
            "≤ 2.0",
        )

        # 4. Reading a contract: serial throughput and p95 at 50 concurrent.
        contract_id = await market.lifecycle(0)
        port = free_port()
        bare_app = bare_app_process(stack.database_url, port, logs)
        try:
            floor_url = f"http://127.0.0.1:{port}"

            async def read(_: int) -> None:
                (
                    await http.get(f"/v1/contracts/{contract_id}", headers=market.client)
                ).raise_for_status()

            with profiled(profile, "read", pids):
                serial = await alternate(
                    counts.rounds,
                    lambda: load(read, counts.serial_reads, 1),
                    lambda: read_floor(floor_url, contract_id, counts.serial_reads, 1),
                )
                concurrent = await alternate(
                    counts.rounds,
                    lambda: load(read, counts.concurrent_reads, 50),
                    lambda: read_floor(floor_url, contract_id, counts.concurrent_reads, 50),
                )
        finally:
            bare_app.stop()
        results["read_req_per_s"] = figure(
            pooled(serial.project).per_s,
            pooled(serial.floor).per_s,
            "GET /v1/contracts/{id} req/s, serial",
            "≥ 0.7",
        )
        results["read_p95_ms_c50"] = figure(
            pooled(concurrent.project).p95_ms,
            pooled(concurrent.floor).p95_ms,
            "ms, p95 of GET /v1/contracts/{id} at 50 concurrent",
            "≤ 1.5",
        )
        results["read_req_per_s_c50"] = figure(
            pooled(concurrent.project).per_s,
            pooled(concurrent.floor).per_s,
            "GET /v1/contracts/{id} req/s at 50 concurrent",
            "≥ 0.7",
        )

        # The driver before issue 9 (asyncpg) beside psycopg, same API code, same reads.
        results["driver"] = await driver_before_after(
            stack, read, contract_id, market, counts, logs
        )

        # 5. Scale out on this machine: a second worker process, a second API process.
        results["scale_out"] = await scale_out(stack, market, counts, contract_id, read, logs)

        results["commands_ms"] = {
            name: {"p50": Run(s, 0).p50_ms, "p95": Run(s, 0).p95_ms, "n": len(s)}
            for name, s in market.command_samples.items()
        }
        results["cpu_ms_per_lifecycle"] = {
            side: {
                name: round(sum(u[name] for u in usages) / (counts.lifecycles * len(usages)), 1)
                for name in usages[0]
            }
            for side, usages in cpu.items()
        }
        results["polls_per_lifecycle"] = round(market.polls / market.lifecycles, 1)
    return results


async def scale_out(
    stack: Stack,
    market: Marketplace,
    counts: Counts,
    contract_id: str,
    read: Callable[[int], Awaitable[None]],
    logs: Path,
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    pids = stack_pids(stack)
    await load(market.post_job, counts.scale_lifecycles, 10)
    usage_one: dict[str, float] = {}
    with cpu_per_operation(pids, usage_one):
        one = await load(market.lifecycle, counts.scale_lifecycles, 10)
    second = stack.worker_process(logs, name="worker-2").start()
    usage_two: dict[str, float] = {}
    try:
        await load(market.post_job, counts.scale_lifecycles, 10)
        with cpu_per_operation({**pids, "worker-2": second.pid or 0}, usage_two):
            two = await load(market.lifecycle, counts.scale_lifecycles, 10)
    finally:
        second.stop()
    figures["lifecycle_per_s_1_to_2_workers"] = {"1": round(one.per_s, 2), "2": round(two.per_s, 2)}
    # Where the time went: with two workers a contract's next task often lands on the worker
    # that has not cached it, which replays its history first (worker CPU per lifecycle).
    figures["worker_cpu_ms_per_lifecycle_1_to_2_workers"] = {
        "1": round(usage_one["worker"] / counts.scale_lifecycles, 1),
        "2": round((usage_two["worker"] + usage_two["worker-2"]) / counts.scale_lifecycles, 1),
    }
    figures["total_cpu_ms_per_lifecycle_1_to_2_workers"] = {
        "1": round(sum(usage_one.values()) / counts.scale_lifecycles, 1),
        "2": round(sum(usage_two.values()) / counts.scale_lifecycles, 1),
    }

    one_api = await load(read, counts.concurrent_reads, 50)
    port = free_port()
    api2 = stack.api_process(logs, port, name="api-2").start(timeout=60)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=90) as other:
            # The client alternates between the two processes, as a load balancer would.
            targets = itertools.cycle((market.http, other))

            async def read_either(_: int) -> None:
                http = next(targets)
                (
                    await http.get(f"/v1/contracts/{contract_id}", headers=market.client)
                ).raise_for_status()

            two_api = await load(read_either, counts.concurrent_reads, 50)
    finally:
        api2.stop()
    figures["read_req_per_s_c50_1_to_2_apis"] = {
        "1": round(one_api.per_s, 1),
        "2": round(two_api.per_s, 1),
    }
    return figures


async def driver_before_after(
    stack: Stack,
    read: Callable[[int], Awaitable[None]],
    contract_id: str,
    market: Marketplace,
    counts: Counts,
    logs: Path,
) -> dict[str, Any]:
    port = free_port()
    asyncpg_url = stack.database_url.replace("+psycopg", "+asyncpg")
    before = stack.api_process(
        logs, port, name="api-asyncpg", env={"TEMPWORK_DATABASE_URL": asyncpg_url}
    ).start(timeout=60)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=90) as http:

            async def read_before(_: int) -> None:
                (
                    await http.get(f"/v1/contracts/{contract_id}", headers=market.client)
                ).raise_for_status()

            serial = await alternate(
                counts.rounds,
                lambda: load(read_before, counts.serial_reads, 1),
                lambda: load(read, counts.serial_reads, 1),
            )
            concurrent = await alternate(
                counts.rounds,
                lambda: load(read_before, counts.concurrent_reads, 50),
                lambda: load(read, counts.concurrent_reads, 50),
            )
    finally:
        before.stop()
    return {
        "read_req_per_s_serial": {
            "asyncpg": round(pooled(serial.project).per_s, 1),
            "psycopg": round(pooled(serial.floor).per_s, 1),
        },
        "read_p95_ms_c50": {
            "asyncpg": round(pooled(concurrent.project).p95_ms, 1),
            "psycopg": round(pooled(concurrent.floor).p95_ms, 1),
        },
    }


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(memory_kib / 2**20, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def table(results: dict[str, Any]) -> str:
    rows = [
        ("lifecycle_per_s", "contract lifecycles/s, c10"),
        ("post_job_per_s", "POST /v1/jobs per s, c10"),
        ("read_req_per_s", "GET contract req/s, serial"),
        ("read_req_per_s_c50", "GET contract req/s, c50"),
        ("read_p95_ms_c50", "GET contract p95 ms, c50"),
        ("command_p95_ms_c10", "accept p95 ms, c10"),
        ("command_p95_ms_in_lifecycles", "command p95 ms in lifecycles"),
    ]
    lines = [
        f"| {'figure':<30} | {'Tempwork':>9} | {'floor':>9} | {'ratio':>6} | target |",
        f"|{'-' * 32}|{'-' * 11}|{'-' * 11}|{'-' * 8}|--------|",
    ]
    for key, label in rows:
        if key in results:
            f = results[key]
            lines.append(
                f"| {label:<30} | {f['project']:>9} | {f['floor']:>9} | {f['ratio']:>6} | {f['target']:<6} |"
            )
    return "\n".join(lines)


@contextlib.asynccontextmanager
async def started_stack(env: dict[str, str] | None = None) -> AsyncIterator[Stack]:
    """The stack on free ports with throwaway data; ``env`` changes settings for its API and
    worker (bench.sweep tries worker and pool sizes this way)."""
    with tempfile.TemporaryDirectory(prefix="tempwork-bench-") as tmp:
        stack = Stack(Path(tmp), Ports.free(), new_secrets(), durable=False, extra_env=env or {})
        began = time.perf_counter()
        stack.start()
        print(f"stack started in {time.perf_counter() - began:.1f} s", flush=True)
        try:
            yield stack
        finally:
            stack.stop()


async def run(counts: Counts, profile: Path | None, out: Path) -> None:
    began = time.perf_counter()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    async with started_stack() as stack:
        results.update(await measure(stack, counts, profile))
    print(table(results), flush=True)
    print(json.dumps({k: results[k] for k in ("driver", "scale_out", "commands_ms")}, indent=1))
    print("CPU ms per lifecycle:", json.dumps(results["cpu_ms_per_lifecycle"], indent=1))
    if counts.open_workflows:
        from bench.open_workflows import open_workflows

        results["open_workflows"] = await open_workflows(counts.open_workflows)
    if counts.search is not None:
        # After the stack has stopped: its own PostgreSQL, nothing else running.
        results["search"] = await search_bench(counts.search)
    results["wall_seconds"] = round(time.perf_counter() - began, 1)
    await asyncio.to_thread(out.write_text, json.dumps(results, indent=2) + "\n")
    print(f"wrote {out} ({results['wall_seconds']} s)")


def main() -> None:
    args = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    args.add_argument("--quick", action="store_true", help="small counts, no open workflows")
    args.add_argument("--profile", type=Path, help="write py-spy profiles of API and worker here")
    args.add_argument("--out", type=Path, default=RESULTS, help="where results.json goes")
    args.add_argument(
        "--open-workflows", type=int, help="open JobPosting workflows to hold (0: skip)"
    )
    args.add_argument(
        "--no-search", action="store_true", help="skip the search phase (bench/search.py)"
    )
    a = args.parse_args()
    counts = QUICK if a.quick else Counts()
    if a.open_workflows is not None:
        counts = Counts(**{**vars(counts), "open_workflows": a.open_workflows})
    if a.no_search:
        counts = Counts(**{**vars(counts), "search": None})
    asyncio.run(run(counts, a.profile, a.out))


if __name__ == "__main__":
    main()
