"""Support staff's side of verification and notifications: decide background reports that
need a human, read a person's verification state and what became of every email and text
sent to them (bounces included). Everything here is also visible in the Temporal UI; the
decisions go through the same validated workflow updates as from the UI or `temporal` CLI.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import EngineDep, StaffUser, TemporalDep, actor
from api.errors import NotFound, workflow_errors
from core.db import autocommit
from models.notices import DeliveryStatus
from models.tables import DELIVERIES, VERIFICATIONS
from models.verification import (
    Adjudicate,
    AdjudicationRequest,
    VerificationReply,
    VerificationState,
)
from workflows.verification import verification_workflow_id

router = APIRouter(prefix="/v1/support", tags=["support"])


class DeliveryOut(BaseModel):
    dedupe_key: str
    channel: str
    kind: str
    destination: str | None
    status: str
    detail: str | None
    provider_message_id: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime


class VerificationCase(BaseModel):
    user_id: uuid.UUID
    needs_support: bool
    support_reason: str | None
    updated_at: datetime


@router.get("/verifications", response_model=list[VerificationCase])
async def verifications_needing_support(
    user: StaffUser, engine: EngineDep, limit: int = Query(50, ge=1, le=200)
) -> list[VerificationCase]:
    """People whose verification waits for a human (e.g. a “consider” report), oldest first."""
    async with autocommit(engine) as conn:
        rows = (
            await conn.execute(
                sa.select(
                    VERIFICATIONS.c.user_id, VERIFICATIONS.c.state, VERIFICATIONS.c.updated_at
                )
                .where(VERIFICATIONS.c.needs_support)
                .order_by(VERIFICATIONS.c.updated_at)
                .limit(limit)
            )
        ).all()
    return [
        VerificationCase(
            user_id=r.user_id,
            needs_support=True,
            support_reason=r.state.get("support_reason"),
            updated_at=r.updated_at,
        )
        for r in rows
    ]


@router.get("/verifications/{user_id}", response_model=VerificationState)
async def verification_of(
    user_id: uuid.UUID, user: StaffUser, engine: EngineDep
) -> VerificationState:
    async with autocommit(engine) as conn:
        stored = (
            await conn.execute(
                sa.select(VERIFICATIONS.c.state).where(VERIFICATIONS.c.user_id == user_id)
            )
        ).scalar()
    if stored is None:
        raise NotFound("verification")
    state = VerificationState.model_validate(stored)
    state.email.code_digest = None  # nobody needs it, not even support
    return state


@router.post("/verifications/{user_id}/adjudicate", response_model=VerificationState)
async def adjudicate(
    user_id: uuid.UUID, body: AdjudicationRequest, user: StaffUser, temporal: TemporalDep
) -> VerificationState:
    """Approve or reject a background report that came back “consider”. Rejecting files the
    provider's adverse action and emails the worker the adverse-action notice."""
    handle = temporal.get_workflow_handle(verification_workflow_id(user_id))
    cmd = Adjudicate(actor=actor(user), decision=body.decision, reason=body.reason)
    async with workflow_errors("verification"):
        reply = await handle.execute_update("adjudicate", cmd, result_type=VerificationReply)
    reply.state.email.code_digest = None
    return reply.state


@router.get("/users/{user_id}/deliveries", response_model=list[DeliveryOut])
async def deliveries_of(
    user_id: uuid.UUID,
    user: StaffUser,
    engine: EngineDep,
    status: DeliveryStatus | None = Query(None, description="Only deliveries in this state"),
    limit: int = Query(100, ge=1, le=500),
) -> list[DeliveryOut]:
    """Every email and text sent (or deliberately not sent) to a person, newest first."""
    query = sa.select(DELIVERIES).where(DELIVERIES.c.user_id == user_id)
    if status:
        query = query.where(DELIVERIES.c.status == status)
    async with autocommit(engine) as conn:
        rows = (
            await conn.execute(query.order_by(DELIVERIES.c.created_at.desc()).limit(limit))
        ).mappings()
        return [DeliveryOut.model_validate(dict(r)) for r in rows]
