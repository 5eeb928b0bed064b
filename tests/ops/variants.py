"""Deliberately incompatible versions of real workflows, for ``ops replay`` to catch."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.payouts import PayoutAccountInput, PayoutAccountState
    from workflows.payout_account import PayoutAccountWorkflow


@workflow.defn(name="PayoutAccount")
class PayoutAccountCheckingCountryFirst(PayoutAccountWorkflow):
    """Schedules a new activity before creating the account, without ``workflow.patched``."""

    @workflow.run
    async def run(self, input: PayoutAccountInput) -> PayoutAccountState:
        await workflow.execute_activity(
            "payments.check_country", input.country, start_to_close_timeout=timedelta(seconds=10)
        )
        return await super().run(input)
