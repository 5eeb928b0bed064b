"""Who may start or answer which verification step, and when: pure checks used by the
Verification workflow's update validators *and* again by its handlers (several commands can
be validated before any handler runs). A failed check rejects with a kind the API maps to
403/409/422/429, with details such as ``retry_after_seconds`` or ``attempts_left``.

Also the plain-words *Current details* support reads in the Temporal UI.

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
    from models.verification import (
        BackgroundStep,
        CodeStep,
        IdentityStep,
        Step,
        StepStatus,
        VerificationPolicy,
        VerificationState,
        mask,
    )


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


# --- what support reads in the Temporal UI ----------------------------------------------------


def describe(s: VerificationState, now: datetime) -> str:
    """The Temporal UI's *Current details* for support: per step, what it waits for, from
    whom (the person, a provider or support) and until when — or that nothing bounds it."""
    lines = [f"**Verification of {s.role} {s.display_name}**"]
    if s.needs_support:
        lines.append(f"**Needs support**: {s.support_reason}")
    lines.append("")  # the UI's Markdown starts a list only after a blank line
    lines.append(f"- **email** — {_code_waits_for(s.email, s.policy, now)}")
    lines.append(f"- **phone** — {_code_waits_for(s.phone, s.policy, now)}")
    lines.append(f"- **identity** — {_identity_waits_for(s.identity)}")
    if s.role is Role.WORKER:
        lines.append(f"- **background** — {_background_waits_for(s.background, s.policy)}")
    return "\n".join(lines)


def _code_waits_for(code: CodeStep, policy: VerificationPolicy, now: datetime) -> str:
    where = mask(code.destination)
    match code.status:
        case StepStatus.CODE_SENT:
            left = max(policy.max_wrong_codes - code.wrong_attempts, 0)
            text = (
                f"code sent to {where}; waiting for the person to type it until "
                f"{_at(code.code_expires_at)} ({left} tries left), then it expires"
            )
            if code.delivery_problem:
                text += f". Not delivered: {code.delivery_problem}"
            return text
        case StepStatus.LOCKED:
            return (
                f"locked after {code.wrong_attempts} wrong codes; waiting for the person to ask "
                f"for a new one, no deadline{_resend_from(code, policy, now)}"
            )
        case StepStatus.EXPIRED:
            return (
                "the code expired unused; waiting for the person to ask for a new one, no "
                f"deadline{_resend_from(code, policy, now)}"
            )
        case StepStatus.VERIFIED:
            return f"verified ({where}) on {_at(code.verified_at)}"
    return "not started; nothing is waited for until the person asks for a code"


def _resend_from(code: CodeStep, policy: VerificationPolicy, now: datetime) -> str:
    """When the cooldown or the hourly limit holds the next code back, from when it can go."""
    recent = code.sends_in_last_hour(now)
    if not recent:
        return ""
    resend_at = recent[-1] + policy.resend_cooldown
    if len(recent) >= policy.max_sends_per_hour:
        resend_at = max(resend_at, recent[-policy.max_sends_per_hour] + timedelta(hours=1))
    return f" (possible from {_at(resend_at)})" if resend_at > now else ""


def _identity_waits_for(step: IdentityStep) -> str:
    attempt = f"attempt {step.attempt}"
    match step.status:
        case StepStatus.WAITING_FOR_USER:
            return (
                f"{attempt}: waiting for the person to submit a document at Stripe Identity until "
                f"{_at(step.deadline_at)} ({step.reminders_sent} reminder(s) sent), then the "
                "session is closed"
            )
        case StepStatus.ACTION_REQUIRED:
            return (
                f"{attempt}: the document was refused ({step.last_error or 'unreadable'}); waiting "
                f"for the person to try again until {_at(step.deadline_at)}"
            )
        case StepStatus.PROCESSING:
            return f"{attempt}: waiting for Stripe Identity's result (webhook), no deadline"
        case StepStatus.GAVE_UP:
            return (
                f"{attempt} closed unfinished; waiting for the person to start again, no deadline"
            )
        case StepStatus.VERIFIED:
            return f"verified on {_at(step.verified_at)}"
    return "not started; nothing is waited for until the person starts it"


def _background_waits_for(step: BackgroundStep, policy: VerificationPolicy) -> str:
    attempt = f"attempt {step.attempt}"
    match step.status:
        case StepStatus.WAITING_FOR_USER:
            return (
                f"{attempt}: waiting for the person to fill in the provider's form until "
                f"{_at(step.invitation_expires_at)}, then the invitation expires"
            )
        case StepStatus.PROCESSING if step.submitted_at:
            return (
                f"{attempt}: waiting for the provider's report (webhook); support is asked if it "
                f"is not back by {_at(step.submitted_at + policy.background_support_after)}"
            )
        case StepStatus.PROCESSING:
            return f"{attempt}: waiting for the provider's report (webhook)"
        case StepStatus.NEEDS_REVIEW:
            return (
                f"{attempt}: report {step.report_id} says “consider”; waiting for support to "
                "`adjudicate` it (approve or reject with a reason), no deadline"
            )
        case StepStatus.EXPIRED:
            return (
                f"{attempt}: the invitation expired unused; waiting for the person to start "
                "again, no deadline"
            )
        case StepStatus.REJECTED:
            when = step.adjudication.at if step.adjudication else None
            return f"{attempt}: rejected by support on {_at(when)}; adverse-action notice sent"
        case StepStatus.VERIFIED:
            return f"passed on {_at(step.verified_at)}"
    return "not started; nothing is waited for until the worker starts it"


def _at(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "—"
