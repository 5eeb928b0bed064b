"""Workflow tests: the real workflows on Temporal's time-skipping test server, with the
activities replaced by in-memory fakes registered under the real activity names."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.temporal import register_search_attributes
from devstack.binaries import temporal_test_server
from models.common import Actor, Role
from models.contracts import (
    ContractCommand,
    ContractInput,
    ContractPolicy,
    ContractState,
    MilestoneSpec,
)
from models.payouts import PayoutAccountState, PayoutAccountStatus
from tests.conftest import eventually, start_in_three_tries
from tests.workflows.fakes import (
    FakeNotifications,
    FakePayments,
    FakeStore,
    FakeVerificationProviders,
)
from workflows.contract import ContractWorkflow
from workflows.job_posting import JobPostingWorkflow
from workflows.payout_account import PayoutAccountWorkflow
from workflows.verification import VerificationWorkflow

WORKFLOWS = [JobPostingWorkflow, ContractWorkflow, PayoutAccountWorkflow, VerificationWorkflow]

POLICY = ContractPolicy(
    platform_fee_bps=1000,
    offer_ttl=timedelta(hours=72),
    funding_deadline=timedelta(days=7),
    auto_release_after=timedelta(days=14),
    approval_reminders=[timedelta(days=5), timedelta(days=13)],
    review_window=timedelta(days=7),
    payout_account_reminder_every=timedelta(days=7),
    payout_account_support_after=timedelta(days=90),
)


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    # Like the dev server (tests/conftest.py): a cold first start on a loaded machine took
    # over the SDK's 5 s once and errored all 61 workflow tests.
    started = await start_in_three_tries(
        lambda: WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=temporal_test_server(),
            data_converter=pydantic_data_converter,
        )
    )
    async with started as env:
        await register_search_attributes(env.client, "default")
        yield env


@dataclass
class World:
    """One test's Temporal world: a worker on its own task queue and the fakes behind it."""

    env: WorkflowEnvironment
    task_queue: str
    payments: FakePayments
    store: FakeStore
    started: list[str]
    notifications: FakeNotifications = field(default_factory=FakeNotifications)
    providers: FakeVerificationProviders = field(default_factory=FakeVerificationProviders)

    def activities(self) -> list[Any]:
        return [
            *self.payments.all(),
            *self.store.all(),
            *self.notifications.all(),
            *self.providers.all(),
        ]

    def track(self, workflow_id: str) -> None:
        """Workflows still running at the end of the test are terminated: on the shared
        time-skipping server, a timer firing for a workflow whose worker is gone would
        otherwise stall time for every later test."""
        self.started.append(workflow_id)

    @property
    def client(self) -> Client:
        return self.env.client


@pytest.fixture
async def world(env: WorkflowEnvironment) -> AsyncIterator[World]:
    w = World(env, f"tq-{uuid.uuid4()}", FakePayments(), FakeStore(), [])
    async with Worker(
        env.client,
        task_queue=w.task_queue,
        workflows=WORKFLOWS,
        activities=w.activities(),
    ):
        try:
            yield w
        finally:
            for workflow_id in w.started:
                handle = env.client.get_workflow_handle(workflow_id)
                await settled(handle)
                with contextlib.suppress(RPCError):
                    await handle.terminate("test over")


_BUSY = {EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED}


async def settled(handle: WorkflowHandle[Any, Any], timeout: float = 5.0) -> None:
    """Waits until the workflow has no workflow task and no activity in flight.

    The time-skipping server holds its time lock while a workflow task or an activity is
    being worked on, and never releases it if the workflow is terminated meanwhile: every
    later `sleep` in the session would stall. Tests end right after a command and notices
    are sent in the background, so that moment is common; wait it out before terminating
    (and before skipping time, which can also leave the lock unbalanced, sdk-java#2246)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pending = (await handle.describe()).raw_description.pending_activities
            events = (await handle.fetch_history()).events
        except RPCError:
            return
        if not pending and (not events or events[-1].event_type not in _BUSY):
            return
        await asyncio.sleep(0.02)


def person(role: Role) -> Actor:
    return Actor(user_id=uuid.uuid4(), role=role)


SUPPORT = person(Role.SUPPORT)


class ContractParty:
    """Sends commands to a contract as one person, the way the API does."""

    def __init__(self, handle: WorkflowHandle[Any, Any], actor: Actor) -> None:
        self.handle, self.actor = handle, actor

    async def do(self, update: str, **fields: Any) -> ContractState:
        from models import contracts as c

        body = {
            "accept": c.ContractCommand,
            "decline": c.DeclineOffer,
            "fund": c.FundMilestone,
            "submit": c.SubmitMilestone,
            "approve": c.MilestoneCommand,
            "request_changes": c.RequestChanges,
            "cancel": c.CancelContract,
            "dispute": c.OpenDispute,
            "resolve_dispute": c.ResolveDispute,
            "review": c.SubmitReview,
            "resume_after_support": ContractCommand,
        }[update](actor=self.actor, **fields)
        return await self.handle.execute_update(update, body, result_type=ContractState)


@dataclass
class ContractCase:
    world: World
    handle: WorkflowHandle[Any, Any]
    input: ContractInput
    client: ContractParty
    worker: ContractParty
    support: ContractParty

    async def state(self) -> ContractState:
        return await self.handle.query("state", result_type=ContractState)

    async def wait_for(self, predicate: Any, timeout: float = 15.0) -> ContractState:
        return await eventually(self.state, predicate, timeout=timeout)

    async def skip(self, duration: timedelta) -> None:
        await settled(self.handle)
        await self.world.env.sleep(duration)

    @property
    def id(self) -> str:
        return self.handle.id


async def start_contract(
    world: World,
    amounts: list[int],
    *,
    payout_ready: bool = True,
    policy: ContractPolicy = POLICY,
) -> ContractCase:
    client, worker = person(Role.CLIENT), person(Role.WORKER)
    if payout_ready:
        world.store.payout_accounts[worker.user_id] = PayoutAccountState(
            user_id=worker.user_id,
            email="w@example.com",
            country="US",
            status=PayoutAccountStatus.READY,
            stripe_account_id=f"acct_{worker.user_id.hex[:8]}",
            payouts_enabled=True,
            version=1,
        )
    now = await world.env.get_current_time()
    contract_input = ContractInput(
        contract_id=uuid.uuid4(),
        job_id=uuid.uuid4(),
        application_id=uuid.uuid4(),
        client_id=client.user_id,
        worker_id=worker.user_id,
        job_title="Build a landing page",
        currency="usd",
        policy=policy,
        offered_at=now,
        milestones=[
            MilestoneSpec(title=f"Part {i}", amount_cents=a) for i, a in enumerate(amounts, 1)
        ],
    )
    world.track(f"contract-{contract_input.contract_id}")
    handle = await world.client.start_workflow(
        ContractWorkflow.run,
        contract_input,
        id=f"contract-{contract_input.contract_id}",
        task_queue=world.task_queue,
        search_attributes=ContractWorkflow.initial_search_attributes(contract_input),
    )
    return ContractCase(
        world,
        handle,
        contract_input,
        ContractParty(handle, client),
        ContractParty(handle, worker),
        ContractParty(handle, SUPPORT),
    )


async def rejected(awaitable: Any) -> ApplicationError:
    """Awaits a command that must be rejected; returns the workflow's ApplicationError."""
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await awaitable
    cause = info.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause
