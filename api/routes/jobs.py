"""Jobs and their applications. Commands go to the job's workflow; reads come from Postgres."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from api.deps import (
    ClientUser,
    CurrentUser,
    EngineDep,
    IdempotencyKey,
    SearchDep,
    SettingsDep,
    TemporalDep,
    WorkerUser,
    actor,
)
from api.errors import Forbidden, NotFound, workflow_errors
from api.idempotency import derived_id, run_once
from api.pagination import Cursor
from api.routes.profiles import Near, Radius, SearchWords, Skills, point, search_query, skills_list
from core.db import autocommit
from core.settings import Settings
from models.common import Role
from models.contracts import ContractPublic
from models.jobs import (
    Application,
    ApplicationCreate,
    ApplicationDecision,
    ApplicationPublic,
    Apply,
    CloseJob,
    Hire,
    HireRequest,
    HireResult,
    JobCreate,
    JobPostingInput,
    JobPostingState,
    JobPublic,
)
from models.money import MAX_CENTS, format_cents
from models.search import JobHitPage, JobQuery, JobSort
from models.tables import APPLICATIONS, JOBS
from workflows.job_posting import JobPostingWorkflow, job_workflow_id

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

# Matching and ranking columns are the database's business, not the API's.
JOB_COLUMNS = [c for c in JOBS.c if c.name not in ("search", "rank_base", "client_standing")]


def posting_start(
    settings: Settings, job_id: uuid.UUID, client_id: uuid.UUID, client_label: str, body: JobCreate
) -> WithStartWorkflowOperation[Any, Any]:
    """The JobPosting workflow's start, as ``POST /v1/jobs`` sends it with ``publish`` (the
    open-workflows bench sends the same)."""
    job_input = JobPostingInput(
        job_id=job_id,
        client_id=client_id,
        job=body,
        created_at=datetime.now(UTC),
        expires_after=settings.job_expiry,
        required_verifications=settings.verifications_required(on_site=body.on_site),
    )
    return WithStartWorkflowOperation(
        JobPostingWorkflow.run,
        job_input,
        id=job_workflow_id(job_id),
        task_queue=settings.temporal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Job “{body.title}” — budget {format_cents(body.budget_cents, body.currency)}",
        static_details=f"Client `{client_id}` ({client_label}); {body.positions} position(s); "
        f"skills: {', '.join(body.skills) or '—'}",
        search_attributes=JobPostingWorkflow.initial_search_attributes(job_input),
    )


@router.post("", status_code=201, response_model=JobPublic)
async def post_job(
    body: JobCreate,
    request: Request,
    user: ClientUser,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    async def publish() -> JobPublic:
        job_id = derived_id(user.id, key, "job")
        start = posting_start(settings, job_id, user.id, user.email, body)
        async with workflow_errors("job"):
            state = await temporal.execute_update_with_start_workflow(
                "publish", start_workflow_operation=start, result_type=JobPostingState
            )
        return JobPublic.from_state(state)

    return await run_once(engine, request, user.id, key, body, 201, publish)


@router.get("", response_model=JobHitPage)
async def search_jobs(
    search: SearchDep,
    q: SearchWords = None,
    skills: Skills = None,
    min_budget: Annotated[int | None, Query(ge=0, le=MAX_CENTS)] = None,
    max_budget: Annotated[int | None, Query(ge=0, le=MAX_CENTS)] = None,
    status: Literal["open", "closed", "all"] = "open",
    near: Near = None,
    radius_km: Radius = None,
    sort: Annotated[
        JobSort | None, Query(description="Default: relevance with words, else newest")
    ] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> JobHitPage:
    """Public job search: words, skills, budget, distance from a point (on-site jobs with a
    location); relevance (docs/search.md has the formula), newest or biggest budget first.
    Pages with `next_cursor`; every job appears once."""
    query: JobQuery = search_query(
        JobQuery,
        q=q,
        skills=skills_list(skills),
        min_budget=min_budget,
        max_budget=max_budget,
        status=status,
        near=point(near),
        radius_km=radius_km,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    return await search.jobs(query)


@router.get("/{job_id}", response_model=JobPublic)
async def get_job(job_id: uuid.UUID, engine: EngineDep) -> JobPublic:
    async with autocommit(engine) as conn:
        row = (
            (await conn.execute(sa.select(*JOB_COLUMNS).where(JOBS.c.id == job_id)))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound("job")
    return JobPublic.from_row(dict(row))


@router.post("/{job_id}/close", response_model=JobPublic)
async def close_job(job_id: uuid.UUID, user: ClientUser, temporal: TemporalDep) -> JobPublic:
    handle = temporal.get_workflow_handle(job_workflow_id(job_id))
    async with workflow_errors("job"):
        state = await handle.execute_update(
            "close", CloseJob(actor=actor(user)), result_type=JobPostingState
        )
    return JobPublic.from_state(state)


@router.post("/{job_id}/applications", status_code=201, response_model=ApplicationPublic)
async def apply_to_job(
    job_id: uuid.UUID, body: ApplicationCreate, user: WorkerUser, temporal: TemporalDep
) -> ApplicationPublic:
    cmd = Apply(
        actor=actor(user),
        application_id=uuid.uuid4(),
        cover_letter=body.cover_letter,
        verification_level=user.verification_level,
        verified_steps=user.verified_steps,
    )
    handle = temporal.get_workflow_handle(job_workflow_id(job_id))
    async with workflow_errors("job"):
        application = await handle.execute_update("apply", cmd, result_type=Application)
    return ApplicationPublic.from_application(application)


@router.get("/{job_id}/applications", response_model=list[ApplicationPublic])
async def list_applications(
    job_id: uuid.UUID, user: CurrentUser, engine: EngineDep
) -> list[ApplicationPublic]:
    """The job's client (and staff) see every application; a worker sees only their own."""
    async with autocommit(engine) as conn:
        client_id = (
            await conn.execute(sa.select(JOBS.c.client_id).where(JOBS.c.id == job_id))
        ).scalar()
        if client_id is None:
            raise NotFound("job")
        query = sa.select(APPLICATIONS).where(APPLICATIONS.c.job_id == job_id)
        if user.id != client_id and not user.role.is_staff:
            if user.role is not Role.WORKER:
                raise Forbidden("only the job's client can see its applications")
            query = query.where(APPLICATIONS.c.worker_id == user.id)
        rows = (await conn.execute(query.order_by(APPLICATIONS.c.applied_at))).mappings()
        return [ApplicationPublic.model_validate(dict(r)) for r in rows]


