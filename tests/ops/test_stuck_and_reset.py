"""On call: a release with a bug breaks some workflows. `ops stuck` finds them (and a workflow
that failed for good), `ops reset --dry-run` lists exactly those, and after the fix is
deployed `ops reset` makes each of them complete."""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any

from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.conftest import eventually
from tests.ops.conftest import Ops, Ran
from tests.ops.drill import (
    BuggyDrill,
    DrillInput,
    FailingDrill,
    FixedDrill,
    FlaggedDrill,
    RetryingDrill,
    call_provider,
    settle,
)


def listed(ran: Ran, kind: str) -> dict[str, dict[str, Any]]:
    return {f["workflow_id"]: f for f in ran.json()["stuck"] if f["kind"] == kind}


async def start(client: Client, workflow: Any, workflow_id: str, queue: str, **kw: Any) -> None:
    await client.start_workflow(
        workflow, DrillInput(order=workflow_id, **kw), id=workflow_id, task_queue=queue
    )


async def test_a_bug_is_found_listed_exactly_and_reset_after_the_fix(
    temporal_env: WorkflowEnvironment, ops: Ops, queue: str
) -> None:
    client = temporal_env.client
    tag = uuid.uuid4().hex[:6]
    broken = {f"drill-{tag}-broken-{n}" for n in range(3)}
    healthy = {f"drill-{tag}-healthy-{n}" for n in range(2)}
    declined = f"drill-{tag}-declined"
    scope = f'TaskQueue = "{queue}"'
    running_drills = f'{scope} AND WorkflowType = "OpsDrill" AND ExecutionStatus = "Running"'

    async with Worker(
        client, task_queue=queue, workflows=[BuggyDrill, FailingDrill], activities=[settle]
    ):
        for workflow_id in sorted(broken):
            await start(client, BuggyDrill.run, workflow_id, queue, bug=True)
        for workflow_id in sorted(healthy):
            await start(client, BuggyDrill.run, workflow_id, queue)
        await start(client, FailingDrill.run, declined, queue)
        for workflow_id in healthy:
            assert (
                await client.get_workflow_handle(workflow_id).result() == f"settled {workflow_id}"
            )

        # What the on-call engineer sees: the bug, in the three it hit, and the failure.
        stuck = await eventually(
            lambda: ops("stuck", "--where", scope, "--json"),
            lambda ran: (
                listed(ran, "workflow_task_failing").keys() == broken
                and declined in listed(ran, "failed")
            ),
            timeout=60,
            interval=1,
        )
        assert stuck.code == 1
        for finding in listed(stuck, "workflow_task_failing").values():
            assert finding["workflow_type"] == "OpsDrill"
            assert "the fee is divided by zero" in finding["why"]
            assert finding["since"]
        failed = listed(stuck, "failed")[declined]
        assert "the card was declined for good (CardDeclined)" in failed["why"]
        assert not healthy & {f["workflow_id"] for f in stuck.json()["stuck"]}
        text = await ops("stuck", "--where", scope)
        assert text.code == 1 and "drill bug: the fee is divided by zero" in text.out

        # The dry run lists exactly the broken ones, and touches nothing.
        runs_before = {w: (await client.get_workflow_handle(w).describe()).run_id for w in broken}
        await eventually(  # visibility sees the healthy ones completed
            lambda: client.count_workflows(running_drills), lambda c: c.count == len(broken)
        )
        dry = await ops(
            "reset", "--query", running_drills, "--reason", "fix #1 deployed", "--dry-run", "--json"
        )
        assert dry.code == 0, dry.err
        planned = dry.json()["workflows"]
        assert {p["workflow_id"] for p in planned} == broken
        assert all(not p["skipped"] and not p["new_run_id"] for p in planned)
        assert {p["workflow_id"]: p["run_id"] for p in planned} == runs_before
        # The bug hit the first workflow task: nothing completed, so the reset point is
        # that task's start (as `temporal workflow reset --type LastWorkflowTask` picks).
        assert {p["event"] for p in planned} == {"WORKFLOW_TASK_STARTED"}
        for workflow_id, run_id in runs_before.items():
            assert (await client.get_workflow_handle(workflow_id).describe()).run_id == run_id

    # The buggy release is stopped. Without --yes, and nobody at the terminal to say yes,
    # nothing is reset...
    refused = await ops("reset", "--query", running_drills, "--reason", "fix #1 deployed")
    assert refused.code == 1 and "nothing done" in refused.err
    # ...and a batch larger than --limit is refused as a whole.
    too_many = await ops(
        "reset", "--query", running_drills, "--reason", "fix #1", "--yes", "--limit", "2"
    )
    assert too_many.code == 2 and "more than --limit 2" in too_many.err
    for workflow_id, run_id in runs_before.items():
        assert (await client.get_workflow_handle(workflow_id).describe()).run_id == run_id

    reset = await ops(
        "reset", "--query", running_drills, "--reason", "fix #1 deployed", "--yes", "--json"
    )
    assert reset.code == 0, reset.out + reset.err
    done = reset.json()["workflows"]
    assert {p["workflow_id"] for p in done} == broken
    new_runs = {p["workflow_id"]: p["new_run_id"] for p in done}
    assert all(new_runs.values()) and not set(new_runs.values()) & set(runs_before.values())

    # The fix is deployed: every reset run completes.
    async with Worker(
        client, task_queue=queue, workflows=[FixedDrill, FailingDrill], activities=[settle]
    ):
        for workflow_id, run_id in new_runs.items():
            handle = client.get_workflow_handle(workflow_id, run_id=run_id)
            assert await handle.result() == f"settled {workflow_id}"

    # Nothing of the drill is stuck any more (the old runs were replaced by the reset);
    # the declined workflow still is, and a second reset finds nothing to do.
    after = await eventually(
        lambda: ops("stuck", "--where", scope, "--json"),
        lambda ran: {f["workflow_id"] for f in ran.json()["stuck"]} == {declined},
        timeout=30,
        interval=1,
    )
    assert after.code == 1
    calm = await ops("stuck", "--where", f'{scope} AND WorkflowType = "OpsDrill"')
    assert calm.code == 0 and "nothing stuck" in calm.out
    with contextlib.suppress(WorkflowFailureError):
        await client.get_workflow_handle(declined).result()

    # One workflow by id: the reset point is checked before anything is done.
    one = sorted(broken)[0]
    wrong = await ops("reset", one, "--to", "event", "2", "--reason", "again", "--dry-run")
    assert wrong.code == 0
    assert (
        "event 2 is WORKFLOW_TASK_SCHEDULED; a reset needs a WORKFLOW_TASK_COMPLETED" in wrong.out
    )
    assert "0 workflow(s) would be reset" in wrong.out
    first = await ops("reset", one, "--to", "first-workflow-task", "--reason", "again", "--dry-run")
    assert re.search(
        rf"would reset {one}  run {new_runs[one]}  \(OpsDrill\) to event \d+ WORKFLOW_TASK_COMPLETED",
        first.out,
    )
    unknown = await ops("reset", f"{one}-nope", "--reason", "again", "--dry-run")
    assert unknown.code == 1 and unknown.err.startswith("temporal: not_found:")


