"""Contracts: reads from the Postgres projection (+ the ledger), commands to the workflow.

Commands do not consult the projection: the contract's workflow is the authority on who may
do what (its validators answer 403/409 at once), and it may be only milliseconds old.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import CurrentUser, EngineDep, IdempotencyKey, StaffUser, TemporalDep, actor
from api.errors import Forbidden, NotFound, workflow_errors
from api.idempotency import run_once
from api.pagination import Cursor, decode_cursor, encode_cursor
from core.db import autocommit
from models import contracts as c
from models.common import Role
from models.ledger import LedgerAccount
from models.tables import CONTRACTS, LEDGER_ENTRIES
from models.users import UserPublic

router = APIRouter(prefix="/v1/contracts", tags=["contracts"])

MilestoneNo = Annotated[int, Path(ge=1, le=50, description="Milestone number, from 1")]


def contract_workflow_id(contract_id: uuid.UUID) -> str:
    return f"contract-{contract_id}"


async def command(
    temporal: TemporalDep, contract_id: uuid.UUID, update: str, cmd: BaseModel
) -> c.ContractPublic:
    handle = temporal.get_workflow_handle(contract_workflow_id(contract_id))
    async with workflow_errors("contract"):
        state = await handle.execute_update(update, cmd, result_type=c.ContractState)
    return c.ContractPublic.from_state(state)


# A contract and what actually moved on it, from the double-entry ledger (not from workflow
# state): each ledger account's balance as one JSON object, so both come back in one round
# trip. Built once (SQLAlchemy memoizes the cache key on the statement object).
_PER_ACCOUNT = (
    sa.select(LEDGER_ENTRIES.c.account, sa.func.sum(LEDGER_ENTRIES.c.amount_cents).label("total"))
    .where(LEDGER_ENTRIES.c.contract_id == sa.bindparam("contract_id"))
    .group_by(LEDGER_ENTRIES.c.account)
    .subquery()
)
_CONTRACT_WITH_BALANCES = sa.select(
    CONTRACTS,
    sa.select(sa.func.jsonb_object_agg(_PER_ACCOUNT.c.account, _PER_ACCOUNT.c.total))
    .scalar_subquery()
    .label("balances"),
).where(CONTRACTS.c.id == sa.bindparam("contract_id"))


def money_summary(balances: dict[str, int] | None) -> c.MoneySummary:
    balance = {account: int(total) for account, total in (balances or {}).items()}
    return c.MoneySummary(
        funded_cents=-balance.get(LedgerAccount.CLIENT_PAYMENTS, 0),
        escrow_cents=balance.get(LedgerAccount.ESCROW, 0),
        released_cents=balance.get(LedgerAccount.WORKER_PAYOUTS, 0),
        fee_cents=balance.get(LedgerAccount.PLATFORM_FEES, 0),
        refunded_cents=balance.get(LedgerAccount.CLIENT_REFUNDS, 0),
        chargeback_lost_cents=balance.get(LedgerAccount.CHARGEBACK_LOSSES, 0),
    )


def _visible_to(user: UserPublic) -> Any:
    if user.role.is_staff:
        return sa.true()
    return (CONTRACTS.c.client_id == user.id) | (CONTRACTS.c.worker_id == user.id)


@router.get("", response_model=c.ContractPage)
async def list_contracts(
    user: CurrentUser,
    engine: EngineDep,
    role: Literal["client", "worker"] | None = None,
    stage: c.ContractStage | None = None,
    needs_support: bool | None = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> c.ContractPage:
    """Your contracts (staff: everyone's), newest first."""
    query = sa.select(CONTRACTS).where(_visible_to(user))
    if role == "client":
        query = query.where(CONTRACTS.c.client_id == user.id)
    elif role == "worker":
        query = query.where(CONTRACTS.c.worker_id == user.id)
    if stage is not None:
        query = query.where(CONTRACTS.c.stage == stage.value)
    if needs_support is not None:
        query = query.where(CONTRACTS.c.needs_support == needs_support)
    if cursor:
        created_at, contract_id = decode_cursor(cursor)
        query = query.where(
            sa.tuple_(CONTRACTS.c.created_at, CONTRACTS.c.id) < sa.tuple_(created_at, contract_id)
        )
    query = query.order_by(CONTRACTS.c.created_at.desc(), CONTRACTS.c.id.desc()).limit(limit + 1)
    async with autocommit(engine) as conn:
        rows = list((await conn.execute(query)).mappings())
    items = [
        c.ContractPublic.from_state(c.ContractState.model_validate(r["state"]))
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return c.ContractPage(
        items=items, next_cursor=encode_cursor(last["created_at"], last["id"]) if last else None
    )


@router.get("/{contract_id}", response_model=c.ContractPublic)
async def get_contract(
    contract_id: uuid.UUID, user: CurrentUser, engine: EngineDep
) -> c.ContractPublic:
    async with autocommit(engine) as conn:
        row = (
            (await conn.execute(_CONTRACT_WITH_BALANCES, {"contract_id": contract_id}))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound("contract")
    if not user.role.is_staff and user.id not in (row["client_id"], row["worker_id"]):
        raise Forbidden("you are not a party to this contract")
    state = c.ContractState.model_validate(row["state"])
    return c.ContractPublic.from_state(state, money_summary(row["balances"]))


@router.post("/{contract_id}/accept", response_model=c.ContractPublic)
async def accept(
    contract_id: uuid.UUID, user: CurrentUser, temporal: TemporalDep
) -> c.ContractPublic:
    return await command(temporal, contract_id, "accept", c.ContractCommand(actor=actor(user)))


@router.post("/{contract_id}/decline", response_model=c.ContractPublic)
async def decline(
    contract_id: uuid.UUID,
    user: CurrentUser,
    temporal: TemporalDep,
    body: c.ReasonRequest | None = None,
) -> c.ContractPublic:
    cmd = c.DeclineOffer(actor=actor(user), reason=body.reason if body else None)
    return await command(temporal, contract_id, "decline", cmd)


@router.post("/{contract_id}/cancel", response_model=c.ContractPublic)
async def cancel(
    contract_id: uuid.UUID,
    user: CurrentUser,
    temporal: TemporalDep,
    body: c.ReasonRequest | None = None,
) -> c.ContractPublic:
    """Before funding nothing moves; after funding, unreleased escrow is refunded."""
    cmd = c.CancelContract(actor=actor(user), reason=body.reason if body else None)
    return await command(temporal, contract_id, "cancel", cmd)


@router.post("/{contract_id}/milestones/{number}/fund", response_model=c.ContractPublic)
async def fund(
    contract_id: uuid.UUID,
    number: MilestoneNo,
    body: c.FundRequest,
    request: Request,
    user: CurrentUser,
    engine: EngineDep,
    temporal: TemporalDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """Charges the client's card into escrow. A declined card answers 402; nothing changes."""
    cmd = c.FundMilestone(actor=actor(user), milestone=number, payment_method=body.payment_method)

    async def charge() -> c.ContractPublic:
        return await command(temporal, contract_id, "fund", cmd)

    return await run_once(engine, request, user.id, key, body, 200, charge)


@router.post("/{contract_id}/milestones/{number}/submit", response_model=c.ContractPublic)
async def submit(
    contract_id: uuid.UUID,
    number: MilestoneNo,
    user: CurrentUser,
    temporal: TemporalDep,
    body: c.SubmitRequest | None = None,
) -> c.ContractPublic:
    cmd = c.SubmitMilestone(actor=actor(user), milestone=number, note=body.note if body else None)
    return await command(temporal, contract_id, "submit", cmd)


@router.post("/{contract_id}/milestones/{number}/approve", response_model=c.ContractPublic)
async def approve(
    contract_id: uuid.UUID, number: MilestoneNo, user: CurrentUser, temporal: TemporalDep
) -> c.ContractPublic:
    """Approves the work; the release to the worker follows (it may wait for their payout account)."""
    return await command(
        temporal, contract_id, "approve", c.MilestoneCommand(actor=actor(user), milestone=number)
    )


@router.post("/{contract_id}/milestones/{number}/request-changes", response_model=c.ContractPublic)
async def request_changes(
    contract_id: uuid.UUID,
    number: MilestoneNo,
    body: c.ChangesRequest,
    user: CurrentUser,
    temporal: TemporalDep,
) -> c.ContractPublic:
    cmd = c.RequestChanges(actor=actor(user), milestone=number, reason=body.reason)
    return await command(temporal, contract_id, "request_changes", cmd)


@router.post("/{contract_id}/disputes", response_model=c.ContractPublic)
async def open_dispute(
    contract_id: uuid.UUID, body: c.DisputeRequest, user: CurrentUser, temporal: TemporalDep
) -> c.ContractPublic:
    """Either party: freezes the contract's money and deadlines until support resolves it."""
    return await command(
        temporal, contract_id, "dispute", c.OpenDispute(actor=actor(user), reason=body.reason)
    )


@router.post("/{contract_id}/disputes/resolve", response_model=c.ContractPublic)
async def resolve_dispute(
    contract_id: uuid.UUID, body: c.ResolveDisputeRequest, user: StaffUser, temporal: TemporalDep
) -> c.ContractPublic:
    """Support: split the escrow in dispute into a release to the worker and a refund."""
    cmd = c.ResolveDispute(actor=actor(user), **body.model_dump())
    return await command(temporal, contract_id, "resolve_dispute", cmd)


@router.post("/{contract_id}/support/resume", response_model=c.ContractPublic)
async def resume_after_support(
    contract_id: uuid.UUID, user: StaffUser, temporal: TemporalDep
) -> c.ContractPublic:
    """Support: retry the money step that needed help, after fixing its cause."""
    return await command(
        temporal, contract_id, "resume_after_support", c.ContractCommand(actor=actor(user))
    )


@router.post("/{contract_id}/reviews", status_code=201, response_model=c.ContractPublic)
async def review(
    contract_id: uuid.UUID, body: c.ReviewRequest, user: CurrentUser, temporal: TemporalDep
) -> c.ContractPublic:
    """Blind review: hidden until the other side has reviewed too, or the window closes."""
    if user.role not in (Role.CLIENT, Role.WORKER):
        raise Forbidden("only the client and the worker review a contract")
    cmd = c.SubmitReview(actor=actor(user), rating=body.rating, comment=body.comment)
    return await command(temporal, contract_id, "review", cmd)
