"""Support acting on contracts, and what needs a human.

Each POST sends the contract's workflow the same validated update support can send from the
Temporal UI or `temporal workflow update execute` (deploy/RUNBOOK.md, "Support actions"): the
workflow checks the actor and the state, records who and why in ``support_actions`` and
answers with the contract. ``GET /actions`` reads that audit trail; ``GET /queue`` lists
everything waiting for a human, oldest first.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query

from api.deps import EngineDep, IdempotencyKey, StaffUser, TemporalDep, actor
from api.errors import workflow_errors
from api.pagination import Cursor, decode_cursor, encode_cursor
from api.routes.contracts import contract_workflow_id
from core.db import autocommit
from models import contracts as c
from models import support as s
from models.tables import CONTRACTS, SUPPORT_ACTIONS, VERIFICATIONS
from models.users import UserPublic

router = APIRouter(prefix="/v1/support", tags=["support"])

CONTRACT = "/contracts/{contract_id}"
MilestoneNo = Annotated[int, Path(ge=1, le=50, description="Milestone number, from 1")]
Limit = Annotated[int, Query(ge=1, le=200)]


async def act(
    temporal: TemporalDep,
    contract_id: uuid.UUID,
    action: s.SupportAction,
    cmd: s.SupportCommand,
    user: UserPublic,
    key: str | None,
) -> c.ContractPublic:
    """Sends the update. With an ``Idempotency-Key`` the key becomes the update's id, so a
    retried request is the same update to Temporal (answered with its first result) and the
    same row in the audit trail — a double click never cancels, refunds or notes twice."""
    handle = temporal.get_workflow_handle(contract_workflow_id(contract_id))
    update_id = f"support:{user.id}:{action}:{key}" if key else None
    async with workflow_errors("contract"):
        state = await handle.execute_update(action, cmd, id=update_id, result_type=c.ContractState)
    return c.ContractPublic.from_state(state)


@router.post(CONTRACT + "/extend-deadline", response_model=c.ContractPublic)
async def extend_deadline(
    contract_id: uuid.UUID,
    body: s.ExtendDeadlineBody,
    user: StaffUser,
    temporal: TemporalDep,
    key: IdempotencyKey = None,
) -> c.ContractPublic:
    """Moves a deadline later (offer, funding, a milestone's auto-release, the review window):
    to `until`, or `by` a duration past the current deadline. 409 if it no longer applies,
    422 if the new deadline is in the past."""
    cmd = s.ExtendDeadline(actor=actor(user), **body.model_dump())
    return await act(temporal, contract_id, s.SupportAction.EXTEND_DEADLINE, cmd, user, key)


@router.post(CONTRACT + "/cancel", response_model=c.ContractPublic)
async def cancel(
    contract_id: uuid.UUID,
    body: s.ReasonBody,
    user: StaffUser,
    temporal: TemporalDep,
    key: IdempotencyKey = None,
) -> c.ContractPublic:
    """Cancels the contract; escrow not yet approved is refunded to the client (once)."""
    cmd = s.SupportCancel(actor=actor(user), reason=body.reason)
    return await act(temporal, contract_id, s.SupportAction.CANCEL, cmd, user, key)


@router.post(CONTRACT + "/milestones/{number}/release", response_model=c.ContractPublic)
async def release_milestone(
    contract_id: uuid.UUID,
    number: MilestoneNo,
    body: s.ReasonBody,
    user: StaffUser,
    temporal: TemporalDep,
    key: IdempotencyKey = None,
) -> c.ContractPublic:
    """Approves one milestone in escrow for the client; the release to the worker follows."""
    cmd = s.SupportMilestoneCommand(actor=actor(user), reason=body.reason, milestone=number)
    return await act(temporal, contract_id, s.SupportAction.RELEASE_MILESTONE, cmd, user, key)


@router.post(CONTRACT + "/milestones/{number}/refund", response_model=c.ContractPublic)
async def refund_milestone(
    contract_id: uuid.UUID,
    number: MilestoneNo,
    body: s.ReasonBody,
    user: StaffUser,
    temporal: TemporalDep,
    key: IdempotencyKey = None,
) -> c.ContractPublic:
    """Refunds one milestone's escrow to the client; answers once the refund is made."""
    cmd = s.SupportMilestoneCommand(actor=actor(user), reason=body.reason, milestone=number)
    return await act(temporal, contract_id, s.SupportAction.REFUND_MILESTONE, cmd, user, key)


@router.post(CONTRACT + "/resend-notification", response_model=c.ContractPublic)
async def resend_notification(
    contract_id: uuid.UUID,
    body: s.ResendNotificationBody,
    user: StaffUser,
    temporal: TemporalDep,
    key: IdempotencyKey = None,
) -> c.ContractPublic:
    """Emails a notice of this contract again (by kind, the latest, or by dedupe key) as a new
    delivery; `GET /v1/support/users/{id}/deliveries` shows what became of it."""
    cmd = s.ResendNotification(actor=actor(user), **body.model_dump())
    return await act(temporal, contract_id, s.SupportAction.RESEND_NOTIFICATION, cmd, user, key)


@router.post(CONTRACT + "/notes", response_model=c.ContractPublic)
async def add_note(
    contract_id: uuid.UUID,
    body: s.AddNoteBody,
    user: StaffUser,
    temporal: TemporalDep,
    key: IdempotencyKey = None,
) -> c.ContractPublic:
    cmd = s.AddNote(actor=actor(user), reason=body.reason, note=body.note)
    return await act(temporal, contract_id, s.SupportAction.ADD_NOTE, cmd, user, key)


@router.post(CONTRACT + "/clear-needs-support", response_model=c.ContractPublic)
async def clear_needs_support(
    contract_id: uuid.UUID,
    body: s.ReasonBody,
    user: StaffUser,
    temporal: TemporalDep,
    key: IdempotencyKey = None,
) -> c.ContractPublic:
    """After fixing what blocked the contract: lowers NeedsSupport; a money step that waited
    for support is retried. 409 if it does not need support or a dispute is open."""
    cmd = s.ClearNeedsSupport(actor=actor(user), reason=body.reason)
    return await act(temporal, contract_id, s.SupportAction.CLEAR_NEEDS_SUPPORT, cmd, user, key)


@router.get("/actions", response_model=s.SupportActionPage)
async def support_actions(
    user: StaffUser,
    engine: EngineDep,
    contract_id: uuid.UUID | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> s.SupportActionPage:
    """The audit trail: who did what and why, oldest first (of one contract, or all)."""
    a = SUPPORT_ACTIONS
    query = sa.select(a)
    if contract_id is not None:
        query = query.where(a.c.contract_id == contract_id)
    if cursor:
        created_at, action_id = decode_cursor(cursor)
        query = query.where(sa.tuple_(a.c.created_at, a.c.id) > sa.tuple_(created_at, action_id))
    query = query.order_by(a.c.created_at, a.c.id).limit(limit + 1)
    async with autocommit(engine) as conn:
        rows = list((await conn.execute(query)).mappings())
    items = [s.SupportActionPublic.model_validate(dict(r)) for r in rows[:limit]]
    last = items[-1] if len(rows) > limit else None
    return s.SupportActionPage(
        items=items, next_cursor=encode_cursor(last.created_at, last.id) if last else None
    )


def _queue() -> Any:
    """Contracts flagged NeedsSupport or disputed (from the projection, not visibility: one
    indexed query) and verifications waiting for support, each since when."""
    state = CONTRACTS.c.state
    disputed = CONTRACTS.c.stage == c.ContractStage.DISPUTED.value
    contracts = sa.select(
        sa.case((disputed, sa.literal("dispute")), else_=sa.literal("contract")).label("kind"),
        CONTRACTS.c.id.label("id"),
        sa.func.coalesce(
            state["support_reason"].astext,
            sa.literal("dispute open: ") + state["dispute"]["reason"].astext,
        ).label("reason"),
        sa.func.coalesce(
            sa.cast(state["needs_support_since"].astext, sa.DateTime(timezone=True)),
            sa.cast(state["dispute"]["opened_at"].astext, sa.DateTime(timezone=True)),
            CONTRACTS.c.updated_at,
        ).label("since"),
    ).where(CONTRACTS.c.needs_support | disputed)
    verifications = sa.select(
        sa.literal("verification").label("kind"),
        VERIFICATIONS.c.user_id.label("id"),
        VERIFICATIONS.c.state["support_reason"].astext.label("reason"),
        VERIFICATIONS.c.updated_at.label("since"),
    ).where(VERIFICATIONS.c.needs_support)
    return sa.union_all(contracts, verifications).subquery("queue")


@router.get("/queue", response_model=s.SupportQueue)
async def support_queue(
    user: StaffUser, engine: EngineDep, cursor: Cursor = None, limit: Limit = 50
) -> s.SupportQueue:
    """Everything that needs a human, oldest first, with the reason: contracts flagged
    NeedsSupport, open disputes, and verifications waiting for a decision."""
    q = _queue()
    query = sa.select(q)
    if cursor:
        since, item_id = decode_cursor(cursor)
        query = query.where(sa.tuple_(q.c.since, q.c.id) > sa.tuple_(since, item_id))
    query = query.order_by(q.c.since, q.c.id).limit(limit + 1)
    async with autocommit(engine) as conn:
        rows = list((await conn.execute(query)).mappings())
    prefix = {"contract": "contract-", "dispute": "contract-", "verification": "verification-"}
    items = [
        s.QueueItem(
            kind=r["kind"],
            id=r["id"],
            workflow_id=f"{prefix[r['kind']]}{r['id']}",
            reason=r["reason"],
            since=r["since"],
        )
        for r in rows[:limit]
    ]
    last = items[-1] if len(rows) > limit else None
    return s.SupportQueue(
        items=items, next_cursor=encode_cursor(last.since, last.id) if last else None
    )
