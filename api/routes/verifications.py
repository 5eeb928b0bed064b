"""A person's own verification: start a step, answer a code, see where everything stands.

Every command goes to the person's Verification workflow with update-with-start (the first
command starts it), so its validators answer 403/409/422/429 at once and nothing is lost if
two commands race. Reads come from the PostgreSQL projection.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from api.deps import CurrentUser, EngineDep, SettingsDep, TemporalDep, WorkerUser, actor
from api.errors import workflow_errors
from api.throttling import VERIFICATION_LIMIT
from core.db import autocommit
from core.settings import Settings
from core.verification_codes import code_digest
from models.tables import VERIFICATIONS
from models.users import UserPublic
from models.verification import (
    BackgroundCheckStart,
    CodeConfirmation,
    ConfirmEmailCode,
    ConfirmPhoneCode,
    PhoneCodeRequest,
    RequestPhoneCode,
    StartBackgroundCheck,
    Step,
    StepCommand,
    VerificationInput,
    VerificationReply,
    VerificationsPublic,
    VerificationState,
    public_view,
)
from workflows.verification import VerificationWorkflow, verification_workflow_id

router = APIRouter(prefix="/v1/verifications", tags=["verifications"])


def verification_input(user: UserPublic, settings: Settings) -> VerificationInput:
    return VerificationInput(
        user_id=user.id,
        role=user.role,
        email_address=user.email,
        display_name=user.display_name,
        policy=settings.verification_policy(),
        identity_return_url=f"{settings.api_public_url}/v1/verifications?identity=submitted",
    )


def view(
    state: VerificationState, settings: Settings, url: str | None = None, step: Step | None = None
) -> VerificationsPublic:
    public = public_view(state, datetime.now(UTC), list(settings.verifications_required_to_apply))
    if url and step:
        for item in public.steps:
            if item.step is step:
                item.url = url
    return public


async def command(
    update: str,
    cmd: BaseModel,
    user: UserPublic,
    temporal: Client,
    settings: Settings,
    step: Step,
) -> VerificationsPublic:
    start = WithStartWorkflowOperation(
        VerificationWorkflow.run,
        verification_input(user, settings),
        id=verification_workflow_id(user.id),
        task_queue=settings.temporal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Verification of {user.role} {user.display_name}",
        static_details=f"User `{user.id}` ({user.email}). Steps: email, phone, identity"
        + (", background check" if user.role == "worker" else ""),
        search_attributes=VerificationWorkflow.initial_search_attributes(
            verification_input(user, settings)
        ),
    )
    async with workflow_errors("verification"):
        reply = await temporal.execute_update_with_start_workflow(
            update, cmd, start_workflow_operation=start, result_type=VerificationReply
        )
    return view(reply.state, settings, reply.url, step)


@router.get("", response_model=VerificationsPublic)
async def my_verifications(
    user: CurrentUser, engine: EngineDep, settings: SettingsDep
) -> VerificationsPublic:
    """Every step's status, its deadline and what to do next, in plain words."""
    async with autocommit(engine) as conn:
        stored = (
            await conn.execute(
                sa.select(VERIFICATIONS.c.state).where(VERIFICATIONS.c.user_id == user.id)
            )
        ).scalar()
    if stored is not None:
        state = VerificationState.model_validate(stored)
    else:  # nothing started yet: every step is "not started"
        started = verification_input(user, settings)
        state = VerificationState(
            user_id=user.id,
            role=user.role,
            email_address=user.email,
            display_name=user.display_name,
            policy=started.policy,
        )
    return view(state, settings)


@router.post("/email", response_model=VerificationsPublic, dependencies=[VERIFICATION_LIMIT])
async def request_email_code(
    user: CurrentUser, temporal: TemporalDep, settings: SettingsDep
) -> VerificationsPublic:
    """Emails a 6-digit code to your account's address (good for 10 minutes)."""
    return await command(
        "request_email_code", StepCommand(actor=actor(user)), user, temporal, settings, Step.EMAIL
    )


@router.post(
    "/email/confirm", response_model=VerificationsPublic, dependencies=[VERIFICATION_LIMIT]
)
async def confirm_email(
    body: CodeConfirmation, user: CurrentUser, temporal: TemporalDep, settings: SettingsDep
) -> VerificationsPublic:
    digest = code_digest(settings.verification_code_secret.get_secret_value(), user.id, body.code)
    cmd = ConfirmEmailCode(actor=actor(user), code_digest=digest)
    return await command("confirm_email", cmd, user, temporal, settings, Step.EMAIL)


@router.post("/phone", response_model=VerificationsPublic, dependencies=[VERIFICATION_LIMIT])
async def request_phone_code(
    body: PhoneCodeRequest, user: CurrentUser, temporal: TemporalDep, settings: SettingsDep
) -> VerificationsPublic:
    """Texts a code to the number (E.164, e.g. +15551234567)."""
    cmd = RequestPhoneCode(actor=actor(user), phone_number=body.phone_number)
    return await command("request_phone_code", cmd, user, temporal, settings, Step.PHONE)


@router.post(
    "/phone/confirm", response_model=VerificationsPublic, dependencies=[VERIFICATION_LIMIT]
)
async def confirm_phone(
    body: CodeConfirmation, user: CurrentUser, temporal: TemporalDep, settings: SettingsDep
) -> VerificationsPublic:
    cmd = ConfirmPhoneCode(actor=actor(user), code=body.code)
    return await command("confirm_phone", cmd, user, temporal, settings, Step.PHONE)


@router.post("/identity", response_model=VerificationsPublic, dependencies=[VERIFICATION_LIMIT])
async def start_identity(
    user: CurrentUser, temporal: TemporalDep, settings: SettingsDep
) -> VerificationsPublic:
    """A link to the identity-document check (the `identity` step's `url`: single use, short
    lived — call again for a fresh one while the attempt is open)."""
    return await command(
        "start_identity", StepCommand(actor=actor(user)), user, temporal, settings, Step.IDENTITY
    )


@router.post("/background", response_model=VerificationsPublic, dependencies=[VERIFICATION_LIMIT])
async def start_background_check(
    body: BackgroundCheckStart, user: WorkerUser, temporal: TemporalDep, settings: SettingsDep
) -> VerificationsPublic:
    """Invites you to the background-check provider's form (the `background` step's `url`)."""
    cmd = StartBackgroundCheck(actor=actor(user), **body.model_dump())
    return await command("start_background_check", cmd, user, temporal, settings, Step.BACKGROUND)
