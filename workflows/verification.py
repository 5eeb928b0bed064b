"""Verification: one person proves who they are, one step at a time or several at once.

    email       request a code (SendGrid) → type it within 10 min; 5 wrong tries lock it
    phone       request a code (Twilio Verify) → type it; same limits, Twilio's too
    identity    Stripe Identity session → the person submits a document → webhook: verified
                | requires_input (try again); reminders at 1 and 3 days, closed after 7
    background  (workers) provider invitation → report by webhook: clear → verified;
                consider → support adjudicates (approve | reject + adverse-action notice)

An entity workflow per person (``verification-{user_id}``) that lives as long as the account;
it continues as new when its history grows. Each step is a small status-driven loop that
resumes anywhere; commands are updates with validators (the API answers 403/409/422/429 at
once); provider results are signals. Every change is projected to PostgreSQL, where the API
reads it and where ``users.verified_steps`` gates applying to jobs.

Codes: the email code never enters history (the API sends a keyed digest of what was typed;
see core/verification_codes.py); Twilio holds the phone code.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import verification_rules as rules
from workflows.common import (
    BACKGROUND_CALL_DEADLINE,
    BACKGROUND_CALL_TIMEOUT,
    PERSON_WAITING_CALL_TIMEOUT,
    PERSON_WAITING_DEADLINE,
    PROVIDER_RETRY,
    Notifier,
    reject,
    remaining,
    store,
)

with workflow.unsafe.imports_passed_through():
    from activities.email import EmailActivities
    from activities.identity import IdentityActivities
    from activities.sms import SmsActivities
    from activities.store import StoreActivities
    from models import notices
    from models import search_attributes as sa
    from models.common import Role
    from models.errors import Rejection
    from models.verification import (
        Adjudicate,
        Adjudication,
        AdverseActionRequest,
        BackgroundCheckRequest,
        BackgroundCheckStarted,
        BackgroundCheckUpdate,
        CancelIdentitySession,
        CodeEmailRequest,
        CodeEmailSent,
        ConfirmEmailCode,
        ConfirmPhoneCode,
        EmailUndeliverable,
        IdentitySession,
        IdentitySessionRequest,
        IdentitySessionUpdate,
        PhoneCodeCheck,
        PhoneCodeResult,
        PhoneVerificationRequest,
        PhoneVerificationStarted,
        RequestPhoneCode,
        StartBackgroundCheck,
        Step,
        StepCommand,
        StepStatus,
        VerificationInput,
        VerificationReply,
        VerificationState,
    )

_WAITING_FOR_IDENTITY = (StepStatus.WAITING_FOR_USER, StepStatus.ACTION_REQUIRED)
_FINAL_BACKGROUND = (StepStatus.VERIFIED, StepStatus.REJECTED, StepStatus.NEEDS_REVIEW)
# How long after a background invitation expires we stop waiting for the provider to say so.
_INVITATION_GRACE = timedelta(days=1)


def verification_workflow_id(user_id: object) -> str:
    return f"verification-{user_id}"


@workflow.defn(name="Verification")
class VerificationWorkflow:
    @workflow.init
    def __init__(self, input: VerificationInput) -> None:
        self.input = input
        self.state = input.carried_state or VerificationState(
            user_id=input.user_id,
            role=input.role,
            email_address=input.email_address,
            display_name=input.display_name,
            policy=input.policy,
        )
        # One command per step at a time: a second "send code" waits for the first.
        self._locks = {step: asyncio.Lock() for step in Step}
        self._notifier = Notifier()
        # Webhooks that beat the command which created their session/candidate.
        self._early_identity: list[IdentitySessionUpdate] = []
        self._early_background: list[BackgroundCheckUpdate] = []

    @property
    def _id(self) -> str:
        return workflow.info().workflow_id

    # =========================================================================================
    # The process: each step's deadlines, until the history asks to continue as new
    # =========================================================================================

    @workflow.run
    async def run(self, input: VerificationInput) -> VerificationState:
        if self.state.version == 0:
            await self._progress()
        watchers = [
            asyncio.create_task(self._expire_codes(Step.EMAIL)),
            asyncio.create_task(self._expire_codes(Step.PHONE)),
            asyncio.create_task(self._identity_deadlines()),
            asyncio.create_task(self._background_deadlines()),
        ]
        await workflow.wait_condition(
            lambda: (
                workflow.info().is_continue_as_new_suggested() or any(w.done() for w in watchers)
            )
        )
        for watcher in watchers:
            failure = watcher.exception() if watcher.done() else None
            if failure is not None:
                raise failure  # a bug in a watcher: fail the workflow task so it is retried
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._notifier.drain()
        for watcher in watchers:
            watcher.cancel()
        workflow.continue_as_new(self.input.model_copy(update={"carried_state": self.state}))

    async def _expire_codes(self, step: Step) -> None:
        """A code is good for ``code_ttl`` (10 min) after it was sent."""
        code = self.state.code_step(step)
        while True:
            await workflow.wait_condition(lambda: code.status is StepStatus.CODE_SENT)
            assert code.code_expires_at is not None
            try:
                await workflow.wait_condition(
                    _moved_on(code, "send_count", code.status),
                    timeout=remaining(code.code_expires_at),
                    timeout_summary=f"{step} code expires",
                )
            except TimeoutError:
                code.status = StepStatus.EXPIRED
                code.code_digest = None
                await self._progress()

    async def _identity_deadlines(self) -> None:
        """While the person has not submitted a document: remind at 1 d and 3 d, close the
        session at 7 d. Once submitted, Stripe is processing: its answer is waited for."""
        s = self.state.identity
        policy = self.state.policy
        while True:
            await workflow.wait_condition(lambda: s.status in _WAITING_FOR_IDENTITY)
            assert s.started_at is not None and s.deadline_at is not None
            attempt = s.attempt
            due = policy.identity_reminders[s.reminders_sent :]
            reminder_at = s.started_at + due[0] if due else None
            next_at = min(reminder_at, s.deadline_at) if reminder_at else s.deadline_at
            try:
                await workflow.wait_condition(
                    _moved_on(s, "attempt", s.status),
                    timeout=remaining(next_at),
                    timeout_summary="identity: remind the person"
                    if reminder_at is not None and reminder_at < s.deadline_at
                    else "identity: give up on the unfinished document check",
                )
                continue
            except TimeoutError:
                pass
            if reminder_at is not None and reminder_at < s.deadline_at:
                s.reminders_sent += 1
                await self._progress()
                await self._tell(
                    notices.identity_reminder(s.deadline_at),
                    f"identity:{attempt}:reminder:{s.reminders_sent}",
                )
            else:
                await self._give_up_identity()

    async def _give_up_identity(self) -> None:
        s = self.state.identity
        assert s.session_id is not None
        final = await workflow.execute_activity_method(
            IdentityActivities.cancel_session,
            CancelIdentitySession(
                idempotency_key=f"{self._id}:identity:{s.attempt}:cancel",
                session_id=s.session_id,
            ),
            start_to_close_timeout=BACKGROUND_CALL_TIMEOUT,
            schedule_to_close_timeout=BACKGROUND_CALL_DEADLINE,
            retry_policy=PROVIDER_RETRY,
            summary="close the unfinished identity session",
        )
        if s.status not in _WAITING_FOR_IDENTITY:
            return  # a result arrived while we were closing it: that result stands
        if final in ("processing", "verified"):
            # The person submitted just in time; Stripe's webhook brings the result.
            s.status = StepStatus.PROCESSING
            await self._progress()
            return
        s.status = StepStatus.GAVE_UP
        await self._progress()
        await self._tell(notices.identity_gave_up(), f"identity:{s.attempt}:gave-up")

    async def _background_deadlines(self) -> None:
        """An invitation nobody completes expires; a report that takes too long is handed
        to support; a report that needs review keeps the support flag up."""
        b = self.state.background
        while True:
            await workflow.wait_condition(
                lambda: b.status in (StepStatus.WAITING_FOR_USER, StepStatus.PROCESSING)
            )
            attempt, status = b.attempt, b.status
            if status is StepStatus.WAITING_FOR_USER:
                assert b.invitation_expires_at is not None
                due = b.invitation_expires_at + _INVITATION_GRACE
            else:
                assert b.submitted_at is not None
                due = b.submitted_at + self.state.policy.background_support_after
            try:
                await workflow.wait_condition(
                    _moved_on(b, "attempt", status),
                    timeout=remaining(due),
                    timeout_summary="background: invitation expires"
                    if status is StepStatus.WAITING_FOR_USER
                    else "background: report overdue, ask support",
                )
                continue
            except TimeoutError:
                pass
            if status is StepStatus.WAITING_FOR_USER:
                b.status = StepStatus.EXPIRED
                await self._progress()
            else:
                self._flag(
                    f"the background report for attempt {attempt} is not back after "
                    f"{self.state.policy.background_support_after.days} days"
                )
                await self._progress()
                await workflow.wait_condition(_moved_on(b, "attempt", status))

    # =========================================================================================
    # Email
    # =========================================================================================

    @workflow.update(
        name="request_email_code",
        description="Person: email a fresh 6-digit code (SendGrid). Refused within the resend cooldown or past the hourly limit.",
    )
    async def request_email_code(self, cmd: StepCommand) -> VerificationReply:
        """Emails a fresh 6-digit code to the account's address (SendGrid)."""
        async with self._locks[Step.EMAIL]:
            rules.check_code_request(self.state, Step.EMAIL, cmd.actor, workflow.now())
            code = self.state.email
            number = code.send_count + 1
            expires_at = workflow.now() + self.state.policy.code_ttl
            try:
                sent: CodeEmailSent = await workflow.execute_activity_method(
                    EmailActivities.send_verification_code,
                    CodeEmailRequest(
                        user_id=self.state.user_id,
                        to=self.state.email_address,
                        display_name=self.state.display_name,
                        send_number=number,
                        expires_at=expires_at,
                        dedupe_key=f"{self._id}:email-code:{number}",
                    ),
                    start_to_close_timeout=PERSON_WAITING_CALL_TIMEOUT,
                    schedule_to_close_timeout=PERSON_WAITING_DEADLINE,
                    retry_policy=PROVIDER_RETRY,
                    summary=f"email verification code #{number}",
                )
            except ActivityError as err:
                raise _provider_rejection(err, "email") from None
            self._code_sent(code, self.state.email_address, expires_at)
            code.code_digest = sent.code_digest
            await self._progress()
            return self._reply()

    @request_email_code.validator
    def _check_request_email_code(self, cmd: StepCommand) -> None:
        rules.check_code_request(self.state, Step.EMAIL, cmd.actor, workflow.now())

    @workflow.update(
        name="confirm_email",
        description="Person: the typed email code (as a keyed digest, never the code). 5 wrong tries lock it; codes expire after 10 minutes.",
    )
    async def confirm_email(self, cmd: ConfirmEmailCode) -> VerificationReply:
        async with self._locks[Step.EMAIL]:
            code = rules.check_code_answer(self.state, Step.EMAIL, cmd.actor, workflow.now())
            if code.code_digest is not None and cmd.code_digest == code.code_digest:
                await self._code_verified(code)
                return self._reply()
            await self._wrong_code(Step.EMAIL, code)

    @confirm_email.validator
    def _check_confirm_email(self, cmd: ConfirmEmailCode) -> None:
        rules.check_code_answer(self.state, Step.EMAIL, cmd.actor, workflow.now())

    @workflow.signal(
        name="email_undeliverable",
        description="SendGrid event webhook: the code email bounced or was dropped. Shown to the person so they can fix the address.",
    )
    async def email_undeliverable(self, problem: EmailUndeliverable) -> None:
        """SendGrid's event webhook: the code email bounced or was dropped."""
        code = self.state.email
        if code.status is StepStatus.CODE_SENT and code.destination == problem.destination:
            code.delivery_problem = problem.reason
            await self._progress()

    # =========================================================================================
    # Phone
    # =========================================================================================

    @workflow.update(
        name="request_phone_code",
        description="Person: text a code to a phone number (Twilio Verify). Same cooldown and hourly limit as email.",
    )
    async def request_phone_code(self, cmd: RequestPhoneCode) -> VerificationReply:
        """Twilio Verify texts a code to the number."""
        async with self._locks[Step.PHONE]:
            rules.check_code_request(self.state, Step.PHONE, cmd.actor, workflow.now())
            code = self.state.phone
            # After a lockout, or for another number, the old verification must not linger.
            stale = (
                code.provider_ref
                if (code.status is StepStatus.LOCKED or code.destination != cmd.phone_number)
                else None
            )
            try:
                started: PhoneVerificationStarted = await workflow.execute_activity_method(
                    SmsActivities.start_phone_verification,
                    PhoneVerificationRequest(to=cmd.phone_number, cancel_sid=stale),
                    start_to_close_timeout=PERSON_WAITING_CALL_TIMEOUT,
                    schedule_to_close_timeout=PERSON_WAITING_DEADLINE,
                    retry_policy=PROVIDER_RETRY,
                    summary="text a verification code (Twilio Verify)",
                )
            except ActivityError as err:
                raise _provider_rejection(err, "text message") from None
            self._code_sent(code, cmd.phone_number, workflow.now() + self.state.policy.code_ttl)
            code.provider_ref = started.sid
            await self._progress()
            return self._reply()

    @request_phone_code.validator
    def _check_request_phone_code(self, cmd: RequestPhoneCode) -> None:
        rules.check_code_request(self.state, Step.PHONE, cmd.actor, workflow.now())

    @workflow.update(
        name="confirm_phone",
        description="Person: the typed phone code, checked by Twilio Verify. 5 wrong tries lock it.",
    )
    async def confirm_phone(self, cmd: ConfirmPhoneCode) -> VerificationReply:
        async with self._locks[Step.PHONE]:
            code = rules.check_code_answer(self.state, Step.PHONE, cmd.actor, workflow.now())
            assert code.destination is not None
            try:
                result: PhoneCodeResult = await workflow.execute_activity_method(
                    SmsActivities.check_phone_verification,
                    PhoneCodeCheck(to=code.destination, code=cmd.code),
                    start_to_close_timeout=PERSON_WAITING_CALL_TIMEOUT,
                    schedule_to_close_timeout=PERSON_WAITING_DEADLINE,
                    retry_policy=PROVIDER_RETRY,
                    summary="check the typed code (Twilio Verify)",
                )
            except ActivityError as err:
                kind = _error_type(err)
                if kind == "TooManyChecks":  # Twilio counted more than we did: believe it
                    code.status = StepStatus.LOCKED
                    await self._progress()
                    reject(Rejection.CODE_LOCKED, "too many wrong codes; ask for a new one")
                if kind == "NoPendingVerification":
                    code.status = StepStatus.EXPIRED
                    await self._progress()
                    reject(Rejection.CODE_EXPIRED, "this code has expired; ask for a new one")
                raise _provider_rejection(err, "text message") from None
            if result.approved:
                await self._code_verified(code)
                return self._reply()
            await self._wrong_code(Step.PHONE, code)

    @confirm_phone.validator
    def _check_confirm_phone(self, cmd: ConfirmPhoneCode) -> None:
        rules.check_code_answer(self.state, Step.PHONE, cmd.actor, workflow.now())

    # =========================================================================================
    # Identity document (Stripe Identity)
    # =========================================================================================

    @workflow.update(
        name="start_identity",
        description="Person: a link to Stripe Identity's document check — the open attempt's, or a new attempt (7 days, reminders at 1 and 3).",
    )
    async def start_identity(self, cmd: StepCommand) -> VerificationReply:
        """A link to Stripe's document check: a fresh link to the open attempt while it is
        still good, else a new attempt (7 days, reminders at 1 and 3)."""
        async with self._locks[Step.IDENTITY]:
            rules.check_identity_start(self.state, cmd.actor)
            s = self.state.identity
            still_open = s.deadline_at is not None and workflow.now() < s.deadline_at
            if s.status in _WAITING_FOR_IDENTITY and s.session_id and still_open:
                link = await self._identity_call(
                    IdentityActivities.session_link, s.session_id, "fresh identity link"
                )
                if link.url:
                    return self._reply(link.url)
            s.attempt += 1
            session = await self._identity_call(
                IdentityActivities.create_session,
                IdentitySessionRequest(
                    idempotency_key=f"{self._id}:identity:{s.attempt}",
                    user_id=self.state.user_id,
                    email=self.state.email_address,
                    return_url=self.input.identity_return_url,
                ),
                f"open identity session #{s.attempt}",
            )
            now = workflow.now()
            s.session_id, s.status, s.last_error = (
                session.session_id,
                StepStatus.WAITING_FOR_USER,
                None,
            )
            s.started_at, s.deadline_at = now, now + self.state.policy.identity_deadline
            s.reminders_sent, s.last_event_at = 0, 0
            await self._progress()
            early = [u for u in self._early_identity if u.session_id == session.session_id]
            self._early_identity = [u for u in self._early_identity if u not in early]
            for update in early:
                await self._apply_identity(update)
            return self._reply(session.url)

    @start_identity.validator
    def _check_start_identity(self, cmd: StepCommand) -> None:
        rules.check_identity_start(self.state, cmd.actor)

    async def _identity_call(self, activity: Any, arg: Any, summary: str) -> IdentitySession:
        try:
            result: IdentitySession = await workflow.execute_activity_method(
                activity,
                arg,
                start_to_close_timeout=PERSON_WAITING_CALL_TIMEOUT,
                schedule_to_close_timeout=PERSON_WAITING_DEADLINE,
                retry_policy=PROVIDER_RETRY,
                summary=summary,
            )
        except ActivityError as err:
            raise _provider_rejection(err, "identity check") from None
        return result

    @workflow.signal(
        name="identity_session_updated",
        description="Stripe webhook identity.verification_session.*: processing, verified, requires_input or canceled, in any order.",
    )
    async def identity_session_updated(self, update: IdentitySessionUpdate) -> None:
        """Stripe's ``identity.verification_session.*`` webhooks, in any order, any number."""
        if update.session_id != self.state.identity.session_id:
            self._early_identity.append(update)  # its session is being created right now
            return
        await self._apply_identity(update)

    async def _apply_identity(self, update: IdentitySessionUpdate) -> None:
        s = self.state.identity
        if s.status in (StepStatus.VERIFIED, StepStatus.GAVE_UP):
            return
        # Older news never overwrites newer; within one second "processing" comes first.
        if update.event_created < s.last_event_at or (
            update.event_created == s.last_event_at and update.status == "processing"
        ):
            return
        s.last_event_at = update.event_created
        if update.status == "processing":
            s.status = StepStatus.PROCESSING
            await self._progress()
        elif update.status == "verified":
            s.status, s.verified_at, s.last_error = StepStatus.VERIFIED, workflow.now(), None
            await self._progress()
            await self._tell(notices.identity_verified(), f"identity:{s.attempt}:verified")
        elif update.status == "requires_input":
            s.status = StepStatus.ACTION_REQUIRED
            s.last_error = update.last_error_reason or update.last_error_code or "unreadable"
            await self._progress()
            await self._tell(
                notices.identity_needs_input(s.last_error),
                f"identity:{s.attempt}:requires-input:{update.event_created}",
            )
        elif update.status == "canceled" and s.status in _WAITING_FOR_IDENTITY:
            s.status = StepStatus.GAVE_UP
            await self._progress()

    # =========================================================================================
    # Background check (Checkr-style provider)
    # =========================================================================================

    @workflow.update(
        name="start_background_check",
        description="Worker: invite to the background check provider. The report arrives by webhook.",
    )
    async def start_background_check(self, cmd: StartBackgroundCheck) -> VerificationReply:
        async with self._locks[Step.BACKGROUND]:
            rules.check_background_start(self.state, cmd.actor, workflow.now())
            b = self.state.background
            attempt = b.attempt + 1
            try:
                started: BackgroundCheckStarted = await workflow.execute_activity_method(
                    IdentityActivities.start_background_check,
                    BackgroundCheckRequest(
                        idempotency_key=f"{self._id}:background:{attempt}",
                        user_id=self.state.user_id,
                        candidate_id=b.candidate_id,
                        email=self.state.email_address,
                        first_name=cmd.first_name,
                        last_name=cmd.last_name,
                        package=self.state.policy.background_package,
                        work_city=cmd.work_city,
                        work_state=cmd.work_state,
                        work_country=cmd.work_country,
                    ),
                    start_to_close_timeout=PERSON_WAITING_CALL_TIMEOUT,
                    schedule_to_close_timeout=PERSON_WAITING_DEADLINE,
                    retry_policy=PROVIDER_RETRY,
                    summary=f"invite to background check #{attempt}",
                )
            except ActivityError as err:
                raise _provider_rejection(err, "background check") from None
            now = workflow.now()
            b.attempt, b.status, b.started_at = attempt, StepStatus.WAITING_FOR_USER, now
            b.candidate_id, b.invitation_id = started.candidate_id, started.invitation_id
            b.invitation_url = started.invitation_url
            b.invitation_expires_at = started.expires_at or now + timedelta(days=7)
            b.report_id = b.result = b.submitted_at = b.adjudication = None
            await self._progress()
            early = [u for u in self._early_background if u.candidate_id == b.candidate_id]
            self._early_background = [u for u in self._early_background if u not in early]
            for update in early:
                await self._apply_background(update)
            await self._tell(
                notices.background_invitation(started.invitation_url),
                f"background:{attempt}:invitation",
            )
            return self._reply(started.invitation_url)

    @start_background_check.validator
    def _check_start_background(self, cmd: StartBackgroundCheck) -> None:
        rules.check_background_start(self.state, cmd.actor, workflow.now())

    @workflow.signal(
        name="background_check_updated",
        description="Background check provider webhook (invitation.*, report.*): clear verifies the step; consider waits for support's adjudicate.",
    )
    async def background_check_updated(self, update: BackgroundCheckUpdate) -> None:
        """The check provider's webhooks (invitation.*, report.*), in any order, any number."""
        if update.candidate_id != self.state.background.candidate_id:
            self._early_background.append(update)
            return
        await self._apply_background(update)

    async def _apply_background(self, update: BackgroundCheckUpdate) -> None:
        b = self.state.background
        if b.status in _FINAL_BACKGROUND:
            return  # duplicates and late news change nothing once there is a result
        if update.event_type == "invitation.completed" and b.status is StepStatus.WAITING_FOR_USER:
            b.status, b.submitted_at = StepStatus.PROCESSING, workflow.now()
            await self._progress()
        elif update.event_type == "invitation.expired" and b.status is StepStatus.WAITING_FOR_USER:
            b.status = StepStatus.EXPIRED
            await self._progress()
        elif update.event_type == "report.created" and update.report_id:
            b.report_id = update.report_id
            if b.status is StepStatus.WAITING_FOR_USER:
                b.status, b.submitted_at = StepStatus.PROCESSING, workflow.now()
            await self._progress()
        elif update.event_type == "report.completed" and update.result:
            b.report_id, b.result = update.report_id or b.report_id, update.result
            b.submitted_at = b.submitted_at or workflow.now()
            if update.result == "clear":
                await self._background_passed()
            else:
                b.status = StepStatus.NEEDS_REVIEW
                self._flag(
                    f"background report {b.report_id} says “consider”: adjudicate it "
                    "(approve or reject, with a reason)"
                )
                await self._progress()
                await self._tell(notices.background_in_review(), f"background:{b.attempt}:review")

    async def _background_passed(self) -> None:
        b = self.state.background
        b.status, b.verified_at = StepStatus.VERIFIED, workflow.now()
        self._unflag()
        await self._progress()
        await self._tell(notices.background_passed(), f"background:{b.attempt}:passed")

    @workflow.update(
        name="adjudicate",
        description="Support: decide a 'consider' background report — approve verifies the step; reject files the adverse action and notifies the person.",
    )
    async def adjudicate(self, cmd: Adjudicate) -> VerificationReply:
        """Support decides a “consider” report. Approving verifies the step; rejecting files
        the provider's adverse action and sends the person the adverse-action notice."""
        async with self._locks[Step.BACKGROUND]:
            rules.check_adjudication(self.state, cmd.actor)
            b = self.state.background
            if cmd.decision == "approve":
                b.adjudication = Adjudication(
                    decision="approve", reason=cmd.reason, by=cmd.actor, at=workflow.now()
                )
                await self._background_passed()
                return self._reply()
            assert b.report_id is not None
            try:
                items: list[str] = await workflow.execute_activity_method(
                    IdentityActivities.adverse_items,
                    b.report_id,
                    start_to_close_timeout=PERSON_WAITING_CALL_TIMEOUT,
                    schedule_to_close_timeout=timedelta(minutes=1),
                    retry_policy=PROVIDER_RETRY,
                    summary="read the report's findings",
                )
                action = await workflow.execute_activity_method(
                    IdentityActivities.create_adverse_action,
                    AdverseActionRequest(
                        idempotency_key=f"{self._id}:background:{b.attempt}:adverse-action",
                        report_id=b.report_id,
                        adverse_item_ids=items,
                        reason=cmd.reason,
                    ),
                    start_to_close_timeout=PERSON_WAITING_CALL_TIMEOUT,
                    schedule_to_close_timeout=timedelta(minutes=1),
                    retry_policy=PROVIDER_RETRY,
                    summary="file the adverse action with the provider",
                )
            except ActivityError as err:
                raise _provider_rejection(err, "background check") from None
            b.adjudication = Adjudication(
                decision="reject", reason=cmd.reason, by=cmd.actor, at=workflow.now()
            )
            b.status, b.adverse_action_id = StepStatus.REJECTED, action.adverse_action_id
            self._unflag()
            await self._progress()
            await self._tell(notices.adverse_action(cmd.reason), f"background:{b.attempt}:adverse")
            return self._reply()

    @adjudicate.validator
    def _check_adjudicate(self, cmd: Adjudicate) -> None:
        rules.check_adjudication(self.state, cmd.actor)

    @workflow.query(
        name="state",
        description="Every verification step: status, deadlines, attempts, what is next (what the API shows).",
    )
    def query_state(self) -> VerificationState:
        return self.state

    # =========================================================================================
    # Helpers
    # =========================================================================================

    def _code_sent(self, code: Any, destination: str, expires_at: Any) -> None:
        now = workflow.now()
        code.sends = [*code.sends_in_last_hour(now), now]
        code.send_count += 1
        code.destination = destination
        code.status = StepStatus.CODE_SENT
        code.code_expires_at = expires_at
        code.wrong_attempts = 0
        code.delivery_problem = None

    async def _code_verified(self, code: Any) -> None:
        code.status, code.verified_at = StepStatus.VERIFIED, workflow.now()
        code.code_digest = None
        await self._progress()

    async def _wrong_code(self, step: Step, code: Any) -> NoReturn:
        """Counts a wrong code (the state change stays even though the command is refused)."""
        code.wrong_attempts += 1
        left = self.state.policy.max_wrong_codes - code.wrong_attempts
        if left <= 0:
            code.status, code.code_digest = StepStatus.LOCKED, None
            await self._progress()
            reject(
                Rejection.CODE_LOCKED,
                f"wrong code, and that was the last try: ask for a new one "
                f"(POST /v1/verifications/{step})",
            )
        await self._progress()
        reject(Rejection.WRONG_CODE, f"wrong code; {left} tries left", attempts_left=left)

    def _flag(self, why: str) -> None:
        self.state.needs_support, self.state.support_reason = True, why

    def _unflag(self) -> None:
        self.state.needs_support, self.state.support_reason = False, None

    async def _tell(self, notice: Any, step_key: str) -> None:
        await self._notifier.send(self.state.user_id, notice, f"{self._id}:{step_key}")

    def _reply(self, url: str | None = None) -> VerificationReply:
        return VerificationReply(state=self.state, url=url)

    async def _progress(self) -> None:
        """Every state change: bump the version, refresh what support sees, project it."""
        self.state.version += 1
        workflow.upsert_search_attributes(
            [
                sa.STAGE.value_set(_stage(self.state)),
                sa.NEEDS_SUPPORT.value_set(self.state.needs_support),
            ]
        )
        workflow.set_current_details(rules.describe(self.state, workflow.now()))
        await store(StoreActivities.project_verification, self.state)

    @staticmethod
    def initial_search_attributes(input: VerificationInput) -> TypedSearchAttributes:
        person = sa.WORKER_ID if input.role is Role.WORKER else sa.CLIENT_ID
        return TypedSearchAttributes(
            [
                SearchAttributePair(person, str(input.user_id)),
                SearchAttributePair(sa.STAGE, "unverified"),
                SearchAttributePair(sa.NEEDS_SUPPORT, False),
            ]
        )


