"""``ops reset``: re-run workflows from an earlier workflow task, one by id or a batch by
visibility query, after the fix for whatever broke them is deployed.

The batch is our own loop over ``list_workflows`` (not the server's batch operation) so that
``--dry-run`` shows exactly what the real run touches: the same listing, the same planning,
then either printing or resetting. A batch larger than ``--limit`` is refused as a whole,
rather than reset in part: a second run could not tell the reset half from the rest.

Signals and updates after the reset point are reapplied (the server's default), so no
person's command or provider webhook is lost. Each reset carries a request id derived from
the run, the event and the reason: repeating the same command after a timeout resets once.
Money is safe either way (RUNBOOK.md: idempotency keys come from workflow id and step).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError

from ops.help import command
from ops.stuck import bounded
from ops.temporal import connect, event_time, when

E = EventType
LAST, FIRST, EVENT = "last-workflow-task", "first-workflow-task", "event"
# Events a reset can start from (the server's ResetWorkflowExecutionRequest says which).
RESET_POINTS = {
    E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    E.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
    E.EVENT_TYPE_WORKFLOW_TASK_STARTED,
}


class CannotPlan(Exception):
    """This workflow has no event to reset to as asked."""


class TooMany(Exception):
    """More runs match the query than --limit allows."""


@dataclass(frozen=True)
class Target:
    kind: str  # LAST | FIRST | EVENT
    event_id: int = 0

    def __str__(self) -> str:
        return f"event {self.event_id}" if self.kind == EVENT else self.kind


def parse_target(words: list[str]) -> Target:
    """``last-workflow-task``, ``first-workflow-task``, ``event 12`` (also ``event:12``)."""
    joined = " ".join(words).replace(":", " ").replace("=", " ").split()
    if joined in ([LAST], [FIRST]):
        return Target(joined[0])
    if len(joined) == 2 and joined[0] == EVENT and joined[1].isdigit() and int(joined[1]) > 1:
        return Target(EVENT, int(joined[1]))
    raise argparse.ArgumentTypeError(
        f"--to {' '.join(words)!r}: expected {LAST}, {FIRST} or 'event N' (N > 1)"
    )


@dataclass
class Plan:
    workflow_id: str
    run_id: str
    workflow_type: str
    event_id: int = 0
    event: str = ""
    event_time: str = ""
    skipped: str = ""  # why this run is left alone
    new_run_id: str = ""
    error: str = ""


def reset_point(events: list[HistoryEvent], target: Target) -> HistoryEvent:
    """Like ``temporal workflow reset --type``: the last (first) completed workflow task, or,
    when none ever completed (a bug in the very first task), the first task's start."""
    if target.kind == EVENT:
        for e in events:
            if e.event_id == target.event_id:
                if e.event_type not in RESET_POINTS:
                    kind = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
                    raise CannotPlan(
                        f"event {e.event_id} is {kind}; a reset needs a WORKFLOW_TASK_COMPLETED, "
                        "_FAILED, _TIMED_OUT or _STARTED event (see `ops show --json`)"
                    )
                return e
        raise CannotPlan(f"the history has no event {target.event_id}")
    completed = [e for e in events if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
    if completed:
        return completed[-1] if target.kind == LAST else completed[0]
    started = [e for e in events if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_STARTED]
    if started:
        return started[0]
    raise CannotPlan("no workflow task has started yet: nothing to reset to")


async def plan_one(client: Client, plan: Plan, target: Target) -> None:
    history = await client.get_workflow_handle(plan.workflow_id, run_id=plan.run_id).fetch_history()
    try:
        point = reset_point(list(history.events), target)
    except CannotPlan as err:
        plan.skipped = str(err)
        return
    plan.event_id = point.event_id
    plan.event = EventType.Name(point.event_type).removeprefix("EVENT_TYPE_")
    plan.event_time = when(event_time(point))


async def plans_for_query(client: Client, query: str, limit: int, target: Target) -> list[Plan]:
    found = [w async for w in client.list_workflows(query, limit=limit + 1)]
    if len(found) > limit:
        total = (await client.count_workflows(query)).count
        raise TooMany(
            f"{total} workflow runs match (more than --limit {limit}); nothing done. "
            "Narrow the query (e.g. add CloseTime or WorkflowType) or raise --limit."
        )
    plans = [Plan(w.id, w.run_id, w.workflow_type) for w in found]

    async def plan(p: Plan) -> None:
        # A run that is no longer its workflow's latest was reset (or restarted) already:
        # resetting it again would terminate the run that replaced it.
        current = await client.get_workflow_handle(p.workflow_id).describe()
        if current.run_id != p.run_id:
            p.skipped = f"not the latest run any more (now {current.run_id})"
            return
        await plan_one(client, p, target)

    await bounded(plans, plan)
    return plans


async def plan_for_id(client: Client, workflow_id: str, run_id: str | None, target: Target) -> Plan:
    d = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    p = Plan(d.id, d.run_id, d.workflow_type)
    await plan_one(client, p, target)
    return p


def request_id(p: Plan, reason: str) -> str:
    return str(
        uuid.uuid5(
            uuid.NAMESPACE_URL, f"ops-reset:{p.workflow_id}:{p.run_id}:{p.event_id}:{reason}"
        )
    )


async def reset_one(client: Client, p: Plan, reason: str) -> None:
    try:
        response = await client.workflow_service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=p.workflow_id, run_id=p.run_id),
                reason=reason,
                workflow_task_finish_event_id=p.event_id,
                request_id=request_id(p, reason),
                identity=client.identity,
            )
        )
        p.new_run_id = response.run_id
    except RPCError as err:
        p.error = err.message


