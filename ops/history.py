"""``ops show``: a workflow's history in plain words, one line per event that means something
to a person (workflow-task bookkeeping is left out unless a task failed).

Payloads are decoded with the client's data converter and cut to one short line; the
project's payloads carry ids and amounts, not secrets, and the cut keeps a large one
(a description, a report) from flooding the terminal or a ticket it is pasted into.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from temporalio.api.enums.v1 import EventType, TimeoutType, WorkflowTaskFailedCause
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.converter import DataConverter

from ops.help import command
from ops.temporal import connect, decode, describe_duration, event_time, short, shown, when

E = EventType


@dataclass
class Line:
    event_id: int
    time: str
    event: str
    text: str


def failure_text(failure: Failure) -> str:
    """``message (ErrorType)``, followed by its causes: a workflow that failed because an
    activity did says "Activity task failed", and the reason is one cause down."""
    parts: list[str] = []
    current: Failure | None = failure
    while current is not None and len(parts) < 4:
        kind = current.application_failure_info.type
        message = current.message or "(no message)"
        parts.append(f"{message} ({kind})" if kind else message)
        current = current.cause if current.HasField("cause") else None
    return short(" ← caused by: ".join(parts), 300)


@dataclass
class _Story:
    """What later events need to know about earlier ones (an activity's name by its
    scheduled event id, an update's name by its id, …)."""

    converter: DataConverter
    activities: dict[int, str] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)
    timers: dict[str, str] = field(default_factory=dict)
    updates: dict[str, str] = field(default_factory=dict)
    children: dict[int, str] = field(default_factory=dict)

    async def summary(self, event: HistoryEvent) -> str:
        if not event.user_metadata.HasField("summary"):
            return ""
        return f" — {short(await shown(self.converter, [event.user_metadata.summary]), 100)}"

    async def tell(self, e: HistoryEvent) -> str | None:
        c = self.converter
        t = e.event_type
        if t == E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            a = e.workflow_execution_started_event_attributes
            parent = (
                f" as a child of {a.parent_workflow_execution.workflow_id}"
                if a.parent_workflow_execution.workflow_id
                else ""
            )
            return (
                f"workflow {a.workflow_type.name} started{parent} on task queue "
                f"{a.task_queue.name} with input {await shown(c, a.input.payloads)}"
            )
        if t == E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            a2 = e.workflow_execution_completed_event_attributes
            return f"workflow completed with result {await shown(c, a2.result.payloads)}"
        if t == E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            return f"workflow FAILED: {failure_text(e.workflow_execution_failed_event_attributes.failure)}"
        if t == E.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
            return "workflow TIMED OUT (ran past its execution timeout)"
        if t == E.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            a3 = e.workflow_execution_terminated_event_attributes
            return f"workflow TERMINATED by {a3.identity or 'someone'}: {short(a3.reason or '(no reason)')}"
        if t == E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
            return "cancellation of the workflow requested"
        if t == E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
            return "workflow cancelled"
        if t == E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            a4 = e.workflow_execution_continued_as_new_event_attributes
            return f"workflow continued as new run {a4.new_execution_run_id}"
        if t == E.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            a5 = e.workflow_task_failed_event_attributes
            cause = WorkflowTaskFailedCause.Name(a5.cause).removeprefix(
                "WORKFLOW_TASK_FAILED_CAUSE_"
            )
            if a5.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW:
                return f"workflow RESET here: {short(a5.failure.message)}"
            return f"workflow task FAILED ({cause}): {failure_text(a5.failure)}"
        if t == E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            return "workflow task timed out (no worker finished it in time)"

        if t == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            a6 = e.activity_task_scheduled_event_attributes
            self.activities[e.event_id] = a6.activity_type.name
            return (
                f"activity {a6.activity_type.name} scheduled with input "
                f"{await shown(c, a6.input.payloads)}{await self.summary(e)}"
            )
        if t == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            a7 = e.activity_task_started_event_attributes
            self.attempts[a7.scheduled_event_id] = a7.attempt
            if a7.attempt > 1 and a7.last_failure.message:
                name = self.activities.get(a7.scheduled_event_id, "?")
                return (
                    f"activity {name} attempt {a7.attempt} started; the one before failed: "
                    f"{failure_text(a7.last_failure)}"
                )
            return None
        if t == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            a8 = e.activity_task_completed_event_attributes
            return (
                f"activity {self._activity(a8.scheduled_event_id)} completed with result "
                f"{await shown(c, a8.result.payloads)}"
            )
        if t == E.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            a9 = e.activity_task_failed_event_attributes
            return (
                f"activity {self._activity(a9.scheduled_event_id)} FAILED: "
                f"{failure_text(a9.failure)}"
            )
        if t == E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            a10 = e.activity_task_timed_out_event_attributes
            kind = TimeoutType.Name(a10.failure.timeout_failure_info.timeout_type)
            return (
                f"activity {self._activity(a10.scheduled_event_id)} TIMED OUT "
                f"({kind.removeprefix('TIMEOUT_TYPE_').lower()}): {failure_text(a10.failure)}"
            )
        if t == E.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED:
            a11 = e.activity_task_cancel_requested_event_attributes
            return f"cancellation of activity {self.activities.get(a11.scheduled_event_id, '?')} requested"
        if t == E.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
            a12 = e.activity_task_canceled_event_attributes
            return f"activity {self.activities.get(a12.scheduled_event_id, '?')} cancelled"
        if t == E.EVENT_TYPE_MARKER_RECORDED:
            return await self._marker(e)

        if t == E.EVENT_TYPE_TIMER_STARTED:
            a13 = e.timer_started_event_attributes
            duration = a13.start_to_fire_timeout.ToTimedelta()
            self.timers[a13.timer_id] = describe_duration(duration)
            fires = when(event_time(e) + duration)
            return (
                f"timer {a13.timer_id} started for {self.timers[a13.timer_id]} "
                f"until {fires}{await self.summary(e)}"
            )
        if t == E.EVENT_TYPE_TIMER_FIRED:
            timer_id = e.timer_fired_event_attributes.timer_id
            return f"timer {timer_id} ({self.timers.get(timer_id, '?')}) fired"
        if t == E.EVENT_TYPE_TIMER_CANCELED:
            timer_id = e.timer_canceled_event_attributes.timer_id
            return f"timer {timer_id} ({self.timers.get(timer_id, '?')}) cancelled"

        if t == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            a14 = e.workflow_execution_update_accepted_event_attributes
            request = a14.accepted_request
            self.updates[request.meta.update_id] = request.input.name
            return (
                f"update {request.input.name} accepted with input "
                f"{await shown(c, request.input.args.payloads)}"
            )
        if t == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            a15 = e.workflow_execution_update_completed_event_attributes
            name = self.updates.get(a15.meta.update_id, a15.meta.update_id)
            if a15.outcome.HasField("failure"):
                return f"update {name} FAILED: {failure_text(a15.outcome.failure)}"
            return f"update {name} completed with {await shown(c, a15.outcome.success.payloads)}"
        if t == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            a16 = e.workflow_execution_signaled_event_attributes
            return (
                f"signal {a16.signal_name} received with input {await shown(c, a16.input.payloads)}"
            )
        if t == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes
            parts = []
            for key, payload in sorted(fields.indexed_fields.items()):
                values = await decode(c, [payload])
                parts.append(f"{key}={short(values[0] if values else None, 60)}")
            return f"search attributes set: {', '.join(parts)}"
        if t == E.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
            return "memo changed"

        if t == E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            a17 = e.start_child_workflow_execution_initiated_event_attributes
            self.children[e.event_id] = f"{a17.workflow_type.name} {a17.workflow_id}"
            return (
                f"child workflow {self.children[e.event_id]} requested with input "
                f"{await shown(c, a17.input.payloads)}"
            )
        if t == E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED:
            a18 = e.start_child_workflow_execution_failed_event_attributes
            return f"child workflow {a18.workflow_id} could NOT start (already exists?)"
        if t == E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
            a19 = e.child_workflow_execution_started_event_attributes
            return f"child workflow {self.children.get(a19.initiated_event_id, a19.workflow_execution.workflow_id)} started"
        if t == E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
            a20 = e.child_workflow_execution_completed_event_attributes
            return (
                f"child workflow {self.children.get(a20.initiated_event_id, '?')} completed "
                f"with {await shown(c, a20.result.payloads)}"
            )
        if t == E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED:
            a21 = e.child_workflow_execution_failed_event_attributes
            return (
                f"child workflow {self.children.get(a21.initiated_event_id, '?')} FAILED: "
                f"{failure_text(a21.failure)}"
            )
        if t in (
            E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED,
            E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED,
            E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
        ):
            what = EventType.Name(t).removeprefix("EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_").lower()
            return f"child workflow {what.replace('_', ' ')}"
        if t == E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
            a22 = e.signal_external_workflow_execution_initiated_event_attributes
            return (
                f"signal {a22.signal_name} sent to {a22.workflow_execution.workflow_id} "
                f"with {await shown(c, a22.input.payloads)}"
            )
        if t == E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED:
            a23 = e.signal_external_workflow_execution_failed_event_attributes
            return f"signal to {a23.workflow_execution.workflow_id} could NOT be delivered"
        if t == E.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
            a24 = e.request_cancel_external_workflow_execution_initiated_event_attributes
            return f"cancellation of {a24.workflow_execution.workflow_id} requested"
        return None  # workflow-task bookkeeping and the rarer kinds: not for people

    def _activity(self, scheduled_event_id: int) -> str:
        name = self.activities.get(scheduled_event_id, "?")
        attempt = self.attempts.get(scheduled_event_id, 1)
        return f"{name} (attempt {attempt})" if attempt > 1 else name

    async def _marker(self, e: HistoryEvent) -> str | None:
        a = e.marker_recorded_event_attributes
        if a.marker_name == "core_local_activity":
            data = await decode(self.converter, a.details["data"].payloads)
            info = data[0] if data and isinstance(data[0], dict) else {}
            name = info.get("activity_type", "?")
            attempt = info.get("attempt", 1)
            tries = f" (attempt {attempt})" if isinstance(attempt, int) and attempt > 1 else ""
            if a.HasField("failure"):
                return f"local activity {name}{tries} FAILED: {failure_text(a.failure)}"
            result = await shown(self.converter, a.details["result"].payloads)
            return f"local activity {name}{tries} completed with result {result}"
        if a.marker_name == "core_patch":
            patch = await decode(self.converter, a.details["patch-data"].payloads)
            patch_id = patch[0].get("id") if patch and isinstance(patch[0], dict) else "?"
            return f"patch {patch_id} applied (code after this change runs from here)"
        return f"marker {a.marker_name} recorded"


