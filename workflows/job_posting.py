"""JobPosting: a client's job from publication to closing.

open ─ apply / shortlist / decline / hire (each hire starts a Contract) ─▶ closed
        (positions filled, closed by the client, or the expiry timer).

Hiring starts the Contract as a *child* workflow (parent-close policy ABANDON): the hire and
the contract's start are one decision in the job's history, so a crash can never leave a hired
application without its contract, and the UI links job → contract. ABANDON because a contract
lives for months after its job closes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.workflow import ParentClosePolicy

from workflows.common import NOTICES_BY_EMAIL_AND_SMS, Notifier, reject, remaining, store

# Patch: `publish` answers when the job is saved (or refused), not when it is numbered.
PUBLISH_WHEN_SAVED = "publish-when-saved"

with workflow.unsafe.imports_passed_through():
    # Only the Contract's definition is used here (to start it as a child), so it is shared
    # rather than re-imported into every job's sandbox.
    from activities.store import StoreActivities
    from models import notices
    from models import search_attributes as sa
    from models.common import Actor, Role
    from models.contracts import ContractInput
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
        JobPostingInput,
        JobPostingState,
        JobStatus,
    )
    from models.money import format_cents
    from workflows.contract import ContractWorkflow


def job_workflow_id(job_id: object) -> str:
    return f"job-{job_id}"


@workflow.defn(name="JobPosting")
class JobPostingWorkflow:
    @workflow.init
    def __init__(self, input: JobPostingInput) -> None:
        self.input = input
        self.state = input.carried_state or JobPostingState(
            job_id=input.job_id,
            client_id=input.client_id,
            created_at=input.created_at,
            expires_at=input.created_at + input.expires_after,
            min_verification_level=input.min_verification_level,
            required_verifications=input.required_verifications,
            **input.job.model_dump(),
        )
        self._notifier = Notifier()
        # Whether the job is in Postgres yet (a continued run's job is), or why it can't be.
        self._saved = input.carried_state is not None
        self._not_saved: str | None = None

    # --- the process ------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: JobPostingInput) -> JobPostingState:
        if self.state.version == 0:
            await self._project()
        while self.state.status is JobStatus.OPEN:
            try:
                # Open until filled or closed, at most until the expiry date.
                await workflow.wait_condition(
                    lambda: self.state.status is JobStatus.CLOSED or self._should_continue_as_new(),
                    timeout=remaining(self.state.expires_at),
                    timeout_summary="job expires: closed to applications",
                )
            except TimeoutError:
                await self._close(CloseReason.EXPIRED)
            if self.state.status is JobStatus.OPEN and self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._notifier.drain()
                workflow.continue_as_new(
                    self.input.model_copy(update={"carried_state": self.state})
                )
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._notifier.drain()
        return self.state

    # --- commands ---------------------------------------------------------------------------

    @workflow.update(
        name="publish",
        description="API (POST /v1/jobs, with the start): answers once the job is saved and visible, or refuses if the database would not save it.",
    )
    async def publish(self) -> JobPostingState:
        """Answers once the job is visible in Postgres (used with update-with-start): a 201
        means anyone can read the job. If the database refuses it, the poster hears so at
        once (the workflow holds for support; see ``store``)."""
        if not workflow.patched(PUBLISH_WHEN_SAVED):
            await workflow.wait_condition(lambda: self.state.version > 0)
            return self.state
        await workflow.wait_condition(lambda: self._saved or self._not_saved is not None)
        if not self._saved:
            reject(
                Rejection.NOT_SAVED,
                "the job could not be saved; support has been told and will publish it",
            )
        return self.state

    @workflow.update(
        name="apply",
        description="Worker: apply with a cover letter. Refused on a closed job, a second application, one's own job or missing verification steps.",
    )
    async def apply(self, cmd: Apply) -> Application:
        self._check_apply(cmd)
        now = workflow.now()
        application = Application(
            application_id=cmd.application_id,
            job_id=self.state.job_id,
            worker_id=cmd.actor.user_id,
            cover_letter=cmd.cover_letter,
            applied_at=now,
            updated_at=now,
        )
        self.state.applications[str(cmd.application_id)] = application
        await self._project(application)
        if workflow.patched(NOTICES_BY_EMAIL_AND_SMS):  # a notice older runs never sent
            await self._notifier.send(
                self.state.client_id,
                notices.application_received(self.state.title, len(self.state.applications)),
                f"{workflow.info().workflow_id}:application:{cmd.application_id}",
            )
        return application

    @apply.validator
    def _check_apply(self, cmd: Apply) -> None:
        self._require_open()
        if cmd.actor.role is not Role.WORKER:
            reject(Rejection.FORBIDDEN, "only workers can apply to jobs")
        if cmd.actor.user_id == self.state.client_id:
            reject(Rejection.FORBIDDEN, "you cannot apply to your own job")
        if self.state.has_applicant(cmd.actor.user_id):
            reject(Rejection.INVALID_STATE, "you have already applied to this job")
        if cmd.verification_level < self.state.min_verification_level:
            reject(
                Rejection.NOT_VERIFIED,
                f"applying needs verification level {self.state.min_verification_level}, "
                f"yours is {cmd.verification_level}",
            )
        missing = [s for s in self.state.required_verifications if s not in cmd.verified_steps]
        if missing:
            where = " (this job is on site)" if self.state.on_site else ""
            reject(
                Rejection.NOT_VERIFIED,
                f"to apply{where}, finish verifying: {', '.join(missing)} "
                "(GET /v1/verifications says what to do next)",
                missing_steps=missing,
            )

    @workflow.update(
        name="shortlist",
        description="Client: shortlist an application.",
    )
    async def shortlist(self, cmd: ApplicationDecision) -> Application:
        return await self._decide(cmd, ApplicationStatus.SHORTLISTED)

    @shortlist.validator
    def _check_shortlist(self, cmd: ApplicationDecision) -> None:
        self._check_decision(cmd)

    @workflow.update(
        name="decline",
        description="Client: decline an application.",
    )
    async def decline(self, cmd: ApplicationDecision) -> Application:
        return await self._decide(cmd, ApplicationStatus.DECLINED)

    @decline.validator
    def _check_decline(self, cmd: ApplicationDecision) -> None:
        self._check_decision(cmd)

    @workflow.update(
        name="hire",
        description="Client: hire an applicant with milestones. Starts the Contract child workflow; the job closes when every position is filled.",
    )
    async def hire(self, cmd: Hire) -> HireResult:
        self._check_hire(cmd)
        application = self._application(cmd.application_id)
        contract_input = ContractInput(
            contract_id=cmd.contract_id,
            job_id=self.state.job_id,
            application_id=application.application_id,
            client_id=self.state.client_id,
            worker_id=application.worker_id,
            job_title=self.state.title,
            currency=self.state.currency,
            milestones=cmd.milestones,
            policy=cmd.policy,
            offered_at=workflow.now(),
        )
        application.status = ApplicationStatus.HIRED
        application.contract_id = cmd.contract_id
        application.updated_at = workflow.now()
        self.state.hired_count += 1
        total = sum(m.amount_cents for m in cmd.milestones)
        await workflow.start_child_workflow(
            ContractWorkflow.run,
            contract_input,
            id=f"contract-{cmd.contract_id}",
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"Contract for “{self.state.title}”: "
            f"{len(cmd.milestones)} milestone(s), {format_cents(total, self.state.currency)}",
            static_details=f"Client `{self.state.client_id}`, worker `{application.worker_id}`, "
            f"job `{self.state.job_id}`. Milestones: "
            + "; ".join(
                f"{m.title} ({format_cents(m.amount_cents, self.state.currency)})"
                for m in cmd.milestones
            ),
            search_attributes=ContractWorkflow.initial_search_attributes(contract_input),
        )
        if self.state.hired_count >= self.state.positions:
            await self._close(CloseReason.FILLED, application)
        else:
            await self._project(application)
        return HireResult(job=self.state, contract=contract_input.initial_state())

    @hire.validator
    def _check_hire(self, cmd: Hire) -> None:
        self._require_client(cmd.actor)
        self._require_open()
        application = self._application(cmd.application_id)
        if application.status not in (ApplicationStatus.APPLIED, ApplicationStatus.SHORTLISTED):
            reject(Rejection.INVALID_STATE, f"this application is already {application.status}")
        if not cmd.milestones:
            reject(Rejection.INVALID, "a contract needs at least one milestone")

    @workflow.update(
        name="close",
        description="Client (or support): close the job to new applications. Contracts already started go on.",
    )
    async def close(self, cmd: CloseJob) -> JobPostingState:
        self._check_close(cmd)
        await self._close(CloseReason.BY_CLIENT)
        return self.state

    @close.validator
    def _check_close(self, cmd: CloseJob) -> None:
        self._require_client(cmd.actor)
        self._require_open()

    @workflow.query(
        name="state",
        description="The whole job: status, applications, hires, expiry (what the API shows).",
    )
    def query_state(self) -> JobPostingState:
        return self.state

    # --- helpers ----------------------------------------------------------------------------

    async def _decide(self, cmd: ApplicationDecision, status: ApplicationStatus) -> Application:
        self._check_decision(cmd)
        application = self._application(cmd.application_id)
        application.status = status
        application.updated_at = workflow.now()
        await self._project(application)
        return application

    def _check_decision(self, cmd: ApplicationDecision) -> None:
        self._require_client(cmd.actor)
        self._require_open()
        application = self._application(cmd.application_id)
        if application.status in (ApplicationStatus.HIRED, ApplicationStatus.DECLINED):
            reject(Rejection.INVALID_STATE, f"this application is already {application.status}")

    def _require_open(self) -> None:
        if self.state.status is not JobStatus.OPEN:
            reject(Rejection.INVALID_STATE, f"the job is closed ({self.state.close_reason})")

    def _require_client(self, actor: Actor) -> None:
        if actor.user_id != self.state.client_id and not actor.role.is_staff:
            reject(Rejection.FORBIDDEN, "only the client who posted the job can do this")

    def _application(self, application_id: UUID) -> Application:
        application = self.state.applications.get(str(application_id))
        if application is None:
            reject(Rejection.NOT_FOUND, "no such application on this job")
        return application

    async def _close(self, reason: CloseReason, *changed: Application) -> None:
        self.state.status = JobStatus.CLOSED
        self.state.close_reason = reason
        self.state.closed_at = workflow.now()
        workflow.upsert_search_attributes([sa.STAGE.value_set(JobStatus.CLOSED.value)])
        await self._project(*changed)

    async def _project(self, *changed: Application) -> None:
        self.state.version += 1
        self._describe()
        await store(
            StoreActivities.project_job,
            self.state,
            [str(a.application_id) for a in changed],
            on_hold=self._on_hold,
        )
        self._saved, self._not_saved = True, None

    def _on_hold(self, reason: str) -> None:
        self._not_saved = reason

    def _describe(self) -> None:
        workflow.set_current_details(describe(self.state, workflow.now()))

    def _should_continue_as_new(self) -> bool:
        return workflow.info().is_continue_as_new_suggested()

    @staticmethod
    def initial_search_attributes(input: JobPostingInput) -> TypedSearchAttributes:
        return TypedSearchAttributes(
            [
                SearchAttributePair(sa.JOB_ID, str(input.job_id)),
                SearchAttributePair(sa.CLIENT_ID, str(input.client_id)),
                SearchAttributePair(sa.STAGE, JobStatus.OPEN.value),
                SearchAttributePair(sa.AMOUNT_CENTS, input.job.budget_cents),
            ]
        )


def describe(s: JobPostingState, now: datetime) -> str:
    """The Temporal UI's *Current details* for support: what the job waits for, from whom,
    and until when."""
    if s.status is JobStatus.OPEN:
        left = max(s.expires_at - now, timedelta(0))
        undecided = sum(
            a.status in (ApplicationStatus.APPLIED, ApplicationStatus.SHORTLISTED)
            for a in s.applications.values()
        )
        return (
            f"**Open** — {len(s.applications)} application(s), {s.hired_count}/{s.positions} "
            f"hired.\n\nWaiting for workers to apply and for the client to decide "
            f"({undecided} application(s) undecided) and hire, until "
            f"{s.expires_at:%Y-%m-%d %H:%M} UTC (in {left.days} d); then the job closes "
            "unless its positions are filled first."
        )
    return (
        f"**Closed** ({s.close_reason}) on {s.closed_at:%Y-%m-%d %H:%M} UTC — "
        f"{s.hired_count}/{s.positions} hired. Nothing left to wait for; contracts continue "
        "on their own."
    )
