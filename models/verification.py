"""Verification of a person: email, phone, identity document, background check.

Workflow I/O, API bodies and the plain-words view a user (``GET /v1/verifications``) and
support (the Temporal UI's *Current details*) read. Pure: imported inside the workflow sandbox.

Each step moves through a few statuses:

    email, phone   not_started → code_sent ⇄ (locked | expired) → verified
    identity       not_started → waiting_for_user ⇄ action_required → processing → verified
                                  (gave_up after the deadline; start again for a new attempt)
    background     not_started → waiting_for_user → processing → verified
                                                              ↘ needs_review → verified | rejected
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints, model_validator

from models.common import Actor, Role
from models.text import Text

# E.164: "+", a country code and the number, at most 15 digits in all.
PhoneNumber = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+[1-9]\d{6,14}$")]
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{4,10}$")]


class Step(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    IDENTITY = "identity"
    BACKGROUND = "background"


STEP_ORDER = (Step.EMAIL, Step.PHONE, Step.IDENTITY, Step.BACKGROUND)


class StepStatus(StrEnum):
    NOT_STARTED = "not_started"
    CODE_SENT = "code_sent"  # email/phone: waiting for the person to type the code
    LOCKED = "locked"  # too many wrong codes: a new code is needed
    EXPIRED = "expired"  # the code (or the background invitation) ran out: start again
    WAITING_FOR_USER = "waiting_for_user"  # identity/background: the person has a link to follow
    ACTION_REQUIRED = "action_required"  # identity: the document could not be verified
    PROCESSING = "processing"  # the provider is checking what the person submitted
    NEEDS_REVIEW = "needs_review"  # background report says "consider": support decides
    GAVE_UP = "gave_up"  # identity: not finished within the deadline
    VERIFIED = "verified"
    REJECTED = "rejected"  # background: support rejected the report (adverse action sent)


class VerificationPolicy(BaseModel):
    """Limits captured at the workflow's start, so a settings change never alters a running
    code's rules half way."""

    code_ttl: timedelta = timedelta(minutes=10)
    max_wrong_codes: int = 5
    resend_cooldown: timedelta = timedelta(seconds=30)
    max_sends_per_hour: int = 5
    identity_reminders: list[timedelta] = Field(
        default_factory=lambda: [timedelta(days=1), timedelta(days=3)]
    )
    identity_deadline: timedelta = timedelta(days=7)
    # A background report still unfinished this long after the invitation was completed is
    # handed to support (providers usually take 1-5 business days).
    background_support_after: timedelta = timedelta(days=14)
    background_package: str = "tasker_standard"


# --- per-step state -----------------------------------------------------------------------


class CodeStep(BaseModel):
    """Email or phone: prove you receive what we send to this address/number."""

    status: StepStatus = StepStatus.NOT_STARTED
    destination: str | None = None  # the email address / E.164 number being verified
    sends: list[datetime] = Field(default_factory=list)  # send times in the last hour
    send_count: int = 0  # all sends ever: numbers each code (and its idempotency key)
    code_expires_at: datetime | None = None
    wrong_attempts: int = 0
    # Email: HMAC of the code we sent (the code itself never enters workflow history).
    code_digest: str | None = None
    # Phone: Twilio Verify holds the code; this is its verification's sid.
    provider_ref: str | None = None
    delivery_problem: str | None = None  # e.g. the code email bounced
    verified_at: datetime | None = None

    def sends_in_last_hour(self, now: datetime) -> list[datetime]:
        return [t for t in self.sends if now - t < timedelta(hours=1)]


class IdentityStep(BaseModel):
    """An identity document checked by Stripe Identity (the result arrives by webhook)."""

    status: StepStatus = StepStatus.NOT_STARTED
    attempt: int = 0  # each attempt is one VerificationSession
    session_id: str | None = None
    started_at: datetime | None = None
    deadline_at: datetime | None = None
    reminders_sent: int = 0
    last_error: str | None = None  # plain words from the provider's last_error
    last_event_at: int = 0  # provider timestamp: an older event never overwrites a newer one
    verified_at: datetime | None = None


class Adjudication(BaseModel):
    decision: Literal["approve", "reject"]
    reason: str
    by: Actor
    at: datetime


class BackgroundStep(BaseModel):
    """A background check by the check provider: invitation → report clear | consider."""

    status: StepStatus = StepStatus.NOT_STARTED
    attempt: int = 0
    candidate_id: str | None = None
    invitation_id: str | None = None
    invitation_url: str | None = None
    invitation_expires_at: datetime | None = None
    report_id: str | None = None
    result: Literal["clear", "consider"] | None = None
    started_at: datetime | None = None
    submitted_at: datetime | None = None  # the invitation was completed; the report is running
    adjudication: Adjudication | None = None
    adverse_action_id: str | None = None
    verified_at: datetime | None = None


class VerificationState(BaseModel):
    user_id: UUID
    role: Role
    email_address: str
    display_name: str
    policy: VerificationPolicy
    email: CodeStep = Field(default_factory=CodeStep)
    phone: CodeStep = Field(default_factory=CodeStep)
    identity: IdentityStep = Field(default_factory=IdentityStep)
    background: BackgroundStep = Field(default_factory=BackgroundStep)
    needs_support: bool = False
    support_reason: str | None = None
    version: int = 0

    def step(self, step: Step) -> CodeStep | IdentityStep | BackgroundStep:
        steps: dict[Step, CodeStep | IdentityStep | BackgroundStep] = {
            Step.EMAIL: self.email,
            Step.PHONE: self.phone,
            Step.IDENTITY: self.identity,
            Step.BACKGROUND: self.background,
        }
        return steps[step]

    def code_step(self, step: Step) -> CodeStep:
        return self.email if step is Step.EMAIL else self.phone

    @property
    def verified_steps(self) -> list[Step]:
        return [s for s in STEP_ORDER if self.step(s).status is StepStatus.VERIFIED]

    @property
    def level(self) -> int:
        """How many steps are verified (0-4): the summary kept on the user's row."""
        return len(self.verified_steps)


class VerificationInput(BaseModel):
    user_id: UUID
    role: Role
    email_address: str
    display_name: str
    policy: VerificationPolicy = Field(default_factory=VerificationPolicy)
    # Where Stripe's identity page sends the person back to when they are done.
    identity_return_url: str = ""
    carried_state: VerificationState | None = None  # continue-as-new


# --- commands (updates) -------------------------------------------------------------------


class StepCommand(BaseModel):
    actor: Actor


class RequestPhoneCode(StepCommand):
    phone_number: PhoneNumber


class ConfirmEmailCode(StepCommand):
    # HMAC of the typed code, computed by the API (which holds the key): the workflow
    # compares digests, so neither the sent nor the typed code is in history.
    code_digest: str


class ConfirmPhoneCode(StepCommand):
    code: Code


class StartBackgroundCheck(StepCommand):
    first_name: str
    last_name: str
    work_city: str | None = None
    work_state: str | None = None
    work_country: str = "US"


class Adjudicate(StepCommand):
    decision: Literal["approve", "reject"]
    # Checked here too: the update can come from the Temporal UI or CLI, not only the API.
    reason: Annotated[Text, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000)]


class VerificationReply(BaseModel):
    """What a command answers: the new state, and a link the person must follow now (the
    identity session's URL is single-use and short-lived, so it is never stored)."""

    state: VerificationState
    url: str | None = None


# --- signals (provider webhooks) ----------------------------------------------------------


class IdentitySessionUpdate(BaseModel):
    session_id: str
    status: Literal["requires_input", "processing", "verified", "canceled"]
    last_error_code: str | None = None
    last_error_reason: str | None = None
    event_created: int


class BackgroundCheckUpdate(BaseModel):
    event_type: str  # invitation.completed | invitation.expired | report.completed | …
    candidate_id: str
    invitation_id: str | None = None
    report_id: str | None = None
    result: Literal["clear", "consider"] | None = None


class EmailUndeliverable(BaseModel):
    destination: str
    reason: str


# --- activity I/O -------------------------------------------------------------------------


class CodeEmailRequest(BaseModel):
    user_id: UUID
    to: str
    display_name: str
    send_number: int  # the code is derived from (workflow id, send number): retries resend it
    expires_at: datetime
    dedupe_key: str


class CodeEmailSent(BaseModel):
    code_digest: str


class PhoneVerificationRequest(BaseModel):
    to: str
    cancel_sid: str | None = None  # a previous verification to cancel first (after a lockout)


class PhoneVerificationStarted(BaseModel):
    sid: str


class PhoneCodeCheck(BaseModel):
    to: str
    code: str


class PhoneCodeResult(BaseModel):
    approved: bool


class IdentitySessionRequest(BaseModel):
    idempotency_key: str
    user_id: UUID
    email: str
    return_url: str


class IdentitySession(BaseModel):
    session_id: str
    status: str
    url: str | None


class CancelIdentitySession(BaseModel):
    idempotency_key: str
    session_id: str


class BackgroundCheckRequest(BaseModel):
    idempotency_key: str  # prefix: the candidate and the invitation get their own suffixes
    user_id: UUID
    candidate_id: str | None = None  # from an earlier attempt: reused, never duplicated
    email: str
    first_name: str
    last_name: str
    package: str
    work_city: str | None = None
    work_state: str | None = None
    work_country: str = "US"


class BackgroundCheckStarted(BaseModel):
    candidate_id: str
    invitation_id: str
    invitation_url: str
    expires_at: datetime | None


class AdverseActionRequest(BaseModel):
    idempotency_key: str
    report_id: str
    adverse_item_ids: list[str]
    reason: str


class AdverseActionResult(BaseModel):
    adverse_action_id: str


# --- API bodies ---------------------------------------------------------------------------


class PhoneCodeRequest(BaseModel):
    phone_number: PhoneNumber = Field(description="E.164, e.g. +15551234567")


class CodeConfirmation(BaseModel):
    code: Code


class BackgroundCheckStart(BaseModel):
    first_name: Annotated[
        Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)
    ]
    last_name: Annotated[
        Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)
    ]
    work_city: Annotated[Text, StringConstraints(max_length=80)] | None = None
    work_state: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = Field(
        default=None, description="Two-letter state code; required in the US"
    )
    work_country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "US"

    @model_validator(mode="after")
    def _state_in_the_us(self) -> BackgroundCheckStart:
        # Which searches run depends on where the work is: in the US the state decides.
        if self.work_country == "US" and not self.work_state:
            raise ValueError("work_state is required for work in the US (e.g. CA)")
        return self


class AdjudicationRequest(BaseModel):
    decision: Literal["approve", "reject"]
    reason: Annotated[Text, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000)]


class StepPublic(BaseModel):
    step: Step
    status: StepStatus
    summary: str  # where it stands, in plain words
    next_action: str | None  # what the person must do now, or None
    deadline: datetime | None  # until when the current code/link/attempt is good
    verified_at: datetime | None
    destination: str | None = None  # masked email/number
    attempts_left: int | None = None
    resend_available_at: datetime | None = None
    url: str | None = None  # a link to follow now (identity: only in a command's answer)


class VerificationsPublic(BaseModel):
    user_id: UUID
    verified_steps: list[Step]
    can_apply: bool
    missing_to_apply: list[Step]
    steps: list[StepPublic]


# --- plain words --------------------------------------------------------------------------


def mask(destination: str | None) -> str | None:
    """``w***@example.com`` / ``+1******4567``: enough to recognise, not to harvest."""
    if not destination:
        return None
    if "@" in destination:
        local, _, domain = destination.partition("@")
        return f"{local[:1]}***@{domain}"
    return destination[:2] + "*" * max(len(destination) - 6, 0) + destination[-4:]


