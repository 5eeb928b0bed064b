"""Temporal Schedules the platform relies on (created idempotently at deploy / make dev)."""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from core.settings import Settings
from models.reconciliation import ReconciliationInput

RECONCILIATION_SCHEDULE_ID = "reconciliation-daily"


def reconciliation_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "Reconciliation",
            ReconciliationInput(),
            id="reconciliation-scheduled",  # the schedule appends the run time
            task_queue=settings.temporal_task_queue,
            static_summary="Daily reconciliation: ledger against Stripe",
            static_details=(
                "Compares every charge, refund, transfer and lost chargeback at Stripe in the "
                "last 48 h with the ledger, and the ledger with Stripe. Each mismatch flags its "
                "contract `NeedsSupport`; see `ops reconcile` and deploy/RUNBOOK.md."
            ),
        ),
        spec=ScheduleSpec(cron_expressions=[settings.reconciliation_cron]),
        # Never two at once; a missed run (cluster down) is caught up by the 48 h lookback.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_reconciliation_schedule(client: Client, settings: Settings) -> bool:
    """Creates the daily schedule, or updates it to the current settings; True if created."""
    schedule = reconciliation_schedule(settings)
    try:
        await client.create_schedule(RECONCILIATION_SCHEDULE_ID, schedule)
        return True
    except ScheduleAlreadyRunningError:

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(RECONCILIATION_SCHEDULE_ID).update(update)
        return False
