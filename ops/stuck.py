"""``ops stuck``: everything that needs an engineer or support, without writing queries.

Each finding has the workflow id, type, why and since when:

- ``failed`` / ``timed_out`` / ``terminated``: runs that closed that way within the window
  (visibility: ExecutionStatus and CloseTime) and were not reset or restarted since;
- ``activity_retrying``: a running workflow's pending activity on attempt 2+ whose first
  attempt was scheduled longer ago than the threshold;
- ``workflow_task_failing``: a running workflow whose workflow task keeps failing (a bug or
  non-determinism: the workflow cannot move until code is fixed and it is reset);
- ``no_worker``: a workflow task nobody has picked up for longer than the threshold (no
  worker polls its task queue);
- ``needs_support``: running workflows flagged ``NeedsSupport = true``.

Running workflows are described one by one (visibility cannot see pending activities), so
their number is bounded by ``--scan-limit``; the output says when it stopped short.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import EventType, PendingWorkflowTaskState, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionDescription
from temporalio.service import RPCError

from models import search_attributes as sa
from ops.help import command
from ops.history import failure_text
from ops.temporal import (
    connect,
    decode,
    describe_duration,
    event_time,
    parse_duration,
    reverse_events,
    short,
    when,
)

T = TypeVar("T")
E = EventType
CLOSED_BADLY = {"Failed": "failed", "TimedOut": "timed_out", "Terminated": "terminated"}
# Describes in flight at once: fast on a big list, gentle on the frontend.
CONCURRENCY = 10
# How far back from a history's end to look for the event a finding dates from.
MAX_EVENTS_SCANNED = 2000


@dataclass
class Finding:
    kind: str
    workflow_id: str
    run_id: str
    workflow_type: str
    why: str
    since: datetime | None

    def as_json(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "workflow_type": self.workflow_type,
            "why": self.why,
            "since": self.since.isoformat() if self.since else None,
        }


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def where(clause: str, extra: str | None) -> str:
    return f"({clause}) AND ({extra})" if extra else clause


async def bounded(items: Iterable[T], work: Callable[[T], Awaitable[None]]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(item: T) -> None:
        async with gate:
            await work(item)

    await asyncio.gather(*(one(item) for item in items))


async def listed(client: Client, query: str, limit: int) -> tuple[list[WorkflowExecution], bool]:
    """Up to ``limit`` executions, and whether more matched."""
    found = [w async for w in client.list_workflows(query, limit=limit + 1)]
    return found[:limit], len(found) > limit


async def last_event(
    client: Client,
    w: WorkflowExecution,
    wanted: Callable[[HistoryEvent], bool],
    page_size: int = 100,
) -> HistoryEvent | None:
    scanned = 0
    async for event in reverse_events(client, w.id, w.run_id, page_size=page_size):
        if wanted(event):
            return event
        scanned += 1
        if scanned >= MAX_EVENTS_SCANNED:
            return None
    return None


async def closed_badly(
    client: Client, report: Report, window: timedelta, extra: str | None, limit: int
) -> None:
    since = (datetime.now(UTC) - window).strftime("%Y-%m-%dT%H:%M:%SZ")
    statuses = " OR ".join(f'ExecutionStatus = "{s}"' for s in CLOSED_BADLY)
    runs, more = await listed(
        client, where(f'({statuses}) AND CloseTime > "{since}"', extra), limit
    )
    if more:
        report.notes.append(
            f"more than {limit} workflows closed badly in the last {describe_duration(window)}: "
            "showing the newest; narrow with --where"
        )
    superseded = 0

    async def check(w: WorkflowExecution) -> None:
        nonlocal superseded
        # A reset or a restart under the same id starts a new run: the old run's failure is
        # then history, and the new run is judged on its own.
        try:
            current = await client.get_workflow_handle(w.id).describe()
        except RPCError:
            current = None  # gone (retention) between the list and now: report what we saw
        if current is not None and current.run_id != w.run_id:
            superseded += 1
            return
        status = w.status.name if w.status else "?"
        kind = {"FAILED": "failed", "TIMED_OUT": "timed_out", "TERMINATED": "terminated"}.get(
            status, status.lower()
        )
        last = await last_event(client, w, lambda e: True, page_size=1)
        why = closing_words(last) if last else kind
        report.findings.append(Finding(kind, w.id, w.run_id, w.workflow_type, why, w.close_time))

    await bounded(runs, check)
    if superseded:
        report.notes.append(f"{superseded} closed run(s) skipped: reset or restarted since")


def closing_words(e: HistoryEvent) -> str:
    if e.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        return f"failed: {failure_text(e.workflow_execution_failed_event_attributes.failure)}"
    if e.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
        a = e.workflow_execution_terminated_event_attributes
        return f"terminated by {a.identity or 'someone'}: {short(a.reason or '(no reason)')}"
    if e.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
        return "timed out: ran past its execution timeout"
    return EventType.Name(e.event_type).removeprefix("EVENT_TYPE_").lower()


def scheduling_of(activity_id: str) -> Callable[[HistoryEvent], bool]:
    def wanted(e: HistoryEvent) -> bool:
        return (
            e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_id == activity_id
        )

    return wanted


def _is_failed_task(e: HistoryEvent) -> bool:
    return e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_FAILED and (
        e.workflow_task_failed_event_attributes.cause
        != WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
    )


async def running_trouble(
    client: Client, report: Report, threshold: timedelta, extra: str | None, limit: int
) -> None:
    runs, more = await listed(client, where('ExecutionStatus = "Running"', extra), limit)
    if more:
        total = (await client.count_workflows(where('ExecutionStatus = "Running"', extra))).count
        report.notes.append(
            f"checked the newest {limit} of {total} running workflows for retrying activities "
            "and failing workflow tasks: raise --scan-limit or narrow with --where"
        )
    now = datetime.now(UTC)

    async def check(w: WorkflowExecution) -> None:
        try:
            d = await client.get_workflow_handle(w.id, run_id=w.run_id).describe()
        except RPCError:
            return  # closed and gone between the list and the describe
        await failing_task(client, report, w, d, threshold)
        for activity in d.raw_description.pending_activities:
            if activity.attempt < 2:
                continue
            scheduled = await last_event(client, w, scheduling_of(activity.activity_id))
            # Retries are not events: the first attempt's scheduling is the last event
            # about this activity; the pending info only knows the current attempt.
            since = (
                event_time(scheduled)
                if scheduled
                else activity.scheduled_time.ToDatetime().replace(tzinfo=UTC)
            )
            if now - since < threshold:
                continue
            last = failure_text(activity.last_failure) if activity.last_failure.message else "-"
            limit_text = f"/{activity.maximum_attempts}" if activity.maximum_attempts else ""
            report.findings.append(
                Finding(
                    "activity_retrying",
                    w.id,
                    w.run_id,
                    w.workflow_type,
                    f"activity {activity.activity_type.name} retrying for "
                    f"{describe_duration(now - since)}, attempt {activity.attempt}{limit_text}; "
                    f"last failure: {last}",
                    since,
                )
            )

    await bounded(runs, check)


def _timestamp(value: Timestamp) -> datetime | None:
    return value.ToDatetime().replace(tzinfo=UTC) if value.seconds else None


async def failing_task(
    client: Client,
    report: Report,
    w: WorkflowExecution,
    d: WorkflowExecutionDescription,
    threshold: timedelta,
) -> None:
    raw = d.raw_description
    if not raw.HasField("pending_workflow_task"):
        return
    task = raw.pending_workflow_task
    scheduled = _timestamp(task.original_scheduled_time) or _timestamp(task.scheduled_time)
    # Only the first failure of a streak is an event; later attempts show in the attempt.
    failed = await last_event(
        client,
        w,
        lambda e: _is_failed_task(e) or e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    )
    if failed is not None and failed.event_type == E.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        a = failed.workflow_task_failed_event_attributes
        cause = WorkflowTaskFailedCause.Name(a.cause).removeprefix("WORKFLOW_TASK_FAILED_CAUSE_")
        why = f"workflow task failing ({cause}), attempt {task.attempt}: {failure_text(a.failure)}"
        since: datetime | None = event_time(failed)
    elif task.attempt >= 2:
        why, since = f"workflow task failing (timing out?), attempt {task.attempt}", scheduled
    elif (
        task.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED
        and scheduled is not None
        and datetime.now(UTC) - scheduled > threshold
    ):
        # Nobody picks the task up: no worker polls this task queue (down, or misnamed).
        report.findings.append(
            Finding(
                "no_worker",
                w.id,
                w.run_id,
                w.workflow_type,
                f"its workflow task has waited {describe_duration(datetime.now(UTC) - scheduled)} "
                f"for a worker on task queue {w.task_queue}",
                scheduled,
            )
        )
        return
    else:
        return
    report.findings.append(
        Finding("workflow_task_failing", w.id, w.run_id, w.workflow_type, why, since)
    )


async def needs_support(client: Client, report: Report, extra: str | None, limit: int) -> None:
    query = where(f'{sa.NEEDS_SUPPORT.name} = true AND ExecutionStatus = "Running"', extra)
    runs, more = await listed(client, query, limit)
    if more:
        report.notes.append(f"more than {limit} workflows need support: showing {limit}")

    async def flagged_at(event: HistoryEvent) -> bool:
        if event.event_type != E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            return False
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
        payload = fields.indexed_fields.get(sa.NEEDS_SUPPORT.name)
        if payload is None:
            return False
        return (await decode(client.data_converter, [payload])) == [True]

    async def check(w: WorkflowExecution) -> None:
        since = w.start_time  # flagged from the start when no upsert says otherwise
        scanned = 0
        async for event in reverse_events(client, w.id, w.run_id):
            # The flag is re-upserted with every projection: the oldest "true" of the
            # latest streak is when it was raised.
            if await flagged_at(event):
                since = event_time(event)
            elif event.event_type == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES and (
                sa.NEEDS_SUPPORT.name
                in event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            ):
                break
            scanned += 1
            if scanned >= MAX_EVENTS_SCANNED:
                break
        stage = w.typed_search_attributes.get(sa.STAGE)
        why = "NeedsSupport = true" + (f" (Stage {stage})" if stage else "")
        report.findings.append(
            Finding(
                "needs_support",
                w.id,
                w.run_id,
                w.workflow_type,
                f"{why}: its Current details in the Temporal UI say why",
                since,
            )
        )

    await bounded(runs, check)


async def find_stuck(
    client: Client,
    *,
    retrying_longer_than: timedelta,
    closed_within: timedelta,
    scan_limit: int,
    extra: str | None = None,
) -> Report:
    report = Report()
    await closed_badly(client, report, closed_within, extra, scan_limit)
    await running_trouble(client, report, retrying_longer_than, extra, scan_limit)
    await needs_support(client, report, extra, scan_limit)
    oldest = datetime.max.replace(tzinfo=UTC)
    report.findings.sort(key=lambda f: (f.since or oldest, f.workflow_id, f.kind))
    return report


async def stuck(args: argparse.Namespace) -> int:
    client = await connect()
    report = await find_stuck(
        client,
        retrying_longer_than=args.retrying_longer_than,
        closed_within=args.closed_within,
        scan_limit=args.scan_limit,
        extra=args.where,
    )
    if args.json:
        print(
            json.dumps(
                {"stuck": [f.as_json() for f in report.findings], "notes": report.notes},
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        for f in report.findings:
            print(
                f"{when(f.since)}  {f.kind:<21}  {f.workflow_id}  ({f.workflow_type}, run {f.run_id})"
            )
            print(f"{'':22}{f.why}")
        for note in report.notes:
            print(f"note: {note}")
        print(f"{len(report.findings)} stuck" if report.findings else "nothing stuck")
    return 1 if report.findings else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "stuck",
        "list failed, timed-out and terminated workflows, long-retrying activities, "
        "failing or unpolled workflow tasks and NeedsSupport; exit 1 if any",
        [
            "ops stuck",
            "ops stuck --retrying-longer-than 30m --closed-within 7d",
            "ops stuck --where 'WorkflowType = \"Contract\"' --json",
        ],
        "Oldest first, each with its workflow id, type, why and since when. Exit code 0 when "
        "nothing is stuck, 1 otherwise (usable from cron or an alert).",
    )
    p.add_argument(
        "--retrying-longer-than",
        type=parse_duration,
        default=timedelta(minutes=10),
        metavar="DURATION",
        help="list activities retrying for longer than this (default 10m; 90s, 2h, 1d…)",
    )
    p.add_argument(
        "--closed-within",
        type=parse_duration,
        default=timedelta(days=1),
        metavar="DURATION",
        help="list workflows that failed, timed out or were terminated this recently (default 1d)",
    )
    p.add_argument(
        "--scan-limit",
        type=int,
        default=500,
        metavar="N",
        help="describe at most N running workflows, and list at most N of each kind (default 500)",
    )
    p.add_argument(
        "--where",
        metavar="QUERY",
        help="only workflows that also match this visibility query, e.g. 'WorkflowType = \"Contract\"'",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run_command=stuck)
