"""Two deliberately broken workflows, so the SDK reports what failures look like: the alert
rules count these metrics, and a metric the SDK never exports would alert on nothing."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError


@activity.defn(name="ObservabilityAlwaysFails")
async def always_fails() -> None:
    raise ApplicationError("the provider refused", non_retryable=True)


@workflow.defn(name="ObservabilityBuggyWorkflow")
class BuggyWorkflow:
    """A bug in workflow code: every workflow task fails (and is retried) until terminated."""

    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug in workflow code")


@workflow.defn(name="ObservabilityFailingActivity")
class FailingActivityWorkflow:
    """An activity fails for good, and with it the workflow."""

    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            always_fails,
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
