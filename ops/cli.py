"""``ops``: the operator's command line.

    ops create-user --email support@example.com --role support   (asks for the password)
    ops migrate                                                   (Alembic upgrade head)
    ops register-search-attributes                                (idempotent)
    ops reconcile [--hours 48]                                    (ledger vs Stripe, now)
    ops schedule-reconciliation                                   (the daily Temporal Schedule)

On call (deploy/RUNBOOK.md, "On call: ops"):

    ops stuck [--retrying-longer-than 10m] [--json]               (exit 1 when anything is stuck)
    ops show ID [--run RUN] [--json]                              (a history in plain words)
    ops reset ID | --query Q --reason WHY [--to …] [--dry-run]    (re-run after a fix)
    ops replay ID | FILE | --all DIR                              (non-determinism check)

Settings come from the same TEMPWORK_* environment as the services (and .data/dev.env).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from temporalio.service import RPCError

from core.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent


async def create_user(args: argparse.Namespace) -> int:
    from core.accounts import EmailTaken
    from core.accounts import create_user as insert_user
    from core.db import create_engine
    from models.common import Role

    password = os.environ.get("TEMPWORK_NEW_USER_PASSWORD") or getpass.getpass("Password: ")
    if len(password) < 10:
        print("the password must have at least 10 characters", file=sys.stderr)
        return 2
    engine = create_engine(get_settings())
    try:
        user = await insert_user(
            engine, args.email, password, args.name or args.email, Role(args.role)
        )
    except EmailTaken:
        print(f"not created: {args.email} is already registered", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(f"created {user.role} {user.email} ({user.id})")
    return 0


def migrate(args: argparse.Namespace) -> int:
    return subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, check=False
    ).returncode


async def register_search_attributes(args: argparse.Namespace) -> int:
    from core.temporal import connect
    from core.temporal import register_search_attributes as register

    settings = get_settings()
    added = await register(await connect(settings), settings.temporal_namespace)
    print(f"added: {', '.join(added)}" if added else "all search attributes already registered")
    return 0


async def reconcile(args: argparse.Namespace) -> int:
    """Runs a reconciliation now and prints its report; exit code 1 if anything disagrees."""
    from datetime import UTC, datetime, timedelta

    from core.temporal import connect
    from models.reconciliation import ReconciliationInput, ReconciliationReport
    from workflows.reconciliation import ReconciliationWorkflow

    settings = get_settings()
    client = await connect(settings)
    now = datetime.now(UTC)
    report: ReconciliationReport = await client.execute_workflow(
        ReconciliationWorkflow.run,
        ReconciliationInput(lookback=timedelta(hours=args.hours), until=now),
        id=f"reconciliation-manual-{now:%Y%m%dT%H%M%S}",
        task_queue=settings.temporal_task_queue,
        static_summary=f"Manual reconciliation of the last {args.hours} h",
        static_details="Started by `ops reconcile`: ledger against Stripe; mismatches flag their contracts.",
    )
    print(
        f"checked {report.checked} from {report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} UTC"
    )
    for m in report.mismatches:
        print(f"MISMATCH {m.kind} contract={m.contract_id} {m.detail}")
    print(f"{len(report.mismatches)} mismatch(es)")
    return 1 if report.mismatches else 0


async def schedule_reconciliation(args: argparse.Namespace) -> int:
    from core.schedules import ensure_reconciliation_schedule
    from core.temporal import connect

    settings = get_settings()
    created = await ensure_reconciliation_schedule(await connect(settings), settings)
    print(
        f"{'created' if created else 'updated'} schedule reconciliation-daily ({settings.reconciliation_cron} UTC)"
    )
    return 0


def parser() -> argparse.ArgumentParser:
    from ops import history, replay, reset, stuck
    from ops.help import command

    p = argparse.ArgumentParser(
        prog="ops",
        description="Tempwork operations: accounts, migrations, reconciliation, and the "
        "on-call commands stuck / show / reset / replay (deploy/RUNBOOK.md, 'On call: ops').",
        epilog="`ops COMMAND --help` describes each command with examples.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    c = command(
        sub,
        "create-user",
        "create a user (staff accounts are only made here); asks for the password",
        ["ops create-user --email support@example.com --role support --name 'Sam Support'"],
    )
    c.add_argument("--email", required=True)
    c.add_argument("--role", required=True, choices=["support", "admin", "client", "worker"])
    c.add_argument("--name", help="display name (default: the email)")
    c.set_defaults(run_command=create_user)
    command(
        sub, "migrate", "apply database migrations (Alembic upgrade head)", ["ops migrate"]
    ).set_defaults(run_command=migrate)
    command(
        sub,
        "register-search-attributes",
        "register the custom search attributes on the namespace (idempotent)",
        ["ops register-search-attributes"],
    ).set_defaults(run_command=register_search_attributes)
    r = command(
        sub,
        "reconcile",
        "compare the ledger with Stripe now; exit 1 on mismatches",
        ["ops reconcile", "ops reconcile --hours 72"],
    )
    r.add_argument("--hours", type=int, default=48, help="look back this many hours (default 48)")
    r.set_defaults(run_command=reconcile)
    command(
        sub,
        "schedule-reconciliation",
        "create/update the daily reconciliation schedule",
        ["ops schedule-reconciliation"],
    ).set_defaults(run_command=schedule_reconciliation)
    stuck.add_parser(sub)
    history.add_parser(sub)
    reset.add_parser(sub)
    replay.add_parser(sub)
    # Listed here for `ops --help`; run() hands their arguments to their own parsers
    # (ops/backup.py, ops/reproject.py) before this one sees them.
    for name, summary in FORWARDED_HELP.items():
        sub.add_parser(name, help=summary, add_help=False)
    return p


FORWARDED_HELP = {
    "backup": "PostgreSQL dump | restore | verify (ledger balanced, Alembic at head); "
    "`ops backup dump --help`",
    "reproject": "repeat workflows' database writes from their histories after a restore; "
    "`ops reproject --help`",
}


async def forwarded(argv: list[str]) -> int | None:
    """``ops backup …`` and ``ops reproject …``: their own commands, whole; None otherwise."""
    if not argv or argv[0] not in FORWARDED_HELP:
        return None
    if argv[0] == "backup":
        from ops import backup

        return await asyncio.to_thread(backup.main, argv[1:])
    from ops import reproject

    return await reproject.run(argv[1:])


async def run_async(argv: list[str] | None = None) -> int:
    """Runs one command inside an event loop that is already running (tests)."""
    argv = sys.argv[1:] if argv is None else argv
    code = await forwarded(argv)
    if code is not None:
        return code
    result = _start(argv)
    return await _finish(result) if asyncio.iscoroutine(result) else int(result)


def run(argv: list[str] | None = None) -> int:
    """Runs one command and returns its exit code (usage errors exit 2, as argparse does)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in FORWARDED_HELP:
        return asyncio.run(run_async(argv))
    result = _start(argv)
    return asyncio.run(_finish(result)) if asyncio.iscoroutine(result) else int(result)


def _start(argv: list[str]) -> int | Coroutine[Any, Any, int]:
    args = parser().parse_args(argv)
    command: Callable[[argparse.Namespace], int | Coroutine[Any, Any, int]] = args.run_command
    return command(args)


async def _finish(result: Coroutine[Any, Any, int]) -> int:
    try:
        return await result
    except RPCError as err:
        return refused(err)


def refused(err: RPCError) -> int:
    """Temporal said no (an unknown workflow id, a bad query…): its words, not a traceback."""
    print(f"temporal: {err.status.name.lower()}: {err.message}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    code = run(argv)
    # The Temporal client's native threads can abort the interpreter while it finalizes
    # (temporalio/sdk-python#300: "PyGILState_Release … finalizing", exit code 134 in about
    # one run in six here). The command's work is done: flush and leave without finalizing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