async def _decide(
    job_id: uuid.UUID,
    application_id: uuid.UUID,
    update: str,
    user: ClientUser,
    temporal: TemporalDep,
) -> ApplicationPublic:
    handle = temporal.get_workflow_handle(job_workflow_id(job_id))
    cmd = ApplicationDecision(actor=actor(user), application_id=application_id)
    async with workflow_errors("job"):
        application = await handle.execute_update(update, cmd, result_type=Application)
    return ApplicationPublic.from_application(application)


@router.post("/{job_id}/applications/{application_id}/shortlist", response_model=ApplicationPublic)
async def shortlist(
    job_id: uuid.UUID, application_id: uuid.UUID, user: ClientUser, temporal: TemporalDep
) -> ApplicationPublic:
    return await _decide(job_id, application_id, "shortlist", user, temporal)


@router.post("/{job_id}/applications/{application_id}/decline", response_model=ApplicationPublic)
async def decline(
    job_id: uuid.UUID, application_id: uuid.UUID, user: ClientUser, temporal: TemporalDep
) -> ApplicationPublic:
    return await _decide(job_id, application_id, "decline", user, temporal)


@router.post(
    "/{job_id}/applications/{application_id}/hire", status_code=201, response_model=ContractPublic
)
async def hire(
    job_id: uuid.UUID,
    application_id: uuid.UUID,
    body: HireRequest,
    request: Request,
    user: ClientUser,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """Hires the applicant with 1..n milestones: starts the contract and sends the offer."""

    async def make_offer() -> ContractPublic:
        cmd = Hire(
            actor=actor(user),
            application_id=application_id,
            contract_id=derived_id(user.id, key, f"hire:{application_id}"),
            milestones=body.milestones,
            policy=settings.contract_policy(),
        )
        handle = temporal.get_workflow_handle(job_workflow_id(job_id))
        async with workflow_errors("job"):
            result = await handle.execute_update("hire", cmd, result_type=HireResult)
        return ContractPublic.from_state(result.contract)

    return await run_once(engine, request, user.id, key, body, 201, make_offer)
