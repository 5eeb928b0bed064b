"""Records workflow histories for the replay tests:

    python -m tests.replay.record                  every scenario whose file is missing
    python -m tests.replay.record NAME [NAME …]     just these (overwriting them)

Record when a *new* workflow shape is released, under a new name; keep the old files. The
replay test proves that today's code still replays every recorded history — i.e. running
workflows survive a deploy. A change that breaks replay needs ``workflow.patched(...)``
(see CONVENTIONS.md): ``contract_full_life`` predates the email/SMS notices patch,
``contract_life_with_notices`` follows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import Awaitable, Callable
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
from models.payouts import AccountUpdated, PayoutAccountInput, PayoutAccountState
from models.verification import (
    Adjudicate,
    ConfirmPhoneCode,
    RequestPhoneCode,
    StartBackgroundCheck,
)
from tests.workflows.conftest import (
    POLICY,
    SUPPORT,
    WORKFLOWS,
    World,
    person,
    settled,
    start_contract,
)
from tests.workflows.fakes import FakePayments, FakeStore
from workflows.job_posting import JobPostingWorkflow
from workflows.payout_account import PayoutAccountWorkflow

HISTORIES = Path(__file__).parent / "histories"


async def save(handle: WorkflowHandle[Any, Any], name: str) -> None:
    history = await handle.fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
    print(f"recorded {name}: {len(history.events)} events")


async def contract_life(world: World) -> WorkflowHandle[Any, Any]:
    """A contract's whole life, with a declined card, changes requested and an auto-release."""
    c = await start_contract(world, [30_000, 20_000])
    await c.worker.do("accept")
    for n in (1, 2):
        with contextlib.suppress(WorkflowUpdateFailedError):  # the decline is part of the story
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
    return c.handle


async def contract_disputed(world: World) -> WorkflowHandle[Any, Any]:
    """A dispute split by support (the resolution notice is new with the notices patch)."""
    c = await start_contract(world, [40_000])
    await c.worker.do("accept")
    await c.client.do("fund", milestone=1, payment_method="pm_card_visa")
    await c.worker.do("submit", milestone=1)
    await c.client.do("dispute", reason="not what we agreed")
    await c.support.do("resolve_dispute", release_cents=10_000, refund_cents=30_000)
    await c.wait_for(lambda s: s.stage.value == "completed")
    await settled(c.handle)
    await c.handle.terminate("recorded")
    return c.handle


async def contract_support_actions(world: World) -> WorkflowHandle[Any, Any]:
    """Every support action (issue 11): deadlines extended, a note, one milestone released
    and one refunded by support, a notice resent, the NeedsSupport flag cleared."""
    from models import support as s

    def cmd(model: type[s.SupportCommand], **fields: Any) -> s.SupportCommand:
        return model(actor=SUPPORT, reason="recorded for the replay test", **fields)

    async def act(name: str, command: s.SupportCommand) -> None:
        await c.handle.execute_update(name, command)

    c = await start_contract(world, [30_000, 20_000, 10_000])
    offer = s.Deadline.OFFER
    await act("extend_deadline", cmd(s.ExtendDeadline, which=offer, by=timedelta(days=1)))
    await c.worker.do("accept")
    funding = s.Deadline.FUNDING
    await act("extend_deadline", cmd(s.ExtendDeadline, which=funding, by=timedelta(days=2)))
    for n in (1, 2, 3):
        await c.client.do("fund", milestone=n, payment_method="pm_card_visa")
    await act("add_note", cmd(s.AddNote, note="client prefers email"))
    await act("release_milestone", cmd(s.SupportMilestoneCommand, milestone=1))
    await c.worker.do("submit", milestone=2)
    await act(
        "extend_deadline",
        cmd(s.ExtendDeadline, which=s.Deadline.AUTO_RELEASE, milestone=2, by=timedelta(days=2)),
    )
    await act("refund_milestone", cmd(s.SupportMilestoneCommand, milestone=3))
    await act("resend_notification", cmd(s.ResendNotification, notice="offer"))
    await c.handle.signal("reconciliation_mismatch", "recorded mismatch")
    await c.wait_for(lambda st: st.needs_support)
    await act("clear_needs_support", cmd(s.ClearNeedsSupport))
    await c.skip(timedelta(days=17))  # milestone 2 auto-releases at the extended date
    await c.wait_for(lambda st: st.stage.value == "completed")
    window = s.Deadline.REVIEW_WINDOW
    await act("extend_deadline", cmd(s.ExtendDeadline, which=window, by=timedelta(days=1)))
    await c.client.do("review", rating=5, comment="great")
    await c.worker.do("review", rating=4, comment="fine")
    await c.handle.result()
    return c.handle


