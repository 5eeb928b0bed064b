"""`ops show` tells a history in plain words; `ops replay` proves today's code replays a
history and catches a change that would break running workflows."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import ops.replay
from core.settings import get_settings
from ops.cli import run, run_async
from ops.history import failure_text, readable
from tests.conftest import placeholder_settings_env
from tests.ops.conftest import Ops
from tests.ops.drill import DrillInput, ShowDrill, ShowDrillChanged, settle
from tests.ops.variants import PayoutAccountCheckingCountryFirst
from workers.main import WORKFLOWS

HISTORIES = Path(__file__).parent.parent / "replay" / "histories"
PAYOUT_HISTORY = HISTORIES / "payout_account_ready.json"


async def test_show_tells_what_happened_with_which_inputs(
    temporal_env: WorkflowEnvironment, ops: Ops, queue: str
) -> None:
    client = temporal_env.client
    workflow_id = f"drill-show-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=queue, workflows=[ShowDrill], activities=[settle]):
        handle = await client.start_workflow(
            ShowDrill.run, DrillInput(order="order-7"), id=workflow_id, task_queue=queue
        )
        await handle.signal(ShowDrill.nudge, "please hurry")
        assert await handle.execute_update(ShowDrill.approve, "looks right") == "approved"
        assert await handle.result() == "settled order-7"

    shown = await ops("show", workflow_id)
    assert shown.code == 0, shown.err
    out = shown.out
    assert re.search(
        r"workflow OpsDrillShow started on task queue ops-drill-\w+ with input "
        r'\{"order": "order-7", "bug": false\}',
        out,
    )
    assert re.search(
        r'timer 1 started for 1s until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ — "cooling-off period"', out
    )
    assert "timer 1 (1s) fired" in out
    assert 'signal nudge received with input "please hurry"' in out
    assert 'update approve accepted with input "looks right"' in out
    assert 'update approve completed with "approved"' in out
    assert 'activity drill.settle scheduled with input "order-7" — "settle the order"' in out
    assert 'activity drill.settle completed with result "settled order-7"' in out
    assert 'workflow completed with result "settled order-7"' in out
    # Workflow-task bookkeeping is left out.
    assert "WORKFLOW_TASK" not in out and "workflow task" not in out

    as_json = (await ops("show", workflow_id, "--json")).json()
    assert as_json[0]["event"] == "WORKFLOW_EXECUTION_STARTED"
    assert as_json[-1]["text"] == 'workflow completed with result "settled order-7"'


async def test_show_names_every_activity_and_update_of_a_contract_lifecycle() -> None:
    """The recorded life of a real Contract (fund with a declined card, changes requested,
    auto-release, reviews), told line by line."""
    history = WorkflowHistory.from_json(
        "contract", (HISTORIES / "contract_life_with_notices.json").read_text()
    )
    text = "\n".join(line.text for line in await readable(history.events, pydantic_data_converter))
    activities = {
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    updates = {
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    }
    assert {"payments.confirm_escrow_payment", "notices.deliver"} <= activities
    assert {"accept", "fund", "submit", "approve", "request_changes", "review"} <= updates
    for name in activities:
        assert f"activity {name} scheduled with input" in text
    for name in updates:
        assert f"update {name} accepted with input" in text
    assert (
        "activity payments.confirm_escrow_payment FAILED: Your card was declined. (CardDeclined)"
        in text
    )
    assert "update fund FAILED: Your card was declined. (CardDeclined)" in text
    assert "patch notices-by-email-and-sms applied" in text
    assert "local activity store.record_ledger completed" in text
    assert "search attributes set: NeedsSupport=false, Stage=completed" in text


async def test_replay_passes_on_every_recorded_history(ops: Ops) -> None:
    one = await ops("replay", str(PAYOUT_HISTORY))
    assert one.code == 0, one.out + one.err
    assert one.out.startswith("OK    payout_account_ready (31 events)")

    every = await ops("replay", "--all", str(HISTORIES))
    assert every.code == 0, every.out + every.err
    files = sorted(HISTORIES.glob("*.json"))
    assert f"{len(files)} replayed, 0 failed" in every.out
    assert all(f"OK    {f.stem} (" in every.out for f in files)


async def test_replay_fails_on_an_incompatible_change(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A release that schedules a new activity before creating the payout account, without
    workflow.patched, would break every running PayoutAccount."""
    changed = [w for w in WORKFLOWS if w.__name__ != "PayoutAccountWorkflow"]
    monkeypatch.setattr(
        ops.replay, "current_workflows", lambda: [*changed, PayoutAccountCheckingCountryFirst]
    )
    assert await run_async(["replay", str(PAYOUT_HISTORY)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL  payout_account_ready: NondeterminismError:")
    assert "payments.check_country" in out or "ScheduleActivity" in out

    assert await run_async(["replay", "--all", str(HISTORIES)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  payout_account_ready" in out and "OK    contract_full_life" in out


async def test_replay_fetches_a_history_by_id_and_catches_a_change(
    temporal_env: WorkflowEnvironment,
    queue: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = temporal_env.client
    workflow_id = f"drill-replay-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=queue, workflows=[ShowDrill], activities=[settle]):
        handle = await client.start_workflow(
            ShowDrill.run, DrillInput(order="order-8"), id=workflow_id, task_queue=queue
        )
        await handle.execute_update(ShowDrill.approve, "ok")
        await handle.result()

    for name, value in {
        **placeholder_settings_env(),
        "TEMPWORK_TEMPORAL_ADDRESS": client.service_client.config.target_host,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        monkeypatch.setattr(ops.replay, "current_workflows", lambda: [ShowDrill])
        assert await run_async(["replay", workflow_id]) == 0
        assert capsys.readouterr().out.startswith(f"OK    {workflow_id} (")

        monkeypatch.setattr(ops.replay, "current_workflows", lambda: [ShowDrillChanged])
        assert await run_async(["replay", workflow_id, "--run", handle.result_run_id or ""]) == 1
        assert capsys.readouterr().out.startswith(f"FAIL  {workflow_id}: NondeterminismError:")
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    "command",
    [
        "create-user",
        "migrate",
        "register-search-attributes",
        "reconcile",
        "schedule-reconciliation",
        "stuck",
        "show",
        "reset",
        "replay",
    ],
)
def test_every_command_explains_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        run([command, "--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: ops {command}")
    assert "\nexamples:\n  ops " + command in out


def test_a_failure_is_told_with_its_cause() -> None:
    """A workflow that failed because an activity did: the reason is one cause down."""
    declined = Failure(
        message="Your card was declined.",
        application_failure_info=ApplicationFailureInfo(type="CardDeclined"),
    )
    activity_failed = Failure(message="Activity task failed", cause=declined)
    assert (
        failure_text(activity_failed)
        == "Activity task failed ← caused by: Your card was declined. (CardDeclined)"
    )
