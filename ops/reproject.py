"""Write again, from the workflows' histories, everything the workflows wrote to PostgreSQL.

    python -m ops.reproject                      every JobPosting, Verification, PayoutAccount,
                                                 Contract and Reconciliation run
    python -m ops.reproject --type Contract --query 'StartTime > "2026-12-01T00:00:00Z"'
    python -m ops.reproject --force              also when a row is *newer* than its workflow

Why: after PostgreSQL is restored from a dump, it is as old as the dump, while Temporal still
has everything since. Each workflow writes its projection at every step, so rows would catch
up only at the workflow's next step (for a contract waiting on a 14-day timer, two weeks) —
and the ledger, the reviews and the in-app notices written since the dump would never come
back, though the money really moved.

How: each run's history is replayed against the current workflow code (exactly what a worker
does after a restart); every database write the workflow code issues during the replay
(``store.project_*``, ``store.record_ledger``, ``store.save_review``, ``store.reveal_reviews``,
``store.notify``, ``store.save_reconciliation``, ``store.payout_destination``) is heard and
executed again, in history order.
They are the same calls with the same arguments, and each is idempotent by design (ledger
transactions by their step key, projections by version, reviews and notices by their keys), so
what is already there stays, what the dump lacked is written, and a second run changes nothing.
Reads (``store.waiting_contracts``, ``store.ledger_movements``) are not repeated.

``--force`` is for the other direction: Temporal restored to an older point than PostgreSQL.
Rows then carry versions from a future the workflows no longer remember and would refuse their
writes; forcing lowers such a row's version just below the workflow's, so the workflow's state
is written. Rows that no workflow run accounts for (started after Temporal's dump) are listed
for support, never deleted. Ledger rows are facts and are never removed: money that moved in the
lost future is found by ``ops reconcile`` (the provider has it).

Run it with the API stopped (nothing else needs to run: histories are replayed here).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import (
    Interceptor,
    Replayer,
    StartLocalActivityInput,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import ActivityHandle

from activities.store import StoreActivities
from models.tables import CONTRACTS, JOBS, PAYOUT_ACCOUNTS, VERIFICATIONS

# Parents first: a contract's row refers to its job's, its ledger and reviews to the contract.
WORKFLOW_TYPES = ("JobPosting", "Verification", "PayoutAccount", "Contract", "Reconciliation")
# The idempotent writes, by activity name (each is the StoreActivities method of that name).
REPEATED_WRITES = frozenset(
    {
        "store.project_job",
        "store.project_contract",
        "store.project_payout_account",
        "store.project_verification",
        "store.record_ledger",
        "store.save_review",
        "store.reveal_reviews",
        "store.notify",
        "store.save_reconciliation",
        "store.payout_destination",  # for running contracts only: see ONLY_WHILE_RUNNING
    }
)
# Registers the contract as waiting for the worker's payout account and unregisters it if the
# account is ready. Repeated after the PayoutAccount runs (the order above), it leaves a waiter
# exactly where a release still waits, so a contract that began waiting after the dump is told
# when the account becomes ready; a closed contract waits for nothing.
ONLY_WHILE_RUNNING = frozenset({"store.payout_destination"})


@dataclass(frozen=True)
class Projected:
    """A workflow type's own row: where it is, and which state field holds its key."""

    table: sa.Table
    key: str
    state_key: str
    workflow_type: str
    prefix: str  # workflow id = prefix + key


PROJECTED = {
    "store.project_job": Projected(JOBS, "id", "job_id", "JobPosting", "job-"),
    "store.project_contract": Projected(CONTRACTS, "id", "contract_id", "Contract", "contract-"),
    "store.project_payout_account": Projected(
        PAYOUT_ACCOUNTS, "user_id", "user_id", "PayoutAccount", "payout-account-"
    ),
    "store.project_verification": Projected(
        VERIFICATIONS, "user_id", "user_id", "Verification", "verification-"
    ),
}


