"""A worker's payout account (Stripe Connect Express) and its onboarding link."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from api.deps import EngineDep, SettingsDep, TemporalDep, WorkerUser, actor
from api.errors import NotFound, workflow_errors
from core.db import autocommit
from models.payouts import PayoutAccountInput, PayoutAccountPublic, PayoutAccountStatus
from models.tables import PAYOUT_ACCOUNTS
from workflows.payout_account import PayoutAccountWorkflow, payout_account_workflow_id

router = APIRouter(prefix="/v1/payout-account", tags=["payout account"])


@router.post("", response_model=PayoutAccountPublic)
async def connect_payout_account(
    user: WorkerUser, temporal: TemporalDep, settings: SettingsDep
) -> PayoutAccountPublic:
    """Creates the Stripe Express account once, and returns a fresh onboarding link each call
    (links are single-use and expire within minutes). Once ready, no link is needed."""
    account_input = PayoutAccountInput(
        user_id=user.id,
        email=user.email,
        return_url=f"{settings.api_public_url}/v1/payout-account?onboarding=done",
        refresh_url=f"{settings.api_public_url}/v1/payout-account?onboarding=expired",
    )
    start = WithStartWorkflowOperation(
        PayoutAccountWorkflow.run,
        account_input,
        id=payout_account_workflow_id(user.id),
        task_queue=settings.temporal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Payout account of worker {user.display_name}",
        static_details=f"Worker `{user.id}` ({user.email}) — Stripe Connect Express",
        search_attributes=PayoutAccountWorkflow.initial_search_attributes(user.id),
    )
    async with workflow_errors("payout account"):
        return await temporal.execute_update_with_start_workflow(
            "onboarding_link",
            actor(user),
            start_workflow_operation=start,
            result_type=PayoutAccountPublic,
        )


@router.get("", response_model=PayoutAccountPublic)
async def get_payout_account(user: WorkerUser, engine: EngineDep) -> PayoutAccountPublic:
    async with autocommit(engine) as conn:
        row = (
            (
                await conn.execute(
                    sa.select(PAYOUT_ACCOUNTS).where(PAYOUT_ACCOUNTS.c.user_id == user.id)
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound("payout account")
    return PayoutAccountPublic(
        status=PayoutAccountStatus(row["status"]),
        stripe_account_id=row["stripe_account_id"],
        payouts_enabled=row["payouts_enabled"],
    )
