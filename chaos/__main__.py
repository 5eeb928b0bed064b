"""``make chaos``: hundreds of contract lifecycles at once while everything underneath fails,
then proofs that nothing was lost, doubled or left inconsistent.

1. Starts its own PostgreSQL, Temporal dev server, provider sandboxes, worker and API on free
   127.0.0.1 ports with a throwaway data directory (``devstack``, as ``make dev`` does).
2. Without faults: a support account (``ops create-user``), a pool of workers verified through
   the sandboxes (email code, SMS code, identity document) with payout accounts, and clients.
3. Turns faults on — 20 % of provider calls fail (500, 429, answers lost after the work was
   done, answers too late for the client), webhooks are duplicated and reordered — and starts
   every lifecycle at once (happy paths, declined cards, cancellations, disputes settled each
   way, chargebacks lost and won), while the worker is SIGKILLed every ~15 s and replaced,
   and Temporal and PostgreSQL are each restarted once.
4. Turns faults off, lets the system settle, and proves: every lifecycle reached its planned
   final state; no duplicate charge, refund or transfer at the provider (per idempotency key
   and per milestone); every ledger transaction sums to zero; ``ops reconcile`` finds no
   mismatch; every contract's projection is at its workflow's version. Prints a table, writes
   ``chaos/results.json``, exits 1 if any proof fails. A global deadline bounds the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from chaos.driver import Api, Lifecycle, Person, log_in, observe, sign_up
from chaos.plan import Plan, make_plans
from chaos.proofs import Observed, Report, Row, build_report, render, results_json
from chaos.stack import ChaosStack
from devstack.verify import verify
from models.contracts import ContractState
from models.tables import CONTRACTS, LEDGER_ENTRIES, LEDGER_TRANSACTIONS

RESULTS = Path(__file__).resolve().parent / "results.json"

# 20 % of provider calls fail one way or another: 7 % 500 before running, 5 % 429, and of the
# calls that ran 5 % lose their answer and 3 % answer after the client's 3 s timeout.
FAULTS = {
    "error_rate": 0.07,
    "rate_limit_rate": 0.05,
    "drop_response_rate": 0.05,
    "late_answer_rate": 0.03,
    "late_answer_ms": 4_000,
    "webhook_duplicate_rate": 0.25,
    "webhook_shuffle": True,
    "webhook_delay_ms": 300,
}


@dataclass
class Run:
    args: argparse.Namespace
    chaos: ChaosStack
    deadline: float  # monotonic: the whole run must be over by then
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    facts: dict[str, Any] = field(default_factory=dict)
    in_flight: int = 0
    peak_in_flight: int = 0
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))

    def say(self, what: str) -> None:
        elapsed = time.monotonic() - (self.deadline - self.args.budget)
        print(f"[{elapsed:6.1f}s] {what}", flush=True)


async def main(args: argparse.Namespace) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="tempwork-chaos-"))
    chaos = ChaosStack(data_dir)
    run = Run(args, chaos, time.monotonic() + args.budget, slots=asyncio.Semaphore(args.in_flight))
    ok = False
    try:
        async with asyncio.timeout(args.budget):
            ok = await _run(run)
    except TimeoutError:
        print(f"\nFAILED: the run did not finish within its {args.budget:.0f} s deadline")
    finally:
        # Synchronously, so it also happens on Ctrl-C and on the deadline.
        chaos.stop()
        if ok and not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"logs and data kept in {data_dir}")
    return 0 if ok else 1


async def _run(run: Run) -> bool:
    args, chaos = run.args, run.chaos
    run.say(f"starting the stack in {chaos.data_dir}")
    await asyncio.to_thread(chaos.start)
    stack = chaos.stack
    run.say(f"stack up: api {stack.api_url}, sandbox {stack.sandbox_url}")
    plans = make_plans(args.lifecycles, args.seed)
    limits = httpx.Limits(max_connections=args.concurrency + 8)
    # Longer than the API's own 90 s bound on a command, so its 504 (not our timeout) answers.
    async with (
        httpx.AsyncClient(base_url=stack.api_url, timeout=120, limits=limits) as http,
        httpx.AsyncClient(base_url=stack.sandbox_url, timeout=60) as sandbox,
    ):
        lifecycle_deadline = run.deadline - args.proof_reserve
        api = Api(http, asyncio.Semaphore(args.concurrency), lifecycle_deadline)
        support, workers, clients = await _setup(run, api, sandbox)

        (
            await sandbox.post("/_sandbox/faults", json={"seed": args.seed, **FAULTS})
        ).raise_for_status()
        run.say(f"faults on: {FAULTS}")
        calm = asyncio.Event()
        monkey = asyncio.create_task(_monkey(run, calm))
        observed: dict[int, Observed] = {}
        started = time.monotonic()
        await asyncio.gather(
            *(
                _lifecycle(run, api, plan, clients, workers, support, sandbox, observed)
                for plan in plans
            )
        )
        lifecycles_s = time.monotonic() - started
        calm.set()
        await monkey
        (await sandbox.delete("/_sandbox/faults")).raise_for_status()
        await asyncio.to_thread(chaos.ensure_worker)
        failed = sum(1 for o in observed.values() if o.error)
        run.say(
            f"{len(plans)} lifecycles done in {lifecycles_s:.0f} s ({failed} failed); faults off"
        )
        run.facts |= {
            "lifecycles": len(plans),
            "lifecycle_phase_seconds": round(lifecycles_s),
            "peak_lifecycles_in_flight": run.peak_in_flight,
            "api_requests": api.requests,
            "api_retries": dict(api.retries.most_common()),
            "worker_sigkills": chaos.worker_kills,
            "temporal_restarts": chaos.temporal_restarts,
            "postgres_restarts": chaos.postgres_restarts,
            "faults": FAULTS,
            "seed": args.seed,
        }
        api.deadline = run.deadline - 20  # the proofs' own retries end before the run does
        report = await _prove(run, api, sandbox, support, plans, observed)

    report.rows += [
        Row("lifecycles run (overlapping, peak in flight)", f">= {min(300, len(plans))}",
            f"{len(observed)} ({run.peak_in_flight})",
            mismatches=int(len(observed) < min(300, len(plans)))),
        Row("worker SIGKILLs (every ~15 s)", ">= 1", chaos.worker_kills,
            mismatches=int(chaos.worker_kills < 1)),
        Row("Temporal restarts", 1, chaos.temporal_restarts,
            mismatches=int(chaos.temporal_restarts != 1)),
        Row("PostgreSQL restarts", 1, chaos.postgres_restarts,
            mismatches=int(chaos.postgres_restarts != 1)),
    ]  # fmt: skip
    run.facts["total_seconds"] = round(time.monotonic() - (run.deadline - args.budget))
    report.facts = run.facts
    _print(run, report)
    RESULTS.write_text(results_json(report, run.started_at) + "\n")
    print(f"written to {RESULTS}")
    return report.ok


async def _setup(
    run: Run, api: Api, sandbox: httpx.AsyncClient
) -> tuple[Person, list[Person], list[Person]]:
    """People, before any fault: verifying is not what this run tests, and a pool of verified
    workers with payout accounts is reused across many jobs, as on a real marketplace."""
    email, password = f"support-{uuid.uuid4().hex[:8]}@chaos.example", "chaos password 123"
    created = await asyncio.to_thread(
        run.chaos.ops,
        "create-user",
        "--email",
        email,
        "--role",
        "support",
        env={"TEMPWORK_NEW_USER_PASSWORD": password},
    )
    if created.returncode != 0:
        raise RuntimeError(f"ops create-user failed: {created.stderr[-2000:]}")
    support = await log_in(api, "support", email)

    async def ready_worker(i: int) -> Person:
        worker = await sign_up(api, "worker", str(i))
        await verify(api.http, sandbox, worker.auth)
        link = await api.ok("POST", "/v1/payout-account", worker)
        await api.http.get(link["onboarding_url"], params={"complete": "1"})
        for _ in range(200):
            if (await api.ok("GET", "/v1/payout-account", worker))["status"] == "ready":
                return worker
            await asyncio.sleep(0.1)
        raise RuntimeError(f"worker {i}'s payout account never became ready")

    gate = asyncio.Semaphore(8)

    async def gated(i: int) -> Person:
        async with gate:
            return await ready_worker(i)

    workers = await asyncio.gather(*(gated(i) for i in range(run.args.workers)))
    clients = await asyncio.gather(
        *(sign_up(api, "client", str(i)) for i in range(run.args.clients))
    )
    run.say(f"setup: 1 support, {len(workers)} verified workers with payout accounts, "
            f"{len(clients)} clients")  # fmt: skip
    return support, list(workers), list(clients)


async def _lifecycle(
    run: Run,
    api: Api,
    plan: Plan,
    clients: list[Person],
    workers: list[Person],
    support: Person,
    sandbox: httpx.AsyncClient,
    observed: dict[int, Observed],
) -> None:
    # The first wave staggered over a few seconds (as real traffic arrives); then a new
    # lifecycle starts whenever one ends, so `--in-flight` of them always overlap.
    await asyncio.sleep(min(plan.index, run.args.in_flight) * run.args.stagger)
    async with run.slots:
        await _one_lifecycle(run, api, plan, clients, workers, support, sandbox, observed)


async def _one_lifecycle(
    run: Run,
    api: Api,
    plan: Plan,
    clients: list[Person],
    workers: list[Person],
    support: Person,
    sandbox: httpx.AsyncClient,
    observed: dict[int, Observed],
) -> None:
    life = Lifecycle(
        api,
        plan,
        clients[plan.index % len(clients)],
        workers[plan.index % len(workers)],
        support,
        sandbox,
    )
    run.in_flight += 1
    run.peak_in_flight = max(run.peak_in_flight, run.in_flight)
    try:
        observed[plan.index] = await life.run()
    except Exception as err:  # one lifecycle's failure is a finding, not a crash
        observed[plan.index] = Observed(life.contract_id, error=f"{type(err).__name__}: {err}")
    finally:
        run.in_flight -= 1


async def _monkey(run: Run, calm: asyncio.Event) -> None:
    """Kills the worker every ~15 s; restarts Temporal once and PostgreSQL once, while the
    lifecycles are in full swing. Stops when told the lifecycles are over."""
    chaos, args = run.chaos, run.args
    began = time.monotonic()
    pending = sorted(
        [(args.temporal_restart_at, "temporal"), (args.postgres_restart_at, "postgres")]
    )
    next_kill = began + args.kill_every
    while not calm.is_set():
        now = time.monotonic()
        if pending and now - began >= pending[0][0]:
            _, what = pending.pop(0)
            run.say(f"restarting {what}")
            restart = chaos.restart_temporal if what == "temporal" else chaos.restart_postgres
            await asyncio.to_thread(restart)
            run.say(f"{what} is back")
        elif now >= next_kill:
            await asyncio.to_thread(chaos.kill_worker)
            run.say(f"worker SIGKILLed and replaced ({chaos.worker_kills}); "
                    f"{run.in_flight} lifecycles in flight")  # fmt: skip
            # Counted from when the new worker polls; jittered, not in step with timeouts.
            next_kill = time.monotonic() + args.kill_every * random.uniform(0.8, 1.2)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(calm.wait(), timeout=0.5)


async def _prove(
    run: Run,
    api: Api,
    sandbox: httpx.AsyncClient,
    support: Person,
    plans: list[Plan],
    observed: dict[int, Observed],
) -> Report:
    chaos = run.chaos
    ours = {o.contract_id for o in observed.values() if o.contract_id}
    engine = create_async_engine(chaos.stack.database_url)
    temporal = await Client.connect(
        chaos.stack.temporal_address, data_converter=pydantic_data_converter
    )
    try:
        # Let the last webhooks and projections land, then compare projection and workflow.
        versions = await _projection_versions(engine, temporal, ours, until=time.monotonic() + 60)
        run.say("projections compared with their workflows")
        # Re-read every finished lifecycle's contract now that everything has settled.
        for index, seen in list(observed.items()):
            if seen.contract_id and not seen.error:
                observed[index] = observe(await api.contract(seen.contract_id, support))
        money_rows = (await sandbox.get("/_sandbox/stripe/money")).json()["data"]
        transactions, unbalanced = await _ledger(engine)
        reconcile = await asyncio.to_thread(chaos.ops, "reconcile", "--hours", "2")
        # "checked {'charges': 21, 'refunds': 5, …} from … to …": movements per kind.
        checked_line = re.search(r"checked (.*) from ", reconcile.stdout)
        checked = (
            sum(int(n) for n in re.findall(r": (\d+)", checked_line.group(1)))
            if checked_line
            else None
        )
        mismatches = re.search(r"(\d+) mismatch\(es\)", reconcile.stdout)
        run.say("ops reconcile: " + (reconcile.stdout.strip().splitlines() or ["(no output)"])[-1])
        if mismatches is None:
            print(reconcile.stdout[-2000:], reconcile.stderr[-2000:])
        return build_report(
            plans,
            observed,
            money_rows,
            ledger_transactions=transactions,
            unbalanced_transactions=unbalanced,
            reconcile_mismatches=int(mismatches.group(1)) if mismatches else None,
            reconcile_checked=checked,
            projection_versions=versions,
        )
    finally:
        await engine.dispose()


async def _projection_versions(
    engine: AsyncEngine, temporal: Client, contract_ids: set[str], until: float
) -> dict[str, tuple[int | None, int | None]]:
    """(version in Postgres, version the workflow's ``state`` query answers) per contract,
    polled until they all agree or ``until`` passes."""
    gate = asyncio.Semaphore(8)

    async def workflow_version(cid: str) -> int | None:
        async with gate:
            handle = temporal.get_workflow_handle(f"contract-{cid}")
            for _ in range(5):
                try:
                    state = await handle.query("state", result_type=ContractState)
                    return state.version
                except Exception:  # a query can fail while a worker starts
                    await asyncio.sleep(1)
            return None

    pending = set(contract_ids)
    versions: dict[str, tuple[int | None, int | None]] = {}
    while True:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(CONTRACTS.c.id, CONTRACTS.c.version).where(
                    CONTRACTS.c.id.in_([uuid.UUID(c) for c in pending])
                )
            )
            projected = {str(i): int(v) for i, v in rows}
        found = await asyncio.gather(*(workflow_version(c) for c in sorted(pending)))
        for cid, wf in zip(sorted(pending), found, strict=True):
            versions[cid] = (projected.get(cid), wf)
        pending = {c for c, (p, w) in versions.items() if p is None or w is None or p != w}
        if not pending or time.monotonic() > until:
            return versions
        await asyncio.sleep(2)


async def _ledger(engine: AsyncEngine) -> tuple[int, list[str]]:
    """How many ledger transactions there are, and those whose entries do not sum to zero."""
    async with engine.connect() as conn:
        total = (
            await conn.execute(sa.select(sa.func.count()).select_from(LEDGER_TRANSACTIONS))
        ).scalar_one()
        sums = (
            sa.select(
                LEDGER_TRANSACTIONS.c.key,
                sa.func.coalesce(sa.func.sum(LEDGER_ENTRIES.c.amount_cents), 0).label("sum"),
                sa.func.count(LEDGER_ENTRIES.c.id).label("entries"),
            )
            .select_from(
                LEDGER_TRANSACTIONS.outerjoin(
                    LEDGER_ENTRIES, LEDGER_ENTRIES.c.transaction_id == LEDGER_TRANSACTIONS.c.id
                )
            )
            .group_by(LEDGER_TRANSACTIONS.c.id, LEDGER_TRANSACTIONS.c.key)
        )
        bad = [
            f"{key} (sum {total_cents}, {entries} entries)"
            for key, total_cents, entries in await conn.execute(sums)
            if total_cents != 0 or entries < 2
        ]
    return int(total), bad


def _print(run: Run, report: Report) -> None:
    print()
    print(f"make chaos — {run.started_at:%Y-%m-%d %H:%M} UTC")
    print(render(report))
    facts = run.facts
    print(
        f"\n{facts['lifecycles']} lifecycles (peak {facts['peak_lifecycles_in_flight']} in "
        f"flight) in {facts['lifecycle_phase_seconds']} s, {facts['api_requests']} API "
        f"requests; run took {facts['total_seconds']} s"
    )
    print(f"harness retries by cause: {facts['api_retries']}")
    if report.problems:
        print(f"\n{len(report.problems)} problem(s):")
        for problem in report.problems[:40]:
            print(f"  - {problem}")
    print("\nALL PROOFS HOLD" if report.ok else "\nFAILED")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n")[0])
    p.add_argument("--lifecycles", type=int, default=300)
    # Every worker SIGKILL empties the worker's workflow cache: each workflow it touches next
    # is replayed from its history. With all 300 in flight at once, that replay alone
    # outgrew 2 shared cores between two kills; 300 overlapping in waves of this size fits.
    p.add_argument("--in-flight", type=int, default=60, help="lifecycles in flight at once")
    p.add_argument("--workers", type=int, default=8, help="verified workers, reused")
    p.add_argument("--clients", type=int, default=40)
    # Most requests in flight are commands waiting on a workflow that a killed worker left
    # behind (10-30 s), costing no CPU: a low cap would starve the run, not spare the cores.
    p.add_argument("--concurrency", type=int, default=200, help="API requests in flight at most")
    p.add_argument("--stagger", type=float, default=0.02, help="seconds between lifecycle starts")
    p.add_argument("--kill-every", type=float, default=15.0, help="worker SIGKILL interval (s)")
    p.add_argument("--temporal-restart-at", type=float, default=40.0, help="s after faults on")
    p.add_argument("--postgres-restart-at", type=float, default=85.0, help="s after faults on")
    p.add_argument("--budget", type=float, default=14 * 60, help="global deadline (s)")
    p.add_argument("--proof-reserve", type=float, default=110.0, help="s kept for the proofs")
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--keep", action="store_true", help="keep the data directory and logs")
    return p.parse_args(argv)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the run like Ctrl-C: children are stopped first


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(asyncio.run(main(parse())))
    except KeyboardInterrupt:
        sys.exit(130)  # the children were stopped by main()'s finally
