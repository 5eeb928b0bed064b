"""``ops replay``: does today's workflow code still replay this history?

A production history (by workflow id, or a JSON file saved with ``temporal workflow show
--output json`` or ``ops`` itself) is replayed with ``temporalio.worker.Replayer`` against the
workflow classes the worker registers (workers/main.py ``WORKFLOWS``). A non-determinism
error means deploying this code would break that running workflow: guard the change with
``workflow.patched`` (RUNBOOK.md, *Deploying new worker code*).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from ops.help import command
from ops.temporal import connect, short


def current_workflows() -> Sequence[type]:
    """What the worker runs (imported here: it pulls in every activity's SDK)."""
    from workers.main import WORKFLOWS

    return WORKFLOWS


def from_files(args: argparse.Namespace) -> list[WorkflowHistory] | None:
    """The histories named on the command line, or None when the source is a workflow id."""
    if args.all:
        files = sorted(Path(args.all).glob("*.json"))
        if not files:
            raise FileNotFoundError(f"no *.json histories in {args.all}")
        return [WorkflowHistory.from_json(f.stem, f.read_text()) for f in files]
    source = Path(args.source)
    if source.is_file():
        return [WorkflowHistory.from_json(source.stem, source.read_text())]
    return None


async def histories(args: argparse.Namespace) -> list[WorkflowHistory]:
    files = from_files(args)
    if files is not None:
        return files
    client = await connect()
    return [await client.get_workflow_handle(args.source, run_id=args.run).fetch_history()]


async def replay(args: argparse.Namespace) -> int:
    if (args.source is None) == (args.all is None):
        print("give either ID|FILE or --all DIR", file=sys.stderr)
        return 2
    from temporalio.contrib.pydantic import pydantic_data_converter

    try:
        loaded = await histories(args)
    except (OSError, ValueError) as err:
        print(f"cannot read the history: {err}", file=sys.stderr)
        return 2
    replayer = Replayer(workflows=list(current_workflows()), data_converter=pydantic_data_converter)
    failed = 0
    for history in loaded:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is None:
            print(f"OK    {history.workflow_id} ({len(history.events)} events)")
            continue
        failed += 1
        error = result.replay_failure
        print(f"FAIL  {history.workflow_id}: {type(error).__name__}: {short(str(error), 2000)}")
    if len(loaded) > 1:
        print(f"{len(loaded) - failed} replayed, {failed} failed")
    return 1 if failed else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "replay",
        "replay a history (workflow id or JSON file) against the current workflow code; "
        "exit 1 on non-determinism",
        [
            "ops replay contract-9d0c…                 (fetched from Temporal)",
            "ops replay contract-9d0c… --run 1f2e…",
            "ops replay tests/replay/histories/contract_full_life.json",
            "ops replay --all tests/replay/histories",
        ],
        "Replays with the workflow classes this checkout's worker registers and prints OK or "
        "the replay failure (non-determinism) per history. Run it before deploying workflow "
        "changes; a failure means running workflows of that shape would break.",
    )
    p.add_argument(
        "source", metavar="ID|FILE", nargs="?", help="a workflow id or a history JSON file"
    )
    p.add_argument("--run", help="with an ID: this run (default: the latest)")
    p.add_argument("--all", metavar="DIR", help="replay every *.json history in DIR")
    p.set_defaults(run_command=replay)
