"""Records workflow histories for the replay tests:  python -m tests.replay.record

Run it when a *new* workflow shape is released; keep the old files. The replay test proves
that today's code still replays every recorded history — i.e. running workflows survive a
deploy. A change that breaks replay needs ``workflow.patched(...)`` (see CONVENTIONS.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.temporal import register_search_attributes
from devstack.binaries import temporal_test_server
from models.common import Role
from models.contracts import MilestoneSpec
from models.jobs import Apply, Hire, HireResult, JobCreate, JobPostingInput
from models.payouts import AccountUpdated, PayoutAccountInput
from tests.workflows.conftest import POLICY, World, person, start_contract
from tests.workflows.fakes import FakePayments, FakeStore
from workflows.contract import ContractWorkflow
from workflows.job_posting import JobPostingWorkflow
from workflows.payout_account import PayoutAccountWorkflow

HISTORIES = Path(__file__).parent / "histories"


async def save(handle: WorkflowHandle[Any, Any], name: str) -> None:
    history = await handle.fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
    print(f"recorded {name}: {len(history.events)} events")


async def main() -> None:
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(), data_converter=pydantic_data_converter
    ) as env:
        await register_search_attributes(env.client, "default")
        world = World(env, "replay", FakePayments(), FakeStore(), [])
        async with Worker(
            env.client,
            task_queue=world.task_queue,
            workflows=[JobPostingWorkflow, ContractWorkflow, PayoutAccountWorkflow],
            activities=[*world.payments.all(), *world.store.all()],
        ):
            # A contract's whole life, with a declined card, changes requested and an auto-release.
            c = await start_contract(world, [30_000, 20_000])
            await c.worker.do("accept")
            for n in (1, 2):
                with contextlib.suppress(
                    WorkflowUpdateFailedError
                ):  # the decline is part of the story
                    await c.client.do("fund", milestone=n, payment_method="pm_card_chargeDeclined")
                await c.client.do("fund", milestone=n, payment_method="pm_card_visa")
                await c.worker.do("submit", milestone=n)
            await c.client.do("request_changes", milestone=1, reason="bigger logo")
            await c.worker.do("submit", milestone=1)
            await c.client.do("approve", milestone=1)
            await c.skip(timedelta(days=15))  # milestone 2 auto-releases with reminders
            await c.wait_for(lambda s: s.stage.value == "completed")
            await c.client.do("review", rating=5, comment="great")
            await c.worker.do("review", rating=4, comment="fine")
            await c.handle.result()
            await save(c.handle, "contract_full_life")

            # A job: applications, a hire (child contract), filled.
            client = person(Role.CLIENT)
            job_input = JobPostingInput(
                job_id=uuid.uuid4(),
                client_id=client.user_id,
                created_at=await env.get_current_time(),
                expires_after=timedelta(days=30),
                job=JobCreate(title="Replay job", description="d", budget_cents=10_000),
            )
            job = await env.client.start_workflow(
                JobPostingWorkflow.run,
                job_input,
                id=f"job-{job_input.job_id}",
                task_queue=world.task_queue,
                search_attributes=JobPostingWorkflow.initial_search_attributes(job_input),
            )
            await job.execute_update("publish")
            worker = person(Role.WORKER)
            application_id = uuid.uuid4()
            await job.execute_update(
                "apply",
                Apply(
                    actor=worker,
                    application_id=application_id,
                    cover_letter="hi",
                    verification_level=0,
                ),
            )
            hired = await job.execute_update(
                "hire",
                Hire(
                    actor=client,
                    application_id=application_id,
                    contract_id=uuid.uuid4(),
                    milestones=[MilestoneSpec(title="M", amount_cents=5_000)],
                    policy=POLICY,
                ),
                result_type=HireResult,
            )
            await job.result()
            await save(job, "job_posting_hired")
            await env.client.get_workflow_handle(
                f"contract-{hired.contract.contract_id}"
            ).terminate("recorded")

            # A payout account: created, onboarding link, then ready.
            user_id = uuid.uuid4()
            account = await env.client.start_workflow(
                PayoutAccountWorkflow.run,
                PayoutAccountInput(
                    user_id=user_id,
                    email="w@example.com",
                    return_url="http://x/r",
                    refresh_url="http://x/f",
                ),
                id=f"payout-account-{user_id}",
                task_queue=world.task_queue,
                search_attributes=PayoutAccountWorkflow.initial_search_attributes(user_id),
            )
            await account.execute_update("onboarding_link", person(Role.SUPPORT))
            state = await account.query("state")
            await account.signal(
                "account_updated",
                AccountUpdated(
                    account_id=state["stripe_account_id"]
                    if isinstance(state, dict)
                    else state.stripe_account_id,
                    payouts_enabled=True,
                    details_submitted=True,
                    event_created=1,
                ),
            )
            await asyncio.sleep(1)
            await account.terminate("recorded")
            await save(account, "payout_account_ready")


if __name__ == "__main__":
    asyncio.run(main())
