"""Who may start or answer which verification step, and when: pure checks used by the
Verification workflow's update validators *and* again by its handlers (several commands can
be validated before any handler runs). A failed check rejects with a kind the API maps to
403/409/422/429, with details such as ``retry_after_seconds`` or ``attempts_left``.

Deterministic, no I/O: imported inside the workflow sandbox.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.common import reject

with workflow.unsafe.imports_passed_through():
    from models.common import Actor, Role
    from models.errors import Rejection
    from models.verification import CodeStep, Step, StepStatus, VerificationState


def check_owner(s: VerificationState, actor: Actor) -> None:
    if actor.user_id != s.user_id:
        reject(Rejection.FORBIDDEN, "you can only verify yourself")


def check_staff(actor: Actor) -> None:
    if not actor.role.is_staff:
        reject(Rejection.FORBIDDEN, "only support staff can do this")


def _wait(seconds: float, message: str) -> None:
    reject(
        Rejection.TOO_MANY_REQUESTS,
        message,
        retry_after_seconds=max(math.ceil(seconds), 1),
    )


def check_code_request(s: VerificationState, step: Step, actor: Actor, now: datetime) -> None:
    """A new code: not for a verified step, not within the cooldown, at most N an hour."""
    check_owner(s, actor)
    code = s.code_step(step)
    if code.status is StepStatus.VERIFIED:
        reject(Rejection.INVALID_STATE, f"your {_what(step)} is already verified")
    policy = s.policy
    recent = code.sends_in_last_hour(now)
    if recent and now - recent[-1] < policy.resend_cooldown:
        wait = policy.resend_cooldown - (now - recent[-1])
        _wait(wait.total_seconds(), f"a code was just sent; you can ask again in {_secs(wait)}")
    if len(recent) >= policy.max_sends_per_hour:
        wait = recent[-policy.max_sends_per_hour] + timedelta(hours=1) - now
        _wait(
            wait.total_seconds(),
            f"at most {policy.max_sends_per_hour} codes an hour; try again in {_secs(wait)}",
        )


def check_code_answer(s: VerificationState, step: Step, actor: Actor, now: datetime) -> CodeStep:
    """A typed code is only taken while one is outstanding and still good."""
    check_owner(s, actor)
    code = s.code_step(step)
    status = code.status
    if status is StepStatus.CODE_SENT and code.code_expires_at and now >= code.code_expires_at:
        status = StepStatus.EXPIRED  # the expiry timer may not have run yet
    if status is StepStatus.VERIFIED:
        reject(Rejection.INVALID_STATE, f"your {_what(step)} is already verified")
    if status is StepStatus.LOCKED:
        reject(
            Rejection.CODE_LOCKED,
            f"this code was entered wrong {code.wrong_attempts} times and is locked; "
            f"ask for a new one (POST /v1/verifications/{step})",
        )
    if status is StepStatus.EXPIRED:
        reject(
            Rejection.CODE_EXPIRED,
            f"this code has expired; ask for a new one (POST /v1/verifications/{step})",
        )
    if status is not StepStatus.CODE_SENT:
        reject(
            Rejection.INVALID_STATE,
            f"no code is outstanding; ask for one first (POST /v1/verifications/{step})",
        )
    return code


def check_identity_start(s: VerificationState, actor: Actor) -> None:
    check_owner(s, actor)
    status = s.identity.status
    if status is StepStatus.VERIFIED:
        reject(Rejection.INVALID_STATE, "your identity is already verified")
    if status is StepStatus.PROCESSING:
        reject(Rejection.INVALID_STATE, "your document is being checked; wait for the result")


def check_background_start(s: VerificationState, actor: Actor, now: datetime) -> None:
    check_owner(s, actor)
    if s.role is not Role.WORKER:
        reject(Rejection.FORBIDDEN, "background checks are for workers")
    b = s.background
    if b.status is StepStatus.VERIFIED:
        reject(Rejection.INVALID_STATE, "your background check has already passed")
    if b.status in (StepStatus.PROCESSING, StepStatus.NEEDS_REVIEW):
        reject(Rejection.INVALID_STATE, "your background check is under way; wait for the result")
    if b.status is StepStatus.REJECTED:
        reject(Rejection.INVALID_STATE, "your background check was not approved; contact support")
    if (
        b.status is StepStatus.WAITING_FOR_USER
        and b.invitation_expires_at is not None
        and now < b.invitation_expires_at
    ):
        reject(
            Rejection.INVALID_STATE,
            "you already have an invitation: follow its link (GET /v1/verifications shows it)",
        )


def check_adjudication(s: VerificationState, actor: Actor) -> None:
    check_staff(actor)
    if s.background.status is not StepStatus.NEEDS_REVIEW:
        reject(
            Rejection.INVALID_STATE,
            f"there is no background report to adjudicate (it is {s.background.status})",
        )


def _what(step: Step) -> str:
    return "email address" if step is Step.EMAIL else "phone number"


def _secs(wait: timedelta) -> str:
    seconds = max(math.ceil(wait.total_seconds()), 1)
    return f"{seconds} s" if seconds < 120 else f"{math.ceil(seconds / 60)} min"