def _moved_on(step: Any, counter: str, status: StepStatus) -> Any:
    """A wait condition: the step left ``status``, or a new attempt/code replaced this one."""
    before = getattr(step, counter)
    return lambda: step.status is not status or getattr(step, counter) != before


def _stage(s: VerificationState) -> str:
    """One word for the UI's list: what stands out about this person's verification."""
    if s.background.status is StepStatus.NEEDS_REVIEW:
        return "needs_review"
    verified = s.verified_steps
    if not verified:
        return "unverified"
    return "verified:" + "+".join(step.value for step in verified)


def _error_type(err: ActivityError) -> str | None:
    cause = err.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def _provider_rejection(err: ActivityError, what: str) -> ApplicationError:
    """What the person is told when a provider call fails: their mistake (422/429) or
    "try again shortly" (503) — never a raw provider message with secrets in it."""
    cause = err.cause
    kind = _error_type(err)
    message = cause.message if isinstance(cause, ApplicationError) else str(cause)
    details: dict[str, Any] = {}
    if isinstance(cause, ApplicationError) and cause.details:
        with contextlib.suppress(Exception):
            first = cause.details[0]
            details = dict(first) if isinstance(first, dict) else {}
    if kind == "InvalidPhoneNumber":
        return _rejection(
            Rejection.INVALID_PHONE, f"this number cannot receive text messages: {message}"
        )
    if kind == "TooManySends":
        return _rejection(
            Rejection.TOO_MANY_REQUESTS,
            "too many codes were sent to this number; try again later",
            retry_after_seconds=details.get("retry_after_seconds", 600),
        )
    if kind == "TooManyChecks":
        return _rejection(Rejection.CODE_LOCKED, "too many wrong codes; ask for a new one")
    if kind in ("EmailRejected", "BackgroundCheckRejected", "SmsRejected", "PaymentRejected"):
        return _rejection(Rejection.UNDELIVERABLE, f"the {what} provider refused: {message}")
    return _rejection(
        Rejection.PROVIDER_UNAVAILABLE,
        f"the {what} provider did not answer in time; nothing was sent twice — try again",
    )


def _rejection(kind: Rejection, message: str, **details: Any) -> ApplicationError:
    if details:
        return ApplicationError(message, details, type=kind.value, non_retryable=True)
    return ApplicationError(message, type=kind.value, non_retryable=True)
