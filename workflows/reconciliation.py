"""Reconciliation: does our ledger agree with the payment provider?

Runs daily from a Temporal Schedule (``ops schedule-reconciliation``; ``make dev`` sets it up)
and on demand (``ops reconcile``). It compares every charge, refund, transfer and lost
chargeback at Stripe in the window with the ledger, and every ledger movement with Stripe;
each mismatch is saved in the report and the contract is flagged for support (search
attribute ``NeedsSupport`` via a signal, and in the projection).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.common import PAYMENT_RETRY, store

with workflow.unsafe.imports_passed_through():
    from activities.payments import PaymentActivities
    from activities.store import StoreActivities
    from models import search_attributes as sa
    from models.reconciliation import (
        LedgerMovementsRequest,
        ProviderMovementsRequest,
        ReconciliationInput,
        ReconciliationReport,
        compare,
    )

PROVIDER_LISTING_TIMEOUT = timedelta(minutes=10)


@workflow.defn(name="Reconciliation")
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, input: ReconciliationInput) -> ReconciliationReport:
        until = input.until or workflow.now()
        since = until - input.lookback
        workflow.set_current_details(
            f"Comparing ledger and Stripe from {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC: "
            f"waiting for the ledger, then for Stripe's listing (at most "
            f"{PROVIDER_LISTING_TIMEOUT.total_seconds() / 60:g} min a try). Nobody needs to act."
        )
        ledger = await store(
            StoreActivities.ledger_movements,
            LedgerMovementsRequest(since=since, until=until),
            summary="read the ledger's movements in the window",
        )
        provider = await workflow.execute_activity_method(
            PaymentActivities.provider_movements,
            ProviderMovementsRequest(
                since=since,
                until=until,
                also_ids=[m.provider_object_id for m in ledger if m.provider_object_id],
            ),
            start_to_close_timeout=PROVIDER_LISTING_TIMEOUT,
            heartbeat_timeout=timedelta(minutes=1),
            retry_policy=PAYMENT_RETRY,
            summary="list Stripe's charges, refunds, transfers and disputes in the window",
        )
        known = {m.provider_object_id for m in ledger}
        ledger += await store(
            StoreActivities.ledger_movements,
            LedgerMovementsRequest(
                provider_ids=[p.object_id for p in provider if p.object_id not in known]
            ),
            summary="read ledger movements for Stripe objects outside the window",
        )
        report = ReconciliationReport(
            run_id=workflow.info().workflow_id,
            since=since,
            until=until,
            checked={"ledger_movements": len(ledger), "provider_movements": len(provider)},
            mismatches=compare(ledger, provider),
        )
        await store(StoreActivities.save_reconciliation, report)
        for contract_id in report.contracts_to_flag:
            reasons = "; ".join(m.detail for m in report.mismatches if m.contract_id == contract_id)
            try:
                await workflow.get_external_workflow_handle(f"contract-{contract_id}").signal(
                    "reconciliation_mismatch", reasons
                )
            except Exception:  # the contract's workflow has finished: the projection flag stands
                workflow.logger.info(
                    "contract %s finished; flagged in the projection only", contract_id
                )
        workflow.upsert_search_attributes([sa.NEEDS_SUPPORT.value_set(bool(report.mismatches))])
        workflow.set_current_details(
            f"**{len(report.mismatches)} mismatch(es)** between ledger and Stripe, "
            f"{len(ledger)} ledger / {len(provider)} provider movements checked "
            f"({since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC)."
            + (
                " Each one's contract is flagged `NeedsSupport` for support."
                if report.mismatches
                else ""
            )
            + "".join(f"\n- {m.detail}" for m in report.mismatches[:20])
        )
        return report
