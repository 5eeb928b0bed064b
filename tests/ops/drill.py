"""Test-only workflows for the on-call drills: a bug in a workflow task, a fix deployed under
the same workflow name, a workflow that fails for good, an activity that keeps retrying, a
workflow that asks for support, and a small one with a timer, an update and a signal."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from models import search_attributes as sa

STEP = timedelta(seconds=10)
# A provider that answers 503 forever, retried every second (for the test's clock).
QUICK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=1)
)


class DrillInput(BaseModel):
    order: str
    bug: bool = False


@activity.defn(name="drill.settle")
async def settle(order: str) -> str:
    return f"settled {order}"


@activity.defn(name="drill.call_provider")
async def call_provider(order: str) -> str:
    raise ApplicationError("provider answered 503", type="ProviderUnavailable")


@workflow.defn(name="OpsDrill")
class BuggyDrill:
    """The release with the bug: orders flagged ``bug`` crash the workflow task."""

    @workflow.run
    async def run(self, input: DrillInput) -> str:
        if input.bug:
            raise RuntimeError("drill bug: the fee is divided by zero")
        return await workflow.execute_activity(settle, input.order, start_to_close_timeout=STEP)


@workflow.defn(name="OpsDrill")
class FixedDrill:
    """The fix, deployed under the same workflow name."""

    @workflow.run
    async def run(self, input: DrillInput) -> str:
        return await workflow.execute_activity(settle, input.order, start_to_close_timeout=STEP)


@workflow.defn(name="OpsDrillFailing")
class FailingDrill:
    @workflow.run
    async def run(self, input: DrillInput) -> str:
        raise ApplicationError("the card was declined for good", type="CardDeclined")


@workflow.defn(name="OpsDrillRetrying")
class RetryingDrill:
    @workflow.run
    async def run(self, input: DrillInput) -> str:
        return await workflow.execute_activity(
            call_provider, input.order, start_to_close_timeout=STEP, retry_policy=QUICK_RETRY
        )


@workflow.defn(name="OpsDrillFlagged")
class FlaggedDrill:
    @workflow.run
    async def run(self, input: DrillInput) -> None:
        workflow.upsert_search_attributes([sa.NEEDS_SUPPORT.value_set(True)])
        await workflow.wait_condition(lambda: False)


@workflow.defn(name="OpsDrillShow")
class ShowDrill:
    """Waits a second, then for an approval (update) while taking nudges (signals)."""

    def __init__(self) -> None:
        self.note: str | None = None
        self.nudges: list[str] = []

    @workflow.run
    async def run(self, input: DrillInput) -> str:
        await workflow.sleep(timedelta(seconds=1), summary="cooling-off period")
        await workflow.wait_condition(lambda: self.note is not None)
        return await workflow.execute_activity(
            settle, input.order, start_to_close_timeout=STEP, summary="settle the order"
        )

    @workflow.update(name="approve")
    def approve(self, note: str) -> str:
        self.note = note
        return "approved"

    @workflow.signal(name="nudge")
    def nudge(self, text: str) -> None:
        self.nudges.append(text)


@workflow.defn(name="OpsDrillShow")
class ShowDrillChanged(ShowDrill):
    """An incompatible change: calls the provider before the cooling-off timer."""

    @workflow.run
    async def run(self, input: DrillInput) -> str:
        await workflow.execute_activity(call_provider, input.order, start_to_close_timeout=STEP)
        return await super().run(input)