async def job_posting_hired(world: World) -> WorkflowHandle[Any, Any]:
    """A job: an application, a hire (child contract), filled."""
    env = world.env
    client = person(Role.CLIENT)
    job_input = JobPostingInput(
        job_id=uuid.uuid4(),
        client_id=client.user_id,
        created_at=await env.get_current_time(),
        expires_after=timedelta(days=30),
        required_verifications=["email", "phone", "identity"],
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
            verification_level=3,
            verified_steps=["email", "phone", "identity"],
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
    contract = env.client.get_workflow_handle(f"contract-{hired.contract.contract_id}")
    await settled(contract)
    await contract.terminate("recorded")
    return job


async def payout_account_ready(world: World) -> WorkflowHandle[Any, Any]:
    """A payout account: created, onboarding link, then ready."""
    user_id = uuid.uuid4()
    account = await world.env.client.start_workflow(
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
    state = await account.query("state", result_type=PayoutAccountState)
    await account.signal(
        "account_updated",
        AccountUpdated(
            account_id=state.stripe_account_id or "",
            payouts_enabled=True,
            details_submitted=True,
            event_created=1,
        ),
    )
    await asyncio.sleep(1)
    await settled(account)
    await account.terminate("recorded")
    return account


async def verification_all_steps(world: World) -> WorkflowHandle[Any, Any]:
    """Email (a wrong code, then the right one), phone, identity (a failed document, a
    reminder, then verified) and a background report support rejects."""
    from tests.workflows import test_verification as tv

    v = await tv.start(world)
    code = await v.email_code()
    with contextlib.suppress(WorkflowUpdateFailedError):
        await v.confirm_email("000000" if code != "000000" else "111111")
    await v.confirm_email(code)
    number = "+14155550199"
    await v.do("request_phone_code", RequestPhoneCode(actor=v.actor, phone_number=number))
    phone_code = world.providers.phone_codes[number]
    await v.do("confirm_phone", ConfirmPhoneCode(actor=v.actor, code=phone_code))
    started = await v.do("start_identity", v.cmd())
    session = started.state.identity.session_id or ""
    await v.handle.signal(
        "identity_session_updated",
        tv.identity_update(session, "requires_input", 5, last_error_reason="Unreadable."),
    )
    await v.wait_for(lambda s: s.identity.status.value == "action_required")
    await v.skip(timedelta(days=1, minutes=1))
    await v.count_notices("identity-reminder", 1)
    await v.do("start_identity", v.cmd())
    await v.handle.signal("identity_session_updated", tv.identity_update(session, "verified", 9))
    check = await v.do(
        "start_background_check",
        StartBackgroundCheck(actor=v.actor, first_name="Wes", last_name="Baker"),
    )
    candidate = check.state.background.candidate_id or ""
    await v.handle.signal(
        "background_check_updated", tv.check_update(candidate, "invitation.completed")
    )
    await tv.consider(v, candidate)
    await v.do(
        "adjudicate", Adjudicate(actor=SUPPORT, decision="reject", reason="recent conviction")
    )
    await settled(v.handle)
    await v.handle.terminate("recorded")
    return v.handle


async def verification_identity_gave_up(world: World) -> WorkflowHandle[Any, Any]:
    """An identity check nobody finishes: reminders at 1 and 3 days, closed at 7."""
    from tests.workflows import test_verification as tv

    v = await tv.start(world, Role.CLIENT)
    await v.do("start_identity", v.cmd())
    await v.skip(timedelta(days=7, minutes=1))
    await v.wait_for(lambda s: s.identity.status.value == "gave_up")
    await settled(v.handle)
    await v.handle.terminate("recorded")
    return v.handle


SCENARIOS: dict[str, Callable[[World], Awaitable[WorkflowHandle[Any, Any]]]] = {
    "contract_life_with_notices": contract_life,
    "contract_disputed_with_notices": contract_disputed,
    "contract_support_actions": contract_support_actions,
    "job_posting_hired_with_notices": job_posting_hired,
    "job_posting_published_when_saved": job_posting_hired,  # after patch publish-when-saved
    "payout_account_ready": payout_account_ready,
    "verification_all_steps": verification_all_steps,
    "verification_identity_gave_up": verification_identity_gave_up,
}


async def main(names: list[str]) -> None:
    wanted = names or [n for n in SCENARIOS if not (HISTORIES / f"{n}.json").exists()]
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(), data_converter=pydantic_data_converter
    ) as env:
        await register_search_attributes(env.client, "default")
        world = World(env, "replay", FakePayments(), FakeStore(), [])
        async with Worker(
            env.client,
            task_queue=world.task_queue,
            workflows=WORKFLOWS,
            activities=world.activities(),
        ):
            for name in wanted:
                await save(await SCENARIOS[name](world), name)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
