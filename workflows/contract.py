"""Contract: one hire, 1..n milestones paid through escrow.

    offered ─accept─▶ active ─(every milestone settled)─▶ completed ─(blind reviews)─▶ closed
       │ decline / 72 h          │ cancel, unfunded 7 d          ▲
       ▼                         ▼                                │ resolve_dispute
    declined / expired        cancelled             disputed ─────┘

Per milestone:  fund (card charged into escrow) → submit → approve | request changes → …;
without a client decision it is auto-released 14 days after the *latest* submission (reminders
at 5 and 13 days). Release = Stripe transfer to the worker's connected account minus the
platform fee; it waits for the worker's payout account to be ready, and never happens while a
dispute or a chargeback on that milestone is open.

Money safety: every provider call's idempotency key is derived from the workflow id and the
step (``contract-…:m2:release``) and the ledger transaction uses the same key, so replays,
retries and crashes never move money twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import contract_rules as rules
from workflows.common import (
    CHARGEBACK_BEFORE_FUNDING_RECORDED,
    FUNDING_TIMEOUT,
    LEDGER_BEFORE_CHARGEBACK_LOSS,
    MONEY_CALL_TIMEOUT,
    MONEY_STEP_DEADLINE,
    NOTICES_BY_EMAIL_AND_SMS,
    PAYMENT_RETRY,
    Notifier,
    remaining,
    store,
)

with workflow.unsafe.imports_passed_through():
    from activities.payments import PaymentActivities
    from activities.store import StoreActivities
    from models import notices
    from models import search_attributes as sa
    from models.common import Role
    from models.contracts import (
        CancelContract,
        Chargeback,
        ChargebackClosed,
        ChargebackOpened,
        ChargebackStatus,
        ContractCommand,
        ContractInput,
        ContractResult,
        ContractStage,
        ContractState,
        DeclineOffer,
        Dispute,
        EscrowPaymentSucceeded,
        FundMilestone,
        Milestone,
        MilestoneCommand,
        MilestoneStatus,
        OpenDispute,
        PayoutAccountReady,
        RequestChanges,
        ResolveDispute,
        Review,
        SubmitMilestone,
        SubmitReview,
    )
    from models.errors import Rejection
    from models.ledger import LedgerTransaction
    from models.money import platform_fee_cents
    from models.notices import Notice
    from models.payments import (
        ConfirmPaymentRequest,
        EscrowIntentRequest,
        FundingResult,
        RefundRequest,
        TransferRequest,
    )
    from models.store import (
        PayoutDestinationRequest,
        RevealReviews,
        ReviewRecord,
    )

_NO_PAYOUT_ACCOUNT = "the worker has had no payout account"
_ESCROWED_BEFORE_DELIVERY = (MilestoneStatus.FUNDED, MilestoneStatus.CHANGES_REQUESTED)


@workflow.defn(name="Contract")
class ContractWorkflow:
    @workflow.init
    def __init__(self, input: ContractInput) -> None:
        self.input = input
        self.state: ContractState = input.carried_state or input.initial_state()
        self._payout_account_signalled = False
        self._releasing: set[int] = set()  # milestones whose transfer is in flight
        self._resolving = False  # a dispute resolution is moving money right now
        self._notifier = Notifier()

    @property
    def _id(self) -> str:
        return workflow.info().workflow_id

    # =========================================================================================
    # The process, top to bottom
    # =========================================================================================

    @workflow.run
    async def run(self, input: ContractInput) -> ContractResult:
        if self.state.version == 0:
            await self._notify(
                self.state.worker_id,
                notices.offer_made(self.state.job_title, self.state.offer_expires_at),
                "offer",
            )
            await self._progress()

        if self.state.stage is ContractStage.OFFERED:
            await self._await_worker_answer()

        if self.state.stage in (ContractStage.ACTIVE, ContractStage.DISPUTED):
            await asyncio.gather(
                self._cancel_if_never_funded(),
                *(self._milestone_lifecycle(m) for m in self.state.milestones),
            )
            # A dispute resolution settles milestones as it goes: let it finish first.
            await workflow.wait_condition(lambda: not self._resolving)
            if self.state.stage is not ContractStage.CANCELLED:
                await self._complete()

        if self.state.stage is ContractStage.COMPLETED:
            await self._collect_blind_reviews()

        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._notifier.drain()
        return self._result()

    async def _await_worker_answer(self) -> None:
        """The worker accepts or declines the offer, at most 72 hours after it was made."""
        try:
            await workflow.wait_condition(
                lambda: self.state.stage is not ContractStage.OFFERED,
                timeout=remaining(self.state.offer_expires_at),
                timeout_summary="offer expires unless the worker answers",
            )
        except TimeoutError:
            await self._end(ContractStage.EXPIRED, "the worker did not answer the offer in time")
            await self._notify(
                self.state.client_id, notices.offer_expired(self.state.job_title), "offer-expired"
            )

    async def _cancel_if_never_funded(self) -> None:
        """A contract nobody funds within 7 days of acceptance is cancelled (no money moved)."""
        assert self.state.funding_deadline_at is not None
        try:
            await workflow.wait_condition(
                lambda: self.state.any_funded or self._over(),
                timeout=remaining(self.state.funding_deadline_at),
                timeout_summary="funding deadline: cancelled unless a milestone is funded",
            )
        except TimeoutError:
            # A funding attempt may be in flight right at the deadline: let it finish first.
            await workflow.wait_condition(
                lambda: all(m.status is not MilestoneStatus.FUNDING for m in self.state.milestones)
            )
            if not self.state.any_funded and not self._over():
                for m in self.state.milestones:
                    m.status = MilestoneStatus.CANCELLED
                await self._end(ContractStage.CANCELLED, "not funded within the funding deadline")
                for party in (self.state.client_id, self.state.worker_id):
                    await self._notify(party, notices.cancelled_unfunded(), "cancelled-unfunded")

    async def _milestone_lifecycle(self, m: Milestone) -> None:
        """One milestone from funding to settlement; status-driven so it resumes anywhere."""
        while not m.status.is_settled:
            if m.status is MilestoneStatus.SUBMITTED:
                await self._await_client_decision(m)
            elif m.status is MilestoneStatus.APPROVED:
                await self._release(m)
            else:
                await self._status_change(m)

    @staticmethod
    async def _status_change(m: Milestone) -> None:
        before = m.status
        await workflow.wait_condition(lambda: m.status is not before)

    async def _await_client_decision(self, m: Milestone) -> None:
        """Approve or request changes; if the client does nothing, remind them at 5 and 13
        days and release 14 days after the latest submission. Frozen while disputed."""
        policy = self.state.policy
        submission = m.submission_count
        while m.status is MilestoneStatus.SUBMITTED and m.submission_count == submission:
            if self.state.frozen or m.chargeback_open:
                await workflow.wait_condition(
                    lambda: not (self.state.frozen or m.chargeback_open) or m.status.is_settled
                )
                continue
            assert m.submitted_at is not None and m.auto_release_at is not None
            reminders = policy.approval_reminders[m.reminders_sent :]
            next_at = m.submitted_at + reminders[0] if reminders else m.auto_release_at
            try:
                await workflow.wait_condition(
                    lambda: (
                        m.status is not MilestoneStatus.SUBMITTED
                        or m.submission_count != submission
                        or self.state.frozen
                        or m.chargeback_open
                    ),
                    timeout=remaining(min(next_at, m.auto_release_at)),
                    timeout_summary=f"M{m.number}: remind the client to approve"
                    if reminders and next_at < m.auto_release_at
                    else f"M{m.number}: auto-release to the worker",
                )
            except TimeoutError:
                if reminders and next_at < m.auto_release_at:
                    m.reminders_sent += 1
                    await self._notify(
                        self.state.client_id,
                        notices.approval_reminder(m.number, m.title, m.auto_release_at),
                        f"approval-reminder-{m.number}-{submission}-{m.reminders_sent}",
                    )
                    await self._progress()
                else:
                    m.status = MilestoneStatus.APPROVED
                    m.approved_at = workflow.now()
                    m.auto_released = True
                    await self._progress()

    async def _release(self, m: Milestone) -> None:
        """Pays an approved milestone out of escrow to the worker, minus the platform fee."""
        await workflow.wait_condition(
            lambda: (
                not (self.state.frozen or m.chargeback_open)
                or m.status is not MilestoneStatus.APPROVED
            )
        )
        if m.status is not MilestoneStatus.APPROVED:
            return  # a lost chargeback or a dispute settled it meanwhile
        destination = await self._payout_account()
        assert m.charge_id is not None
        gross = m.release_cents
        fee = platform_fee_cents(gross, self.state.policy.platform_fee_bps)
        key = f"{self._id}:m{m.number}:release"
        self._releasing.add(m.number)
        try:
            transfer = await workflow.execute_activity_method(
                PaymentActivities.transfer_to_worker,
                TransferRequest(
                    idempotency_key=key,
                    contract_id=self.state.contract_id,
                    milestone=m.number,
                    amount_cents=gross - fee,
                    currency=self.state.currency,
                    destination_account=destination,
                    source_charge_id=m.charge_id,
                    transfer_group=self._id,
                ),
                start_to_close_timeout=MONEY_CALL_TIMEOUT,
                schedule_to_close_timeout=MONEY_STEP_DEADLINE,
                retry_policy=PAYMENT_RETRY,
                summary=f"M{m.number}: pay the worker (Stripe transfer)",
            )
        except ActivityError as err:
            if _error_type(err) == "PayoutAccountNotReady":
                # Stripe disagrees with our projection: wait for the account again.
                self.state.payout_account_id = None
                return
            await self._needs_support(f"release of milestone {m.number} failed: {_message(err)}")
            await workflow.wait_condition(lambda: not self.state.needs_support)
            return  # the lifecycle loop tries again once support clears the flag
        finally:
            self._releasing.discard(m.number)
        m.status = MilestoneStatus.RELEASED
        m.released_at = workflow.now()
        m.transfer_id = transfer.transfer_id
        m.fee_cents = fee
        m.payout_cents = gross - fee
        await self._ledger(
            LedgerTransaction.release(
                key,
                self.state.contract_id,
                self.state.currency,
                gross - fee,
                fee,
                transfer.transfer_id,
            )
        )
        await self._progress()
        await self._notify(
            self.state.worker_id,
            notices.release_done(m.number, gross - fee, self.state.currency),
            f"released-{m.number}",
        )

    async def _payout_account(self) -> str:
        """The worker's ready payout account; waits (with reminders) until there is one and
        asks support for help if the worker has not set it up after 90 days."""
        policy = self.state.policy
        while self.state.payout_account_id is None:
            self._payout_account_signalled = False
            found = await store(
                StoreActivities.payout_destination,
                PayoutDestinationRequest(
                    worker_id=self.state.worker_id, contract_id=self.state.contract_id
                ),
            )
            if found.account_id:
                self.state.payout_account_id = found.account_id
                break
            now = workflow.now()
            if self.state.waiting_for_payout_account_since is None:
                self.state.waiting_for_payout_account_since = now
                await self._progress()
            since = self.state.waiting_for_payout_account_since
            waited = now - since
            await self._notify(
                self.state.worker_id,
                notices.payout_account_needed(),
                f"payout-account-needed-{waited // policy.payout_account_reminder_every}",
            )
            if waited >= policy.payout_account_support_after and not self.state.needs_support:
                await self._needs_support(f"{_NO_PAYOUT_ACCOUNT} for {waited.days} days")
            until_support = remaining(since + policy.payout_account_support_after)
            every = policy.payout_account_reminder_every
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: (
                        self._payout_account_signalled or self.state.payout_account_id is not None
                    ),
                    timeout=min(every, until_support) if until_support else every,
                    timeout_summary="remind the worker to set up a payout account",
                )
        if self.state.waiting_for_payout_account_since is not None:
            self.state.waiting_for_payout_account_since = None
            if (self.state.support_reason or "").startswith(_NO_PAYOUT_ACCOUNT):
                self.state.needs_support, self.state.support_reason = False, None
            await self._progress()
        return self.state.payout_account_id

    async def _complete(self) -> None:
        self.state.stage = ContractStage.COMPLETED
        self.state.completed_at = workflow.now()
        self.state.reviews_close_at = self.state.completed_at + self.state.policy.review_window
        await self._progress()
        for party in (self.state.client_id, self.state.worker_id):
            await self._notify(
                party, notices.review_invite(self.state.reviews_close_at), "review-invite"
            )

    async def _collect_blind_reviews(self) -> None:
        """Each side has the review window; reviews are revealed when both are in or it ends."""
        assert self.state.reviews_close_at is not None
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: len(self.state.reviews) == 2,
                timeout=remaining(self.state.reviews_close_at),
                timeout_summary="review window closes: reviews are revealed",
            )
        await workflow.wait_condition(workflow.all_handlers_finished)  # a review being saved
        self.state.reviews_revealed = True
        await store(
            StoreActivities.reveal_reviews,
            RevealReviews(contract_id=self.state.contract_id, revealed_at=workflow.now()),
        )
        self.state.closed_at = workflow.now()
        await self._progress()

    # =========================================================================================
    # Commands (updates). Each validator rejects before anything enters history; each handler
    # re-checks, because several updates may be validated before any handler runs.
    # =========================================================================================

    @workflow.update(
        name="accept",
        description="Worker: accept the offer (before it expires). The client then has the funding deadline to fund a milestone.",
    )
    async def accept(self, cmd: ContractCommand) -> ContractState:
        rules.check_offer_answer(self.state, cmd.actor)
        now = workflow.now()
        self.state.stage = ContractStage.ACTIVE
        self.state.accepted_at = now
        self.state.funding_deadline_at = now + self.state.policy.funding_deadline
        await self._progress()
        await self._notify(
            self.state.client_id,
            notices.offer_accepted(self.state.funding_deadline_at),
            "offer-accepted",
        )
        return self.state

    @accept.validator
    def _check_accept(self, cmd: ContractCommand) -> None:
        rules.check_offer_answer(self.state, cmd.actor)

    @workflow.update(
        name="decline",
        description="Worker: decline the offer, with an optional reason. The contract ends; no money moves.",
    )
    async def decline(self, cmd: DeclineOffer) -> ContractState:
        rules.check_offer_answer(self.state, cmd.actor)
        for m in self.state.milestones:
            m.status = MilestoneStatus.CANCELLED
        await self._end(ContractStage.DECLINED, cmd.reason or "declined by the worker")
        await self._notify(
            self.state.client_id, notices.offer_declined(cmd.reason), "offer-declined"
        )
        return self.state

    @decline.validator
    def _check_decline(self, cmd: DeclineOffer) -> None:
        rules.check_offer_answer(self.state, cmd.actor)

    @workflow.update(
        name="fund",
        description="Client: charge a card for milestone N into escrow. Answers when the charge is settled or declined.",
    )
    async def fund(self, cmd: FundMilestone) -> ContractState:
        """Charges the client's card into escrow; answers only when the charge is settled."""
        m = rules.check_milestone(self.state, cmd, Role.CLIENT, (MilestoneStatus.PENDING,), "fund")
        m.status = MilestoneStatus.FUNDING
        m.fund_attempts += 1
        m.last_payment_error = None
        try:
            if m.payment_intent_id is None:
                m.payment_intent_id = await self._payment(
                    PaymentActivities.create_escrow_intent,
                    EscrowIntentRequest(
                        idempotency_key=f"{self._id}:m{m.number}:intent",
                        contract_id=self.state.contract_id,
                        milestone=m.number,
                        client_id=self.state.client_id,
                        amount_cents=m.amount_cents,
                        currency=self.state.currency,
                        transfer_group=self._id,
                        description=f"{self.state.job_title} — milestone {m.number}: {m.title}",
                    ),
                    summary=f"M{m.number}: create the escrow payment (Stripe)",
                )
            funding = await self._payment(
                PaymentActivities.confirm_escrow_payment,
                ConfirmPaymentRequest(
                    idempotency_key=f"{self._id}:m{m.number}:confirm:{m.fund_attempts}",
                    payment_intent_id=m.payment_intent_id,
                    payment_method=cmd.payment_method,
                ),
                summary=f"M{m.number}: charge the client's card into escrow",
            )
        except ActivityError as err:
            if m.status is MilestoneStatus.FUNDING:  # (a webhook may have settled it meanwhile)
                m.status = MilestoneStatus.PENDING
                m.last_payment_error = _message(err)
                await self._progress()
            raise _funding_rejection(err) from None
        await self._mark_funded(m, funding)
        return self.state

    @fund.validator
    def _check_fund_cmd(self, cmd: FundMilestone) -> None:
        rules.check_milestone(self.state, cmd, Role.CLIENT, (MilestoneStatus.PENDING,), "fund")

    @workflow.update(
        name="submit",
        description="Worker: deliver milestone N (funded, or changes requested). Starts its auto-release clock (14 days by default).",
    )
    async def submit(self, cmd: SubmitMilestone) -> ContractState:
        m = rules.check_milestone(
            self.state, cmd, Role.WORKER, _ESCROWED_BEFORE_DELIVERY, "submit work for"
        )
        now = workflow.now()
        m.status = MilestoneStatus.SUBMITTED
        m.submitted_at = now
        m.submission_count += 1
        m.submission_note = cmd.note
        m.auto_release_at = now + self.state.policy.auto_release_after
        m.reminders_sent = 0
        await self._progress()
        await self._notify(
            self.state.client_id,
            notices.work_submitted(m.number, m.auto_release_at),
            f"submitted-{m.number}-{m.submission_count}",
        )
        return self.state

    @submit.validator
    def _check_submit(self, cmd: SubmitMilestone) -> None:
        rules.check_milestone(
            self.state, cmd, Role.WORKER, _ESCROWED_BEFORE_DELIVERY, "submit work for"
        )

    @workflow.update(
        name="approve",
        description="Client: approve milestone N's delivered work. It is released to the worker minus the platform fee.",
    )
    async def approve(self, cmd: MilestoneCommand) -> ContractState:
        m = rules.check_milestone(
            self.state, cmd, Role.CLIENT, (MilestoneStatus.SUBMITTED,), "approve"
        )
        m.status = MilestoneStatus.APPROVED
        m.approved_at = workflow.now()
        await self._progress()
        return self.state

    @approve.validator
    def _check_approve(self, cmd: MilestoneCommand) -> None:
        rules.check_milestone(self.state, cmd, Role.CLIENT, (MilestoneStatus.SUBMITTED,), "approve")

    @workflow.update(
        name="request_changes",
        description="Client: send milestone N's delivered work back with a reason. Stops its auto-release clock.",
    )
    async def request_changes(self, cmd: RequestChanges) -> ContractState:
        m = rules.check_milestone(
            self.state, cmd, Role.CLIENT, (MilestoneStatus.SUBMITTED,), "request changes on"
        )
        m.status = MilestoneStatus.CHANGES_REQUESTED
        m.changes_requested_reason = cmd.reason
        m.auto_release_at = None
        await self._progress()
        await self._notify(
            self.state.worker_id,
            notices.changes_requested(m.number, cmd.reason),
            f"changes-{m.number}-{m.submission_count}",
        )
        return self.state

    @request_changes.validator
    def _check_request_changes(self, cmd: RequestChanges) -> None:
        rules.check_milestone(
            self.state, cmd, Role.CLIENT, (MilestoneStatus.SUBMITTED,), "request changes on"
        )

    @workflow.update(
        name="cancel",
        description="Client or worker: cancel the contract. Pending milestones are dropped, unreleased escrow is refunded, approved work is still paid.",
    )
    async def cancel(self, cmd: CancelContract) -> ContractState:
        """Before funding nothing moves; after, unreleased escrow goes back to the client.
        Approved milestones are owed to the worker and are still paid out."""
        rules.check_cancel(self.state, cmd.actor, self._releasing)
        who = self.state.party_role(cmd.actor.user_id) or cmd.actor.role
        self.state.stage = ContractStage.CANCELLED
        self.state.end_reason = cmd.reason or f"cancelled by the {who}"
        for m in self.state.milestones:
            if m.status is MilestoneStatus.PENDING:
                m.status = MilestoneStatus.CANCELLED
        await self._progress()
        for m in self.state.milestones:
            if m.status in (*_ESCROWED_BEFORE_DELIVERY, MilestoneStatus.SUBMITTED):
                await self._refund(m, m.escrow_cents)
        await self._progress()
        return self.state

    @cancel.validator
    def _check_cancel(self, cmd: CancelContract) -> None:
        rules.check_cancel(self.state, cmd.actor, self._releasing)

    @workflow.update(
        name="dispute",
        description="Client or worker: open a dispute with a reason. Timers and money freeze until support resolves it.",
    )
    async def dispute(self, cmd: OpenDispute) -> ContractState:
        rules.check_dispute(self.state, cmd.actor, self._releasing)
        self.state.dispute = Dispute(
            opened_by=cmd.actor,
            reason=cmd.reason,
            opened_at=workflow.now(),
            escrow_cents=self.state.escrow_cents,
        )
        self.state.stage = ContractStage.DISPUTED
        await self._needs_support(f"dispute opened by the {cmd.actor.role}: {cmd.reason}")
        for party in (self.state.client_id, self.state.worker_id):
            await self._notify(
                party,
                notices.dispute_opened(),
                f"dispute-opened-{self.state.dispute.opened_at:%s}",
            )
        return self.state

    @dispute.validator
    def _check_dispute(self, cmd: OpenDispute) -> None:
        rules.check_dispute(self.state, cmd.actor, self._releasing)

    @workflow.update(
        name="resolve_dispute",
        description="Support: settle an open dispute — release_cents to the worker (minus fee) and refund_cents to the client; they must add up to the escrow in dispute.",
    )
    async def resolve_dispute(self, cmd: ResolveDispute) -> ContractState:
        """Support splits the escrow in dispute: ``release_cents`` to the worker (minus the
        fee), ``refund_cents`` back to the client. The contract then ends."""
        dispute = rules.check_resolve(self.state, cmd, self._resolving)
        self._resolving = True
        # Split per milestone, in order: releases first, the rest is refunded.
        plan: list[tuple[Milestone, int, int]] = []
        to_release = cmd.release_cents
        for m in self.state.milestones:
            if m.status.in_escrow:
                release_here = min(to_release, m.escrow_cents)
                to_release -= release_here
                plan.append((m, release_here, m.escrow_cents - release_here))
        # Refunds happen while the contract is still frozen, so no timer can release a
        # milestone's full amount before its refunded part is accounted for.
        for m, release_here, refund_here in plan:
            if refund_here:
                await self._refund(m, refund_here, settle=release_here == 0)
        for m, release_here, _ in plan:
            if release_here:
                m.status = MilestoneStatus.APPROVED
                m.approved_at = workflow.now()
        for m in self.state.milestones:
            if m.status is MilestoneStatus.PENDING:
                m.status = MilestoneStatus.CANCELLED
        dispute.resolved_at = workflow.now()
        dispute.release_cents, dispute.refund_cents = cmd.release_cents, cmd.refund_cents
        dispute.resolution_note = cmd.note
        self.state.stage = ContractStage.ACTIVE
        self.state.end_reason = "dispute resolved by support"
        self.state.needs_support, self.state.support_reason = False, None
        self._resolving = False
        await self._progress()
        if workflow.patched(NOTICES_BY_EMAIL_AND_SMS):  # a notice older runs never sent
            resolved = notices.dispute_resolved(
                cmd.release_cents, cmd.refund_cents, self.state.currency
            )
            for party in (self.state.client_id, self.state.worker_id):
                await self._notify(party, resolved, f"dispute-resolved-{dispute.resolved_at:%s}")
        return self.state

    @resolve_dispute.validator
    def _check_resolve_cmd(self, cmd: ResolveDispute) -> None:
        rules.check_resolve(self.state, cmd, self._resolving)

    @workflow.update(
        name="review",
        description="Client or worker: a blind review (rating and comment) after completion; revealed when both are in or the window closes.",
    )
    async def review(self, cmd: SubmitReview) -> ContractState:
        role = rules.check_review(self.state, cmd.actor)
        review = Review(
            author_id=cmd.actor.user_id,
            author_role=role,
            rating=cmd.rating,
            comment=cmd.comment,
            submitted_at=workflow.now(),
        )
        self.state.reviews[role.value] = review
        subject = self.state.worker_id if role is Role.CLIENT else self.state.client_id
        await store(
            StoreActivities.save_review,
            ReviewRecord(
                contract_id=self.state.contract_id, subject_id=subject, **review.model_dump()
            ),
        )
        await self._progress()
        return self.state

    @review.validator
    def _check_review_cmd(self, cmd: SubmitReview) -> None:
        rules.check_review(self.state, cmd.actor)

    @workflow.update(
        name="resume_after_support",
        description="Support: clear NeedsSupport after fixing what blocked a money step; the step is retried.",
    )
    async def resume_after_support(self, cmd: ContractCommand) -> ContractState:
        """Support clears the flag after fixing what blocked a money step; it is retried."""
        rules.check_support(cmd.actor)
        self.state.needs_support = False
        await self._progress()
        return self.state

    @resume_after_support.validator
    def _check_resume(self, cmd: ContractCommand) -> None:
        rules.check_support(cmd.actor)

    @workflow.query(
        name="state",
        description="The whole contract: stage, milestones, escrow, deadlines, dispute, reviews (what the API shows).",
    )
    def query_state(self) -> ContractState:
        return self.state

    # =========================================================================================
    # Signals: provider webhooks and the worker's PayoutAccount workflow
    # =========================================================================================

    @workflow.signal(
        name="payout_account_ready",
        description="From the worker's PayoutAccount workflow: their Stripe account can receive payouts, so a waiting release goes ahead.",
    )
    def payout_account_ready(self, signal: PayoutAccountReady) -> None:
        self.state.payout_account_id = signal.account_id
        self._payout_account_signalled = True

    @workflow.signal(
        name="escrow_payment_succeeded",
        description="Stripe webhook payment_intent.succeeded: marks the milestone funded when the fund call did not (it timed out or has not answered yet).",
    )
    async def escrow_payment_succeeded(self, signal: EscrowPaymentSucceeded) -> None:
        """Webhooks may come before the fund call answers (then the update finishes the job)
        or after a funding call timed out although the card was charged (then we do)."""
        m = self.state.milestone_for_intent(signal.payment_intent_id)
        if (
            m is None
            or m.status is not MilestoneStatus.PENDING
            or self.state.stage.value
            in (ContractStage.CANCELLED, ContractStage.DECLINED, ContractStage.EXPIRED)
        ):
            return
        funding = await self._payment(
            PaymentActivities.get_escrow_payment,
            signal.payment_intent_id,
            summary=f"M{m.number}: read the payment Stripe reported",
        )
        if funding is not None and m.status is MilestoneStatus.PENDING:
            await self._mark_funded(m, funding)

    @workflow.signal(
        name="reconciliation_mismatch",
        description="From the daily Reconciliation: our ledger and Stripe disagree on this contract. Flags NeedsSupport with the reasons.",
    )
    async def reconciliation_mismatch(self, reasons: str) -> None:
        """The daily reconciliation found the ledger and Stripe disagreeing on this contract."""
        await self._needs_support(f"reconciliation: {reasons}")

    def _disputed_milestone(
        self, charge_id: str, payment_intent_id: str | None
    ) -> Milestone | None:
        """The milestone a chargeback is about. Its webhook may come before the funding call
        has told us the charge (the card network was fast, our worker crashed mid-call): the
        PaymentIntent, known before the card is charged, then names the milestone."""
        m = self.state.milestone_for_charge(charge_id)
        if m is None and payment_intent_id and workflow.patched(CHARGEBACK_BEFORE_FUNDING_RECORDED):
            m = self.state.milestone_for_intent(payment_intent_id)
        return m

    @workflow.signal(
        name="chargeback_opened",
        description="Stripe webhook charge.dispute.created: the client's bank disputes a milestone's charge. Its release freezes and support is flagged.",
    )
    async def chargeback_opened(self, signal: ChargebackOpened) -> None:
        m = self._disputed_milestone(signal.charge_id, signal.payment_intent_id)
        if m is None or m.chargeback is not None:
            return  # unknown charge, a duplicate, or the "closed" event already arrived
        m.chargeback = Chargeback(
            dispute_id=signal.dispute_id, amount_cents=signal.amount_cents, opened_at=workflow.now()
        )
        await self._needs_support(f"chargeback {signal.dispute_id} opened on milestone {m.number}")

    @workflow.signal(
        name="chargeback_closed",
        description="Stripe webhook charge.dispute.closed: won, the release may go ahead; lost, the money leaves escrow and the ledger records the loss.",
    )
    async def chargeback_closed(self, signal: ChargebackClosed) -> None:
        m = self._disputed_milestone(signal.charge_id, signal.payment_intent_id)
        if m is None:
            return
        if m.status is MilestoneStatus.FUNDING:
            # A loss takes the milestone out of escrow: the funding in flight records it first.
            await workflow.wait_condition(lambda: m.status is not MilestoneStatus.FUNDING)
        if m.chargeback is None:  # out of order: "closed" arrived before "created"
            m.chargeback = Chargeback(
                dispute_id=signal.dispute_id, amount_cents=m.amount_cents, opened_at=workflow.now()
            )
        if m.chargeback.status is not ChargebackStatus.OPEN:
            return  # duplicate delivery
        m.chargeback.status = ChargebackStatus.WON if signal.won else ChargebackStatus.LOST
        m.chargeback.closed_at = workflow.now()
        if not signal.won:
            from_escrow = m.escrow_cents
            ledger_first = workflow.patched(LEDGER_BEFORE_CHARGEBACK_LOSS)
            if m.status.in_escrow and not ledger_first:
                m.status = MilestoneStatus.LOST
            await self._ledger(
                LedgerTransaction.chargeback_lost(
                    f"{self._id}:m{m.number}:chargeback:{signal.dispute_id}",
                    self.state.contract_id,
                    self.state.currency,
                    m.chargeback.amount_cents,
                    from_escrow,
                    signal.dispute_id,
                )
            )
            if m.status.in_escrow and ledger_first:
                m.status = MilestoneStatus.LOST
        if not any(x.chargeback_open for x in self.state.milestones) and not self.state.frozen:
            self.state.needs_support = False
        await self._progress()

    # =========================================================================================
    # Effects
    # =========================================================================================

    async def _payment(self, fn: Any, arg: Any, summary: str | None = None) -> Any:
        """A payment call made while a client waits on the API: bounded to about a minute."""
        return await workflow.execute_activity_method(
            fn,
            arg,
            start_to_close_timeout=timedelta(seconds=20),
            schedule_to_close_timeout=FUNDING_TIMEOUT,
            retry_policy=PAYMENT_RETRY,
            summary=summary or fn.__name__.replace("_", " "),
        )

    async def _mark_funded(self, m: Milestone, funding: FundingResult) -> None:
        m.status = MilestoneStatus.FUNDED
        m.charge_id = funding.charge_id
        m.payment_intent_id = funding.payment_intent_id
        m.funded_at = workflow.now()
        m.last_payment_error = None
        await self._ledger(
            LedgerTransaction.funding(
                f"{self._id}:m{m.number}:fund",
                self.state.contract_id,
                self.state.currency,
                funding.amount_cents,
                funding.payment_intent_id,
            )
        )
        await self._progress()
        await self._notify(
            self.state.worker_id,
            notices.milestone_funded(m.number, m.amount_cents, self.state.currency),
            f"funded-{m.number}",
        )

    async def _refund(self, m: Milestone, amount: int, *, settle: bool = True) -> None:
        assert m.payment_intent_id is not None
        key = f"{self._id}:m{m.number}:refund"
        try:
            refund = await workflow.execute_activity_method(
                PaymentActivities.refund_escrow,
                RefundRequest(
                    idempotency_key=key,
                    contract_id=self.state.contract_id,
                    milestone=m.number,
                    payment_intent_id=m.payment_intent_id,
                    amount_cents=amount,
                ),
                start_to_close_timeout=MONEY_CALL_TIMEOUT,
                schedule_to_close_timeout=MONEY_STEP_DEADLINE,
                retry_policy=PAYMENT_RETRY,
                summary=f"M{m.number}: refund the client (Stripe refund)",
            )
        except ActivityError as err:
            await self._needs_support(f"refund of milestone {m.number} failed: {_message(err)}")
            raise ApplicationError(
                f"refund failed, support has been asked to help: {_message(err)}",
                type=Rejection.PROVIDER_UNAVAILABLE.value,
            ) from None
        m.refund_id = refund.refund_id
        m.refunded_cents += refund.amount_cents
        if settle:
            m.status = MilestoneStatus.REFUNDED
        await self._ledger(
            LedgerTransaction.refund(
                key,
                self.state.contract_id,
                self.state.currency,
                refund.amount_cents,
                refund.refund_id,
            )
        )
        await self._notify(
            self.state.client_id,
            notices.refund_sent(m.number, refund.amount_cents, self.state.currency),
            f"refund-{m.number}",
        )

    async def _ledger(self, tx: LedgerTransaction) -> None:
        await store(StoreActivities.record_ledger, tx, summary=f"ledger: {tx.kind} {tx.key}")

    async def _needs_support(self, why: str) -> None:
        workflow.logger.warning("contract needs support: %s", why)
        self.state.needs_support = True
        self.state.support_reason = why
        await self._progress()

    async def _notify(self, user_id: Any, notice: Notice, step: str) -> None:
        """In the app at once; by email/SMS in the background (see ``Notifier``)."""
        await self._notifier.send(user_id, notice, f"{self._id}:{step}")

    async def _end(self, stage: ContractStage, reason: str) -> None:
        self.state.stage = stage
        self.state.end_reason = reason
        self.state.closed_at = workflow.now()
        await self._progress()

    def _over(self) -> bool:
        return self.state.stage in (ContractStage.CANCELLED, ContractStage.COMPLETED)

    async def _progress(self) -> None:
        """Every state change: bump the version, refresh what support sees, project to Postgres."""
        self.state.version += 1
        workflow.upsert_search_attributes(
            [
                sa.STAGE.value_set(self.state.stage.value),
                sa.NEEDS_SUPPORT.value_set(self.state.needs_support),
            ]
        )
        workflow.set_current_details(rules.describe(self.state))
        await store(StoreActivities.project_contract, self.state)

    def _result(self) -> ContractResult:
        ms = self.state.milestones
        return ContractResult(
            contract_id=self.state.contract_id,
            stage=self.state.stage,
            released_cents=sum(m.payout_cents for m in ms),
            refunded_cents=sum(m.refunded_cents for m in ms),
            fee_cents=sum(m.fee_cents for m in ms),
        )

    @staticmethod
    def initial_search_attributes(input: ContractInput) -> TypedSearchAttributes:
        return TypedSearchAttributes(
            [
                SearchAttributePair(sa.CONTRACT_ID, str(input.contract_id)),
                SearchAttributePair(sa.JOB_ID, str(input.job_id)),
                SearchAttributePair(sa.CLIENT_ID, str(input.client_id)),
                SearchAttributePair(sa.WORKER_ID, str(input.worker_id)),
                SearchAttributePair(sa.STAGE, ContractStage.OFFERED.value),
                SearchAttributePair(sa.AMOUNT_CENTS, sum(m.amount_cents for m in input.milestones)),
                SearchAttributePair(sa.NEEDS_SUPPORT, False),
            ]
        )


# =============================================================================================
# Plain functions
# =============================================================================================


def _error_type(err: ActivityError) -> str | None:
    cause = err.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def _message(err: ActivityError) -> str:
    return str(err.cause.message if isinstance(err.cause, ApplicationError) else err.cause or err)


def _funding_rejection(err: ActivityError) -> ApplicationError:
    """What the client sees when funding fails: declined (402) or try again later (503)."""
    kind = _error_type(err)
    if kind in (Rejection.CARD_DECLINED, Rejection.PAYMENT_FAILED):
        return ApplicationError(_message(err), type=kind, non_retryable=True)
    if kind == "PaymentRejected":
        return ApplicationError(_message(err), type=Rejection.INVALID.value, non_retryable=True)
    return ApplicationError(
        "the payment provider did not answer in time; nothing was charged twice — try again",
        type=Rejection.PROVIDER_UNAVAILABLE.value,
        non_retryable=True,
    )