async def readable(events: Sequence[HistoryEvent], converter: DataConverter) -> list[Line]:
    story = _Story(converter)
    lines = []
    for event in events:
        text = await story.tell(event)
        if text is not None:
            name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
            lines.append(Line(event.event_id, when(event_time(event)), name, text))
    return lines


async def show(args: argparse.Namespace) -> int:
    client: Client = await connect()
    handle = client.get_workflow_handle(args.workflow_id, run_id=args.run)
    history = await handle.fetch_history()
    lines = await readable(history.events, client.data_converter)
    if args.json:
        print(json.dumps([asdict(line) for line in lines], indent=2, ensure_ascii=False))
        return 0
    run = history.run_id if history.events else "?"
    print(f"{args.workflow_id} run {run}: {len(history.events)} events, {len(lines)} shown")
    for line in lines:
        print(f"{line.event_id:>5}  {line.time}  {line.text}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "show",
        "a workflow's history in plain words: what happened, when, with which inputs",
        [
            "ops show contract-9d0c…",
            "ops show contract-9d0c… --run 1f2e… --json | jq '.[] | select(.text | test(\"FAILED\"))'",
        ],
        "One line per meaningful event: activities with attempts and failures, timers and "
        "when they fire, updates and signals with their inputs, search attributes, children, "
        "the outcome. Values are decoded with the services' data converter and shortened.",
    )
    p.add_argument("workflow_id", metavar="ID", help="workflow id, e.g. contract-<contract id>")
    p.add_argument("--run", help="a run id (default: the latest run)")
    p.add_argument("--json", action="store_true", help="one JSON object per shown event")
    p.set_defaults(run_command=show)
