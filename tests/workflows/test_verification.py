"""A person's verification on the time-skipping server: codes that expire, lock and are
rate-limited; identity reminders and the 7-day give-up; a background report that support
adjudicates. Providers are in-memory fakes under the real activity names."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError

from core.verification_codes import code_digest
from models.common import Actor, Role
from models.errors import Rejection
from models.verification import (
    Adjudicate,
    BackgroundCheckUpdate,
    ConfirmEmailCode,
    ConfirmPhoneCode,
    IdentitySessionUpdate,
    RequestPhoneCode,
    StartBackgroundCheck,
    StepCommand,
    StepStatus,
    VerificationInput,
    VerificationPolicy,
    VerificationReply,
    VerificationState,
)
from tests.conftest import eventually
from tests.workflows.conftest import SUPPORT, World, person, rejected, settled
from tests.workflows.fakes import CODE_SECRET
from workflows.verification import VerificationWorkflow, verification_workflow_id

POLICY = VerificationPolicy()  # 10 min codes, 5 tries, 30 s cooldown, 5 an hour, 1 d/3 d/7 d


@dataclass
class Verifying:
    world: World
    handle: WorkflowHandle[Any, Any]
    actor: Actor

    async def do(self, update: str, body: Any) -> VerificationReply:
        return await self.handle.execute_update(update, body, result_type=VerificationReply)

    async def state(self) -> VerificationState:
        return await self.handle.query("state", result_type=VerificationState)

    async def wait_for(self, predicate: Any) -> VerificationState:
        return await eventually(self.state, predicate)

    async def skip(self, duration: timedelta) -> None:
        await settled(self.handle)
        await self.world.env.sleep(duration)

    def cmd(self) -> StepCommand:
        return StepCommand(actor=self.actor)

    async def email_code(self) -> str:
        await self.do("request_email_code", self.cmd())
        return self.world.providers.last_email_code(self.actor.user_id)

    async def confirm_email(self, code: str) -> VerificationReply:
        digest = code_digest(CODE_SECRET, self.actor.user_id, code)
        return await self.do(
            "confirm_email", ConfirmEmailCode(actor=self.actor, code_digest=digest)
        )

    def notices(self, kind: str) -> list[Any]:
        return self.world.store.notices(kind, self.actor.user_id)

    async def count_notices(self, kind: str, count: int) -> None:
        async def found() -> list[Any]:
            return self.notices(kind)

        await eventually(found, lambda n: len(n) == count)


async def start(world: World, role: Role = Role.WORKER) -> Verifying:
    actor = person(role)
    verification_input = VerificationInput(
        user_id=actor.user_id,
        role=role,
        email_address=f"{actor.user_id.hex[:8]}@example.com",
        display_name="Wes",
        policy=POLICY,
        identity_return_url="https://tempwork.example/v1/verifications",
    )
    workflow_id = verification_workflow_id(actor.user_id)
    world.track(workflow_id)
    handle = await world.client.start_workflow(
        VerificationWorkflow.run,
        verification_input,
        id=workflow_id,
        task_queue=world.task_queue,
        search_attributes=VerificationWorkflow.initial_search_attributes(verification_input),
    )
    return Verifying(world, handle, actor)


def detail(error: ApplicationError, name: str) -> Any:
    return error.details[0][name]


# --- email ---------------------------------------------------------------------------------


async def test_the_right_email_code_verifies_and_is_projected(world: World) -> None:
    v = await start(world)
    code = await v.email_code()
    reply = await v.confirm_email(code)
    assert reply.state.email.status is StepStatus.VERIFIED
    projected = world.store.verifications[v.actor.user_id]
    assert projected.verified_steps == ["email"] and projected.level == 1
    # The code never entered history: only its keyed digest did.
    history = (await v.handle.fetch_history()).to_json()
    assert code not in history


async def test_an_email_code_expires_after_ten_minutes(world: World) -> None:
    v = await start(world)
    code = await v.email_code()
    await v.skip(timedelta(minutes=9))
    assert (await v.state()).email.status is StepStatus.CODE_SENT
    await v.skip(timedelta(minutes=1, seconds=1))
    await v.wait_for(lambda s: s.email.status is StepStatus.EXPIRED)
    error = await rejected(v.confirm_email(code))
    assert error.type == Rejection.CODE_EXPIRED


async def test_five_wrong_codes_lock_it_and_a_new_code_works(world: World) -> None:
    v = await start(world)
    code = await v.email_code()
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        error = await rejected(v.confirm_email(wrong))
        assert error.type == Rejection.WRONG_CODE and detail(error, "attempts_left") == left
    assert (await rejected(v.confirm_email(wrong))).type == Rejection.CODE_LOCKED
    assert (await v.state()).email.status is StepStatus.LOCKED
    # Even the right code is refused now: the validator answers, nothing enters history.
    assert (await rejected(v.confirm_email(code))).type == Rejection.CODE_LOCKED
    await v.skip(timedelta(seconds=31))
    fresh = await v.email_code()
    assert fresh != code or world.providers.email_sends == 2
    assert (await v.confirm_email(fresh)).state.email.status is StepStatus.VERIFIED


async def test_resend_cooldown_and_hourly_cap(world: World) -> None:
    v = await start(world)
    await v.email_code()
    too_soon = await rejected(v.do("request_email_code", v.cmd()))
    assert too_soon.type == Rejection.TOO_MANY_REQUESTS
    assert 0 < detail(too_soon, "retry_after_seconds") <= 30
    for _ in range(4):  # sends 2..5, each after the cooldown
        await v.skip(timedelta(seconds=31))
        await v.email_code()
    await v.skip(timedelta(seconds=31))
    capped = await rejected(v.do("request_email_code", v.cmd()))
    assert capped.type == Rejection.TOO_MANY_REQUESTS and "an hour" in capped.message
    # The first send leaves the window ~58 min after it was made.
    assert 55 * 60 < detail(capped, "retry_after_seconds") <= 60 * 60
    assert world.providers.email_sends == 5
    await v.skip(timedelta(seconds=detail(capped, "retry_after_seconds") + 1))
    await v.email_code()
    assert world.providers.email_sends == 6


async def test_only_the_person_may_verify_themselves(world: World) -> None:
    v = await start(world)
    stranger = StepCommand(actor=person(Role.WORKER))
    assert (await rejected(v.do("request_email_code", stranger))).type == Rejection.FORBIDDEN
    assert (
        await rejected(v.do("confirm_email", ConfirmEmailCode(actor=v.actor, code_digest="x")))
    ).type == Rejection.INVALID_STATE  # nothing sent yet


# --- phone ---------------------------------------------------------------------------------


async def test_a_phone_is_verified_with_twilio_verify(world: World) -> None:
    v = await start(world)
    number = "+14155550100"
    await v.do("request_phone_code", RequestPhoneCode(actor=v.actor, phone_number=number))
    code = world.providers.phone_codes[number]
    wrong = await rejected(v.do("confirm_phone", ConfirmPhoneCode(actor=v.actor, code="999999")))
    assert wrong.type == Rejection.WRONG_CODE and detail(wrong, "attempts_left") == 4
    reply = await v.do("confirm_phone", ConfirmPhoneCode(actor=v.actor, code=code))
    assert reply.state.phone.status is StepStatus.VERIFIED
    assert reply.state.phone.destination == number


async def test_an_invalid_number_is_refused_without_using_a_send(world: World) -> None:
    v = await start(world)
    error = await rejected(
        v.do("request_phone_code", RequestPhoneCode(actor=v.actor, phone_number="+15005550001"))
    )
    assert error.type == Rejection.INVALID_PHONE
    state = await v.state()
    assert state.phone.status is StepStatus.NOT_STARTED and state.phone.sends == []


async def test_twilio_counting_more_wrong_checks_locks_the_code(world: World) -> None:
    v = await start(world)
    number = "+14155550101"
    await v.do("request_phone_code", RequestPhoneCode(actor=v.actor, phone_number=number))
    world.providers.phone_checks[number] = 5  # e.g. checks made before a workflow reset
    error = await rejected(v.do("confirm_phone", ConfirmPhoneCode(actor=v.actor, code="1111")))
    assert error.type == Rejection.CODE_LOCKED
    assert (await v.state()).phone.status is StepStatus.LOCKED
    # A new code cancels the locked Twilio verification first.
    await v.skip(timedelta(seconds=31))
    reply = await v.do("request_phone_code", RequestPhoneCode(actor=v.actor, phone_number=number))
    assert world.providers.canceled_verifications and reply.state.phone.wrong_attempts == 0


# --- identity ------------------------------------------------------------------------------


def identity_update(session_id: str, status: str, at: int, **kw: Any) -> IdentitySessionUpdate:
    return IdentitySessionUpdate.model_validate(
        {"session_id": session_id, "status": status, "event_created": at, **kw}
    )


async def test_identity_reminders_at_one_and_three_days_then_gives_up_at_seven(
    world: World,
) -> None:
    v = await start(world)
    reply = await v.do("start_identity", v.cmd())
    assert reply.url and reply.state.identity.status is StepStatus.WAITING_FOR_USER
    session_id = reply.state.identity.session_id
    assert session_id
    await v.skip(timedelta(hours=23))
    assert v.notices("identity-reminder") == []
    await v.skip(timedelta(hours=1, minutes=1))
    await v.count_notices("identity-reminder", 1)
    await v.skip(timedelta(days=2))
    await v.count_notices("identity-reminder", 2)
    await v.skip(timedelta(days=4))
    state = await v.wait_for(lambda s: s.identity.status is StepStatus.GAVE_UP)
    assert world.providers.sessions[session_id]["status"] == "canceled"
    await v.count_notices("identity-gave-up", 1)
    assert state.identity.reminders_sent == 2
    # Reminders went out by email too, once each.
    await settled(v.handle)
    assert world.notifications.kinds(v.actor.user_id).count("identity-reminder") == 2


async def test_identity_verified_by_webhook_in_any_order(world: World) -> None:
    v = await start(world)
    reply = await v.do("start_identity", v.cmd())
    session_id = reply.state.identity.session_id
    assert session_id
    await v.handle.signal("identity_session_updated", identity_update(session_id, "verified", 20))
    await v.handle.signal(
        "identity_session_updated", identity_update(session_id, "processing", 20)
    )  # late, same second: must not undo "verified"
    await v.handle.signal("identity_session_updated", identity_update(session_id, "verified", 20))
    state = await v.wait_for(lambda s: s.identity.status is StepStatus.VERIFIED)
    await v.skip(timedelta(days=8))  # no reminder, no give-up once verified
    assert (await v.state()).identity.status is StepStatus.VERIFIED
    await v.count_notices("identity-verified", 1)
    assert v.notices("identity-reminder") == []
    assert state.verified_steps == ["identity"]


async def test_a_failed_document_asks_for_another_try_with_a_fresh_link(world: World) -> None:
    v = await start(world)
    first = await v.do("start_identity", v.cmd())
    session_id = first.state.identity.session_id
    assert session_id
    await v.handle.signal(
        "identity_session_updated",
        identity_update(
            session_id,
            "requires_input",
            30,
            last_error_code="document_expired",
            last_error_reason="The document is expired.",
        ),
    )
    state = await v.wait_for(lambda s: s.identity.status is StepStatus.ACTION_REQUIRED)
    assert state.identity.last_error == "The document is expired."
    again = await v.do("start_identity", v.cmd())
    assert again.url and again.url != first.url
    assert again.state.identity.session_id == session_id and again.state.identity.attempt == 1


# --- background check ----------------------------------------------------------------------


def check_update(candidate: str, event: str, **kw: Any) -> BackgroundCheckUpdate:
    return BackgroundCheckUpdate(event_type=event, candidate_id=candidate, **kw)


async def started_check(world: World) -> tuple[Verifying, str]:
    v = await start(world)
    reply = await v.do(
        "start_background_check",
        StartBackgroundCheck(actor=v.actor, first_name="Wes", last_name="Baker"),
    )
    assert reply.url and reply.state.background.status is StepStatus.WAITING_FOR_USER
    candidate = reply.state.background.candidate_id
    assert candidate
    await v.handle.signal(
        "background_check_updated", check_update(candidate, "invitation.completed")
    )
    return v, candidate


async def consider(v: Verifying, candidate: str) -> VerificationState:
    await v.handle.signal(
        "background_check_updated",
        check_update(candidate, "report.completed", report_id="rpt_1", result="consider"),
    )
    return await v.wait_for(lambda s: s.background.status is StepStatus.NEEDS_REVIEW)


async def test_a_clear_report_verifies_the_background_step(world: World) -> None:
    v, candidate = await started_check(world)
    await v.handle.signal(
        "background_check_updated",
        check_update(candidate, "report.completed", report_id="rpt_0", result="clear"),
    )
    state = await v.wait_for(lambda s: s.background.status is StepStatus.VERIFIED)
    assert not state.needs_support
    await v.count_notices("background-passed", 1)


async def test_consider_waits_for_support_who_approves(world: World) -> None:
    v, candidate = await started_check(world)
    state = await consider(v, candidate)
    assert state.needs_support and "consider" in (state.support_reason or "")
    described = await v.handle.describe()
    assert described.typed_search_attributes  # NeedsSupport is searchable for support
    worker_try = Adjudicate(actor=v.actor, decision="approve", reason="it is me")
    assert (await rejected(v.do("adjudicate", worker_try))).type == Rejection.FORBIDDEN
    reply = await v.do(
        "adjudicate", Adjudicate(actor=SUPPORT, decision="approve", reason="old, minor record")
    )
    assert reply.state.background.status is StepStatus.VERIFIED and not reply.state.needs_support
    assert reply.state.background.adjudication
    assert reply.state.background.adjudication.by == SUPPORT
    assert world.providers.adverse_actions == []


async def test_consider_rejected_files_the_adverse_action_and_notifies_once(world: World) -> None:
    v, candidate = await started_check(world)
    await consider(v, candidate)
    reason = "violent offence within 7 years"
    reply = await v.do("adjudicate", Adjudicate(actor=SUPPORT, decision="reject", reason=reason))
    assert reply.state.background.status is StepStatus.REJECTED
    assert [a.report_id for a in world.providers.adverse_actions] == ["rpt_1"]
    again = Adjudicate(actor=SUPPORT, decision="reject", reason=reason)
    assert (await rejected(v.do("adjudicate", again))).type == Rejection.INVALID_STATE
    await settled(v.handle)
    notice = [
        d for d in world.notifications.to(v.actor.user_id) if d.notice.kind == "adverse-action"
    ]
    assert len(notice) == 1 and reason in notice[0].notice.body and notice[0].notice.essential


async def test_a_webhook_that_beats_the_start_command_is_kept(world: World) -> None:
    """The provider can report the invitation complete before our activity returned."""
    v = await start(world)

    async def early(candidate_id: str) -> None:
        await v.handle.signal(
            "background_check_updated", check_update(candidate_id, "invitation.completed")
        )

    world.providers.before_background_reply = early
    await v.do(
        "start_background_check",
        StartBackgroundCheck(actor=v.actor, first_name="Wes", last_name="Baker"),
    )
    await v.wait_for(lambda s: s.background.status is StepStatus.PROCESSING)


async def test_background_checks_are_for_workers(world: World) -> None:
    v = await start(world, Role.CLIENT)
    start_check = StartBackgroundCheck(actor=v.actor, first_name="Carla", last_name="Client")
    assert (await rejected(v.do("start_background_check", start_check))).type == (
        Rejection.FORBIDDEN
    )


@pytest.mark.parametrize("step", ["email", "phone", "identity"])
async def test_steps_run_in_parallel(world: World, step: str) -> None:
    """Starting one step never disturbs another one that is under way."""
    v = await start(world)
    await v.do("start_identity", v.cmd())
    code = await v.email_code()
    number = f"+1415555{uuid.uuid4().int % 10_000:04d}"
    await v.do("request_phone_code", RequestPhoneCode(actor=v.actor, phone_number=number))
    state = await v.state()
    assert state.identity.status is StepStatus.WAITING_FOR_USER
    assert state.email.status is StepStatus.CODE_SENT
    assert state.phone.status is StepStatus.CODE_SENT
    if step == "email":
        await v.confirm_email(code)
    elif step == "phone":
        phone_code = world.providers.phone_codes[number]
        await v.do("confirm_phone", ConfirmPhoneCode(actor=v.actor, code=phone_code))
    else:
        session = state.identity.session_id
        assert session
        await v.handle.signal("identity_session_updated", identity_update(session, "verified", 9))
        await v.wait_for(lambda s: s.identity.status is StepStatus.VERIFIED)
    after = await v.state()
    assert after.verified_steps == [step]
