"""A job posting: applications, hiring (which starts the contract), closing and expiry."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from models.common import Actor, Role
from models.contracts import ContractStage, ContractState, MilestoneSpec
from models.errors import Rejection
from models.jobs import (
    Application,
    ApplicationDecision,
    ApplicationStatus,
    Apply,
    CloseJob,
    CloseReason,
    Hire,
    HireResult,
    JobCreate,
    JobPostingInput,
    JobPostingState,
    JobStatus,
)
from tests.workflows.conftest import POLICY, World, person, rejected
from workflows.job_posting import JobPostingWorkflow


async def post_job(
    world: World,
    client: Actor,
    *,
    positions: int = 1,
    min_level: int = 0,
    expires_after: timedelta = timedelta(days=30),
) -> WorkflowHandle[Any, Any]:
    job_input = JobPostingInput(
        job_id=uuid.uuid4(),
        client_id=client.user_id,
        created_at=await world.env.get_current_time(),
        expires_after=expires_after,
        min_verification_level=min_level,
        job=JobCreate(
            title="Logo for a bakery",
            description="Warm, hand-drawn.",
            skills=["Design"],
            budget_cents=80_000,
            positions=positions,
        ),
    )
    world.track(f"job-{job_input.job_id}")
    handle = await world.client.start_workflow(
        JobPostingWorkflow.run,
        job_input,
        id=f"job-{job_input.job_id}",
        task_queue=world.task_queue,
        search_attributes=JobPostingWorkflow.initial_search_attributes(job_input),
    )
    published = await handle.execute_update("publish", result_type=JobPostingState)
    assert published.version >= 1
    return handle


async def apply(handle: WorkflowHandle[Any, Any], worker: Actor, level: int = 0) -> Application:
    cmd = Apply(
        actor=worker,
        application_id=uuid.uuid4(),
        cover_letter="I love bread",
        verification_level=level,
    )
    return await handle.execute_update("apply", cmd, result_type=Application)


def hire(client: Actor, application: Application, *amounts: int) -> Hire:
    return Hire(
        actor=client,
        application_id=application.application_id,
        contract_id=uuid.uuid4(),
        milestones=[MilestoneSpec(title=f"M{i}", amount_cents=a) for i, a in enumerate(amounts, 1)],
        policy=POLICY,
    )


async def test_hiring_starts_the_contract_and_fills_the_job(world: World) -> None:
    client, worker = person(Role.CLIENT), person(Role.WORKER)
    job = await post_job(world, client)
    application = await apply(job, worker)
    assert application.status is ApplicationStatus.APPLIED

    result = await job.execute_update(
        "hire", hire(client, application, 30_000, 50_000), result_type=HireResult
    )
    assert result.job.status is JobStatus.CLOSED and result.job.close_reason is CloseReason.FILLED
    assert result.contract.stage is ContractStage.OFFERED and result.contract.total_cents == 80_000

    world.track(f"contract-{result.contract.contract_id}")
    contract = world.client.get_workflow_handle(f"contract-{result.contract.contract_id}")
    state = await contract.query("state", result_type=ContractState)
    assert state.worker_id == worker.user_id and state.client_id == client.user_id
    # The job finished but the contract lives on (parent-close policy ABANDON).
    # (Queried, not awaited: awaiting the result of a workflow that started a child leaves the
    # time-skipping test server's clock locked for the following tests.)
    finished = await job.query("state", result_type=JobPostingState)
    assert finished.hired_count == 1 and (await job.describe()).status.name == "COMPLETED"  # type: ignore[union-attr]
    assert (await contract.describe()).status.name == "RUNNING"  # type: ignore[union-attr]
    assert world.store.jobs[state.job_id].status is JobStatus.CLOSED


async def test_apply_validator_rejects_closed_duplicate_unverified_and_wrong_role(
    world: World,
) -> None:
    client, worker = person(Role.CLIENT), person(Role.WORKER)
    job = await post_job(world, client, min_level=1, positions=2)

    assert (await rejected(apply(job, worker, level=0))).type == Rejection.NOT_VERIFIED
    await apply(job, worker, level=1)
    assert (
        await rejected(apply(job, worker, level=1))
    ).type == Rejection.INVALID_STATE  # duplicate
    assert (await rejected(apply(job, person(Role.CLIENT), level=1))).type == Rejection.FORBIDDEN
    own = Actor(user_id=client.user_id, role=Role.WORKER)
    assert (await rejected(apply(job, own, level=1))).type == Rejection.FORBIDDEN  # own job

    closed = await job.execute_update("close", CloseJob(actor=client), result_type=JobPostingState)
    assert closed.status is JobStatus.CLOSED
    final = await job.result()  # a closed job's workflow ends: it takes no more applications
    with pytest.raises(RPCError):
        await apply(job, person(Role.WORKER), level=1)
    assert final.close_reason is CloseReason.BY_CLIENT and len(final.applications) == 1


async def test_only_the_owner_decides_and_a_declined_application_cannot_be_hired(
    world: World,
) -> None:
    client, worker = person(Role.CLIENT), person(Role.WORKER)
    job = await post_job(world, client)
    application = await apply(job, worker)
    stranger = person(Role.CLIENT)
    decision = ApplicationDecision(actor=stranger, application_id=application.application_id)
    assert (await rejected(job.execute_update("shortlist", decision))).type == Rejection.FORBIDDEN

    shortlisted = await job.execute_update(
        "shortlist",
        ApplicationDecision(actor=client, application_id=application.application_id),
        result_type=Application,
    )
    assert shortlisted.status is ApplicationStatus.SHORTLISTED
    await job.execute_update(
        "decline", ApplicationDecision(actor=client, application_id=application.application_id)
    )
    err = await rejected(job.execute_update("hire", hire(client, application, 10_000)))
    assert err.type == Rejection.INVALID_STATE
    missing = ApplicationDecision(actor=client, application_id=uuid.uuid4())
    assert (await rejected(job.execute_update("decline", missing))).type == Rejection.NOT_FOUND


async def test_an_unfilled_job_expires_after_thirty_days(world: World) -> None:
    job = await post_job(world, person(Role.CLIENT))
    await apply(job, person(Role.WORKER))
    final = await job.result()  # time skips to the expiry timer
    assert final.status is JobStatus.CLOSED and final.close_reason is CloseReason.EXPIRED
    assert final.closed_at is not None and final.closed_at >= final.expires_at
    assert world.store.jobs[final.job_id].close_reason is CloseReason.EXPIRED