async def test_stuck_lists_long_retries_missing_workers_and_workflows_needing_support(
    temporal_env: WorkflowEnvironment, ops: Ops, queue: str
) -> None:
    client = temporal_env.client
    tag = uuid.uuid4().hex[:6]
    retrying, flagged = f"drill-{tag}-retrying", f"drill-{tag}-flagged"
    orphan, nobody = f"drill-{tag}-orphan", f"{queue}-nobody-polls"
    scope = f'TaskQueue = "{queue}" OR TaskQueue = "{nobody}"'
    async with Worker(
        client,
        task_queue=queue,
        workflows=[RetryingDrill, FlaggedDrill],
        activities=[call_provider],
    ):
        await start(client, RetryingDrill.run, retrying, queue)
        await start(client, FlaggedDrill.run, flagged, queue)
        await start(client, FlaggedDrill.run, orphan, nobody)  # a queue no worker polls
        try:
            stuck = await eventually(
                lambda: ops("stuck", "--where", scope, "--retrying-longer-than", "2s", "--json"),
                lambda ran: (
                    retrying in listed(ran, "activity_retrying")
                    and flagged in listed(ran, "needs_support")
                    and orphan in listed(ran, "no_worker")
                ),
                timeout=60,
                interval=1,
            )
            assert stuck.code == 1
            why = listed(stuck, "activity_retrying")[retrying]["why"]
            assert "activity drill.call_provider retrying for" in why
            assert "last failure: provider answered 503 (ProviderUnavailable)" in why
            assert listed(stuck, "needs_support")[flagged]["workflow_type"] == "OpsDrillFlagged"
            assert (
                f"for a worker on task queue {nobody}" in listed(stuck, "no_worker")[orphan]["why"]
            )

            # Running workflows are described one by one, as many as --scan-limit allows.
            bounded = await ops("stuck", "--where", scope, "--scan-limit", "1", "--json")
            assert "checked the newest 1 of 3 running workflows" in bounded.json()["notes"][0]

            # Below the threshold a retrying activity is not news.
            patient = await ops("stuck", "--where", scope, "--retrying-longer-than", "1h", "--json")
            assert retrying not in listed(patient, "activity_retrying")
            assert orphan not in listed(patient, "no_worker")
            assert flagged in listed(patient, "needs_support")
        finally:
            for workflow_id in (retrying, flagged, orphan):
                await client.get_workflow_handle(workflow_id).terminate("drill over")