def print_plans(plans: list[Plan], dry_run: bool) -> None:
    verb = "would reset" if dry_run else "reset"
    for p in plans:
        head = f"{p.workflow_id}  run {p.run_id}  ({p.workflow_type})"
        if p.skipped:
            print(f"skip {head}: {p.skipped}")
        elif p.error:
            print(f"FAILED {head} to event {p.event_id}: {p.error}")
        else:
            new = f" → new run {p.new_run_id}" if p.new_run_id else ""
            print(f"{verb} {head} to event {p.event_id} {p.event} at {p.event_time}{new}")


def confirmed(count: int) -> bool:
    try:
        answer = input(f"Reset {count} workflow(s)? Type yes to go on: ")
    except EOFError:
        return False
    return answer.strip().lower() == "yes"


async def reset(args: argparse.Namespace) -> int:
    if (args.workflow_id is None) == (args.query is None):
        print("give either a workflow ID or --query (not both)", file=sys.stderr)
        return 2
    if args.run and args.query:
        print("--run goes with an ID, not with --query", file=sys.stderr)
        return 2
    client = await connect()
    if args.query:
        try:
            plans = await plans_for_query(client, args.query, args.limit, args.to)
        except TooMany as refused:
            print(refused, file=sys.stderr)
            return 2
    else:
        plans = [await plan_for_id(client, args.workflow_id, args.run, args.to)]
    todo = [p for p in plans if not p.skipped]
    if args.dry_run or not todo:
        output(plans, args.json, dry_run=True)
        if not args.json:
            dry = " (dry run)" if args.dry_run else ""
            print(f"{len(todo)} workflow(s) would be reset; nothing done{dry}")
        return 0
    if not args.yes:
        print_plans(plans, dry_run=True)
        if not confirmed(len(todo)):
            print("nothing done", file=sys.stderr)
            return 1
    await bounded(todo, lambda p: reset_one(client, p, args.reason))
    output(plans, args.json, dry_run=False)
    failed = [p for p in todo if p.error]
    if not args.json:
        print(f"{len(todo) - len(failed)} reset, {len(failed)} failed")
    return 1 if failed else 0


def output(plans: list[Plan], as_json: bool, *, dry_run: bool) -> None:
    if as_json:
        print(json.dumps({"dry_run": dry_run, "workflows": [asdict(p) for p in plans]}, indent=2))
    else:
        print_plans(plans, dry_run)


class _TargetAction(argparse.Action):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        words = [values] if isinstance(values, str) else [str(v) for v in values or []]
        try:
            setattr(namespace, self.dest, parse_target(words))
        except argparse.ArgumentTypeError as err:
            parser.error(str(err))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "reset",
        "reset one workflow, or a batch by visibility query, to an earlier workflow task",
        [
            "ops reset contract-9d0c… --reason 'fix #123 deployed' --dry-run",
            "ops reset contract-9d0c… --to event 42 --reason 'run the funding step again'",
            'ops reset --query \'WorkflowType = "Contract" AND ExecutionStatus = "Failed"\' \\',
            "    --reason 'fix #123 deployed' --dry-run",
            "ops reset --query '…' --reason 'fix #123 deployed' --yes --limit 500",
        ],
        "The workflows run again from there on the deployed code; signals and updates after "
        "that point are reapplied. With --query every matching run is planned first, and "
        "--dry-run prints exactly that plan (id, run, type, the event it resets to) and does "
        "nothing else. Without --yes it asks before resetting.",
    )
    p.add_argument("workflow_id", metavar="ID", nargs="?", help="one workflow id")
    p.add_argument("--query", metavar="QUERY", help="a visibility query selecting the workflows")
    p.add_argument("--run", help="with ID: reset this run (default: the latest)")
    p.add_argument(
        "--to",
        nargs="+",
        action=_TargetAction,
        default=Target(LAST),
        metavar="POINT",
        help=f"{LAST} (default), {FIRST}, or 'event N' (a workflow task event id); "
        "put ID before --to",
    )
    p.add_argument("--reason", required=True, help="why (recorded in the history)")
    p.add_argument("--dry-run", action="store_true", help="list what would be reset, do nothing")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--limit",
        type=int,
        default=100,
        metavar="N",
        help="refuse (do nothing) when more than N runs match the query (default 100)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run_command=reset)