class _HeardWrites(Interceptor):
    """Hears the local activities workflow code starts while a history replays."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Sequence[Any]]] = []

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        calls = self.calls

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(_Outbound(outbound, calls))

        return Inbound


class _Outbound(WorkflowOutboundInterceptor):
    def __init__(
        self, next: WorkflowOutboundInterceptor, calls: list[tuple[str, Sequence[Any]]]
    ) -> None:
        super().__init__(next)
        self._calls = calls

    def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
        self._calls.append((input.activity, list(input.args)))
        return super().start_local_activity(input)


@dataclass
class ReprojectReport:
    runs: dict[str, int] = field(default_factory=dict)  # replayed runs per workflow type
    writes: int = 0
    forced: list[str] = field(default_factory=list)  # workflow ids whose newer row was lowered
    refused: list[str] = field(default_factory=list)  # "<workflow id>: why"
    without_workflow: list[str] = field(default_factory=list)  # rows no run accounts for

    @property
    def clean(self) -> bool:
        return not self.refused and not self.without_workflow

    def lines(self) -> list[str]:
        out = [f"{kind}: {n} runs replayed" for kind, n in self.runs.items()]
        out.append(f"{self.writes} writes repeated")
        out += [f"forced {w} (its row was newer than the workflow)" for w in self.forced]
        out += [f"REFUSED {r}" for r in self.refused]
        out += [
            f"NO WORKFLOW {w} (started after Temporal's backup?)" for w in self.without_workflow
        ]
        return out


def _replayer(heard: _HeardWrites) -> Replayer:
    from workers.main import WORKFLOWS

    # Unsandboxed: the interceptor's list must be the one this process reads. Replaying runs
    # the same deterministic code the workers run; nothing here reaches a provider.
    return Replayer(
        workflows=list(WORKFLOWS),
        data_converter=pydantic_data_converter,
        interceptors=[heard],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )


async def _lower_newer_row(engine: AsyncEngine, where: Projected, state: Any) -> bool:
    table = where.table
    async with engine.begin() as conn:
        lowered = await conn.execute(
            sa.update(table)
            .where(table.c[where.key] == getattr(state, where.state_key))
            .where(table.c.version > state.version)
            .values(version=state.version - 1)
        )
    return bool(lowered.rowcount)


async def _repeat(
    engine: AsyncEngine,
    workflow_id: str,
    calls: list[tuple[str, Sequence[Any]]],
    *,
    running: bool,
    force: bool,
    report: ReprojectReport,
) -> None:
    store = StoreActivities(engine)
    if force:
        last = {name: args[0] for name, args in calls if name in PROJECTED}
        for name, state in last.items():
            if await _lower_newer_row(engine, PROJECTED[name], state):
                report.forced.append(workflow_id)
    for name, args in calls:
        if name not in REPEATED_WRITES or (name in ONLY_WHILE_RUNNING and not running):
            continue
        try:
            await getattr(store, name.removeprefix("store."))(*args)
        except Exception as err:
            # E.g. a user who registered after the dump: the projection cannot invent people.
            # Reported, and this run stops here: its later writes build on this one.
            report.refused.append(f"{workflow_id}: {name} failed ({type(err).__name__})")
            return
        report.writes += 1


async def reproject(
    client: Client,
    engine: AsyncEngine,
    *,
    types: Sequence[str] | None = None,
    query: str | None = None,
    force: bool = False,
) -> ReprojectReport:
    report = ReprojectReport()
    heard = _HeardWrites()
    replayer = _replayer(heard)  # one for every run: building it costs more than a replay
    for workflow_type in WORKFLOW_TYPES:
        if types and workflow_type not in types:
            continue
        visibility = f'WorkflowType = "{workflow_type}"' + (f" AND ({query})" if query else "")
        runs = [r async for r in client.list_workflows(visibility)]
        runs.sort(key=lambda r: r.start_time)  # a continued-as-new chain in its order
        report.runs[workflow_type] = 0
        for run in runs:
            handle = client.get_workflow_handle(run.id, run_id=run.run_id)
            heard.calls.clear()
            result = await replayer.replay_workflow(
                await handle.fetch_history(), raise_on_replay_failure=False
            )
            if result.replay_failure is not None:
                report.refused.append(f"{run.id}: does not replay ({result.replay_failure})")
                continue
            running = run.status is WorkflowExecutionStatus.RUNNING
            await _repeat(
                engine, run.id, list(heard.calls), running=running, force=force, report=report
            )
            report.runs[workflow_type] += 1
        if query is None:  # only a full pass can tell that a row has no workflow
            listed = {r.id for r in runs}
            for where in [p for p in PROJECTED.values() if p.workflow_type == workflow_type]:
                async with engine.connect() as conn:
                    keys = (await conn.execute(sa.select(where.table.c[where.key]))).scalars()
                    ids = [f"{where.prefix}{k}" for k in keys]
                report.without_workflow += sorted(i for i in ids if i not in listed)
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ops reproject",
        description="Repeat, from the workflows' histories, every database write they made "
        "(projections, ledger, reviews, notices): after a PostgreSQL restore, see "
        "deploy/RUNBOOK.md, Backup and restore. Exit 1 if a write was refused, a history "
        "does not replay, or a row has no workflow.",
    )
    p.add_argument(
        "--type",
        action="append",
        choices=WORKFLOW_TYPES,
        help="only this workflow type (repeatable; default: all)",
    )
    p.add_argument("--query", help="only runs matching this visibility query as well")
    p.add_argument(
        "--force",
        action="store_true",
        help="also replace rows newer than their workflow (Temporal restored to an older point)",
    )
    return p


async def _main(args: argparse.Namespace) -> int:
    from core.db import create_engine
    from core.settings import get_settings
    from core.temporal import connect

    settings = get_settings()
    engine = create_engine(settings)
    try:
        report = await reproject(
            await connect(settings), engine, types=args.type, query=args.query, force=args.force
        )
    finally:
        await engine.dispose()
    for line in report.lines():
        print(line)
    return 0 if report.clean else 1


async def run(argv: list[str] | None = None) -> int:
    """The command, for ``ops reproject`` (ops/cli.py runs coroutines and exits itself)."""
    return await _main(parser().parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    import os

    code = asyncio.run(run(argv))
    # As ops/cli.py: the Temporal client's native threads can abort the interpreter while it
    # finalizes (temporalio/sdk-python#300); the work is done, leave without finalizing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