def _at(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "—"


def _code_step_view(
    step: Step, s: CodeStep, policy: VerificationPolicy, now: datetime
) -> StepPublic:
    what = "email address" if step is Step.EMAIL else "phone number"
    start = f"POST /v1/verifications/{step}"
    confirm = f"POST /v1/verifications/{step}/confirm with the code"
    recent = s.sends_in_last_hour(now)
    resend_at: datetime | None = None
    if recent:
        resend_at = recent[-1] + policy.resend_cooldown
        if len(recent) >= policy.max_sends_per_hour:
            resend_at = max(resend_at, recent[-policy.max_sends_per_hour] + timedelta(hours=1))
    resend_at = resend_at if resend_at and resend_at > now else None
    attempts_left = max(policy.max_wrong_codes - s.wrong_attempts, 0)
    summary, next_action, deadline = "", None, None
    if s.status is StepStatus.NOT_STARTED:
        summary = f"Your {what} is not verified yet."
        next_action = f"Ask for a code: {start}."
    elif s.status is StepStatus.CODE_SENT:
        summary = (
            f"A code was sent to {mask(s.destination)}; it is good until {_at(s.code_expires_at)}."
        )
        if s.delivery_problem:
            summary += f" But it could not be delivered: {s.delivery_problem}."
        next_action = f"Type the code: {confirm} ({attempts_left} tries left)."
        deadline = s.code_expires_at
    elif s.status is StepStatus.LOCKED:
        summary = f"The code was entered wrong {s.wrong_attempts} times and is locked."
        next_action = f"Ask for a new code: {start}."
    elif s.status is StepStatus.EXPIRED:
        summary = "The code expired before it was used."
        next_action = f"Ask for a new code: {start}."
    elif s.status is StepStatus.VERIFIED:
        summary = f"Verified ({mask(s.destination)}) on {_at(s.verified_at)}."
    if next_action and resend_at and s.status is not StepStatus.CODE_SENT:
        next_action += f" (possible from {_at(resend_at)})"
    return StepPublic(
        step=step,
        status=s.status,
        summary=summary,
        next_action=next_action,
        deadline=deadline,
        verified_at=s.verified_at,
        destination=mask(s.destination),
        attempts_left=attempts_left if s.status is StepStatus.CODE_SENT else None,
        resend_available_at=resend_at,
    )


def _identity_view(s: IdentityStep) -> StepPublic:
    start = "POST /v1/verifications/identity"
    summary, next_action, deadline = "", None, None
    if s.status is StepStatus.NOT_STARTED:
        summary = "Your identity document is not verified yet."
        next_action = f"Start: {start} and follow the link it returns."
    elif s.status is StepStatus.WAITING_FOR_USER:
        summary = f"Waiting for you to submit your document (until {_at(s.deadline_at)})."
        next_action = f"Follow your link; lost it? {start} gives a fresh one."
        deadline = s.deadline_at
    elif s.status is StepStatus.ACTION_REQUIRED:
        summary = f"Your document could not be verified: {s.last_error or 'please try again'}."
        next_action = f"Try again before {_at(s.deadline_at)}: {start} gives a fresh link."
        deadline = s.deadline_at
    elif s.status is StepStatus.PROCESSING:
        summary = "Your document is being checked; this usually takes a few minutes."
    elif s.status is StepStatus.GAVE_UP:
        summary = "The identity check was not finished in time and was closed."
        next_action = f"Start again: {start}."
    elif s.status is StepStatus.VERIFIED:
        summary = f"Identity verified on {_at(s.verified_at)}."
    return StepPublic(
        step=Step.IDENTITY,
        status=s.status,
        summary=summary,
        next_action=next_action,
        deadline=deadline,
        verified_at=s.verified_at,
    )


def _background_view(s: BackgroundStep, role: Role) -> StepPublic:
    start = "POST /v1/verifications/background"
    summary, next_action, deadline, url = "", None, None, None
    if role is not Role.WORKER:
        summary = "Background checks are for workers only."
    elif s.status is StepStatus.NOT_STARTED:
        summary = "No background check yet (needed for on-site jobs)."
        next_action = f"Start: {start} with your legal first and last name."
    elif s.status is StepStatus.WAITING_FOR_USER:
        summary = f"Waiting for you to fill in the background-check form (until {_at(s.invitation_expires_at)})."
        next_action = "Follow the link to the provider's form."
        deadline, url = s.invitation_expires_at, s.invitation_url
    elif s.status is StepStatus.EXPIRED:
        summary = "The background-check invitation expired before the form was filled in."
        next_action = f"Start again: {start}."
    elif s.status is StepStatus.PROCESSING:
        summary = "The provider is preparing your report; this usually takes 1-5 business days."
    elif s.status is StepStatus.NEEDS_REVIEW:
        summary = "Your report needs a review by our support team; we will write to you."
    elif s.status is StepStatus.VERIFIED:
        summary = f"Background check passed on {_at(s.verified_at)}."
    elif s.status is StepStatus.REJECTED:
        summary = "Your background check was not approved; we have emailed you the notice and your rights."
    return StepPublic(
        step=Step.BACKGROUND,
        status=s.status,
        summary=summary,
        next_action=next_action,
        deadline=deadline,
        verified_at=s.verified_at,
        url=url,
    )


def public_view(
    state: VerificationState, now: datetime, required_to_apply: list[Step]
) -> VerificationsPublic:
    missing = [s for s in required_to_apply if s not in state.verified_steps]
    return VerificationsPublic(
        user_id=state.user_id,
        verified_steps=state.verified_steps,
        can_apply=state.role is Role.WORKER and not missing,
        missing_to_apply=missing,
        steps=[
            _code_step_view(Step.EMAIL, state.email, state.policy, now),
            _code_step_view(Step.PHONE, state.phone, state.policy, now),
            _identity_view(state.identity),
            _background_view(state.background, state.role),
        ],
    )
