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
    reject,
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
    from models.notices import Notice, NoticeDelivery
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
    from models.support import (
        AddNote,
        ClearNeedsSupport,
        Deadline,
        ExtendDeadline,
        ResendNotification,
        SentNoticeQuery,
        SupportAction,
        SupportActionRecord,
        SupportCancel,
        SupportCommand,
        SupportMilestoneCommand,
        SupportNote,
        support_action_id,
    )

_NO_PAYOUT_ACCOUNT = "the worker has had no payout account"
# Patch: while a milestone's refund is in flight its release waits. Before, an auto-release
# falling due during a cancellation's refund could start a transfer of the same escrow.
REFUND_HOLDS_RELEASE = "refund-holds-release"
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
        self._refunding: set[int] = set()  # milestones whose refund is in flight
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
        """The worker accepts or declines the offer, at most 72 hours after it was made
        (or until the deadline support extended it to: the wait starts again)."""
        while True:
            deadline = self.state.offer_expires_at
            try:
                await workflow.wait_condition(
                    lambda deadline=deadline: (  # type: ignore[misc]
                        self.state.stage is not ContractStage.OFFERED
                        or self.state.offer_expires_at != deadline
                    ),
                    timeout=remaining(deadline),
                    timeout_summary="offer expires unless the worker answers",
                )
            except TimeoutError:
                if self.state.offer_expires_at != deadline:
                    continue  # extended in the same instant the old timer fired
                await self._end(
                    ContractStage.EXPIRED, "the worker did not answer the offer in time"
                )
                await self._notify(
                    self.state.client_id,
                    notices.offer_expired(self.state.job_title),
                    "offer-expired",
                )
                return
            if self.state.offer_expires_at == deadline:
                return

    async def _cancel_if_never_funded(self) -> None:
        """A contract nobody funds within 7 days of acceptance is cancelled (no money moved).
        Support may extend the deadline meanwhile: the wait starts again."""
        while True:
            deadline = self.state.funding_deadline_at
            assert deadline is not None
            try:
                await workflow.wait_condition(
                    lambda deadline=deadline: (  # type: ignore[misc]
                        self.state.any_funded
                        or self._over()
                        or self.state.funding_deadline_at != deadline
                    ),
                    timeout=remaining(deadline),
                    timeout_summary="funding deadline: cancelled unless a milestone is funded",
                )
            except TimeoutError:
                if self.state.funding_deadline_at == deadline:
                    break
            else:
                if self.state.funding_deadline_at == deadline:
                    return
        # The deadline passed. A funding attempt may be in flight right now: let it finish.
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
        days and release 14 days after the latest submission. Frozen while disputed (or
        while support refunds it); a release date support moves is waited for afresh."""
        policy = self.state.policy
        submission = m.submission_count
        while m.status is MilestoneStatus.SUBMITTED and m.submission_count == submission:
            if self._held(m):
                await workflow.wait_condition(lambda: not self._held(m) or m.status.is_settled)
                continue
            assert m.submitted_at is not None and m.auto_release_at is not None
            reminders = policy.approval_reminders[m.reminders_sent :]
            next_at = m.submitted_at + reminders[0] if reminders else m.auto_release_at
            release_at = m.auto_release_at
            try:
                await workflow.wait_condition(
                    lambda release_at=release_at: (  # type: ignore[misc]
                        m.status is not MilestoneStatus.SUBMITTED
                        or m.submission_count != submission
                        or self._held(m)
                        or m.auto_release_at != release_at
                    ),
                    timeout=remaining(min(next_at, m.auto_release_at)),
                    timeout_summary=f"M{m.number}: remind the client to approve"
                    if reminders and next_at < m.auto_release_at
                    else f"M{m.number}: auto-release to the worker",
                )
            except TimeoutError:
                if m.auto_release_at != release_at:
                    continue  # extended in the same instant the old timer fired
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
            lambda: not self._held(m) or m.status is not MilestoneStatus.APPROVED
        )
        if m.status is not MilestoneStatus.APPROVED:
            return  # a lost chargeback, a dispute or a refund settled it meanwhile
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
        while True:  # support may extend the window: the wait starts again
            close_at = self.state.reviews_close_at
            assert close_at is not None
            with contextlib.suppress(TimeoutError):  # closed, unless it was just extended
                await workflow.wait_condition(
                    lambda close_at=close_at: (  # type: ignore[misc]
                        len(self.state.reviews) == 2 or self.state.reviews_close_at != close_at
                    ),
                    timeout=remaining(close_at),
                    timeout_summary="review window closes: reviews are revealed",
                )
            if self.state.reviews_close_at == close_at:
                break
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
        self._mark_cancelled(cmd.reason or f"cancelled by the {who}")
        await self._progress()
        await self._refund_unapproved()
        await self._progress()
        return self.state

    def _mark_cancelled(self, reason: str) -> None:
        self.state.stage = ContractStage.CANCELLED
        self.state.end_reason = reason
        for m in self.state.milestones:
            if m.status is MilestoneStatus.PENDING:
                m.status = MilestoneStatus.CANCELLED

    async def _refund_unapproved(self) -> None:
        """A cancellation's refunds: escrow not yet approved goes back to the client."""
        for m in self.state.milestones:
            if m.status in (*_ESCROWED_BEFORE_DELIVERY, MilestoneStatus.SUBMITTED):
                await self._refund(m, m.escrow_cents)

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
    # Support actions (updates). Each names who acts and why; that is in the update's input in
    # history and, through ``_record_support``, in the ``support_actions`` table. Handlers
    # change the state right after their check (no await in between), then record it.
    # =========================================================================================

    @workflow.update(
        name=SupportAction.EXTEND_DEADLINE,
        description=(
            "Support: move a deadline later — which: offer | funding | auto_release (with "
            "milestone) | review_window; until: an instant, or by: a duration (P3D) added to "
            "it. Needs actor (support) and reason."
        ),
    )
    async def extend_deadline(self, cmd: ExtendDeadline) -> ContractState:
        new = rules.check_extend(self.state, cmd, workflow.now())
        old = rules.current_deadline(self.state, cmd)
        if cmd.which is Deadline.OFFER:
            self.state.offer_expires_at = new
        elif cmd.which is Deadline.FUNDING:
            self.state.funding_deadline_at = new
        elif cmd.which is Deadline.REVIEW_WINDOW:
            self.state.reviews_close_at = new
        else:
            m = self.state.milestone(cmd.milestone or 0)
            assert m is not None
            m.auto_release_at = new
        await self._record_support(
            SupportAction.EXTEND_DEADLINE,
            cmd,
            which=cmd.which.value,
            milestone=cmd.milestone,
            previous=old.isoformat(),
            extended_to=new.isoformat(),
        )
        await self._progress()
        told = notices.deadline_extended(cmd.which, self.state.job_title, new, cmd.milestone)
        for party in self._concerned_by(cmd.which):
            await self._notify(party, told, f"deadline-extended-{cmd.which}-{_update_id()}")
        return self.state

    def _concerned_by(self, deadline: Deadline) -> tuple[Any, ...]:
        """Who acts before a deadline, or waits on it: they are told when it moves."""
        if deadline is Deadline.OFFER:
            return (self.state.worker_id,)
        if deadline is Deadline.FUNDING:
            return (self.state.client_id,)
        return (self.state.client_id, self.state.worker_id)

    @extend_deadline.validator
    def _check_extend_deadline(self, cmd: ExtendDeadline) -> None:
        rules.check_extend(self.state, cmd, workflow.now())

    @workflow.update(
        name=SupportAction.CANCEL,
        description=(
            "Support: cancel the contract. Escrow not yet approved is refunded to the client "
            "(approved work is still paid to the worker). Needs actor (support) and reason."
        ),
    )
    async def support_cancel(self, cmd: SupportCancel) -> ContractState:
        rules.check_support_cancel(self.state, cmd, self._releasing)
        if self.state.stage is ContractStage.OFFERED:
            for m in self.state.milestones:
                m.status = MilestoneStatus.CANCELLED
            self.state.closed_at = workflow.now()
        self._mark_cancelled(f"cancelled by support: {cmd.reason}")
        escrow = self.state.escrow_cents
        await self._record_support(SupportAction.CANCEL, cmd, escrow_cents=escrow)
        await self._progress()
        await self._refund_unapproved()
        await self._progress()
        cancelled = notices.cancelled_by_support(self.state.job_title)
        for party in (self.state.client_id, self.state.worker_id):
            await self._notify(party, cancelled, "cancelled-by-support")
        return self.state

    @support_cancel.validator
    def _check_support_cancel(self, cmd: SupportCancel) -> None:
        rules.check_support_cancel(self.state, cmd, self._releasing)

    @workflow.update(
        name=SupportAction.RELEASE_MILESTONE,
        description=(
            "Support: approve one milestone in escrow on the client's behalf; its release to "
            "the worker follows. Input: milestone (number), actor (support), reason."
        ),
    )
    async def release_milestone(self, cmd: SupportMilestoneCommand) -> ContractState:
        m = rules.check_support_release(self.state, cmd, self._releasing, self._refunding)
        before = m.status
        m.status = MilestoneStatus.APPROVED
        m.approved_at = workflow.now()
        await self._record_support(
            SupportAction.RELEASE_MILESTONE,
            cmd,
            milestone=m.number,
            amount_cents=m.release_cents,
            was=before.value,
        )
        await self._progress()
        return self.state

    @release_milestone.validator
    def _check_release_milestone(self, cmd: SupportMilestoneCommand) -> None:
        rules.check_support_release(self.state, cmd, self._releasing, self._refunding)

    @workflow.update(
        name=SupportAction.REFUND_MILESTONE,
        description=(
            "Support: refund one milestone's escrow to the client; answers once the refund is "
            "made. Input: milestone (number), actor (support), reason."
        ),
    )
    async def refund_milestone(self, cmd: SupportMilestoneCommand) -> ContractState:
        m = rules.check_support_refund(self.state, cmd, self._releasing, self._refunding)
        self._refunding.add(m.number)  # from now on no timer or release touches it
        amount = m.escrow_cents
        try:
            await self._record_support(
                SupportAction.REFUND_MILESTONE,
                cmd,
                milestone=m.number,
                amount_cents=amount,
                was=m.status.value,
            )
            await self._refund(m, amount)
        finally:
            self._refunding.discard(m.number)
        await self._progress()
        return self.state

    @refund_milestone.validator
    def _check_refund_milestone(self, cmd: SupportMilestoneCommand) -> None:
        rules.check_support_refund(self.state, cmd, self._releasing, self._refunding)

    @workflow.update(
        name=SupportAction.RESEND_NOTIFICATION,
        description=(
            "Support: email a notice again as a new delivery — notice: a kind (offer, "
            "review-invite…; the latest) or a dedupe key; to: recipient (optional). Needs "
            "actor (support) and reason."
        ),
    )
    async def resend_notification(self, cmd: ResendNotification) -> ContractState:
        rules.check_resend(self.state, cmd)
        parties = [self.state.client_id, self.state.worker_id]
        sent = await store(
            StoreActivities.sent_notice,
            SentNoticeQuery(
                workflow_id=self._id, notice=cmd.notice, recipients=[cmd.to] if cmd.to else parties
            ),
        )
        if sent is None:
            reject(Rejection.NOT_FOUND, f"no notice {cmd.notice!r} was sent on this contract")
        # Keyed by this update: the original's key would be deduplicated to "already sent".
        key = f"{sent.dedupe_key}:resend:{_update_id()}"
        await self._record_support(
            SupportAction.RESEND_NOTIFICATION,
            cmd,
            notice=cmd.notice,
            original=sent.dedupe_key,
            delivery=key,
            to=str(sent.user_id),
        )
        self._notifier.deliver(
            NoticeDelivery(
                user_id=sent.user_id,
                dedupe_key=key,
                notice=Notice(kind=sent.kind, subject=sent.subject, body=sent.body),
            )
        )
        return self.state

    @resend_notification.validator
    def _check_resend_notification(self, cmd: ResendNotification) -> None:
        rules.check_resend(self.state, cmd)

    @workflow.update(
        name=SupportAction.ADD_NOTE,
        description="Support: add a note to the contract (note, actor, reason).",
    )
    async def add_note(self, cmd: AddNote) -> ContractState:
        rules.check_note(self.state, cmd)
        self.state.notes.append(
            SupportNote(author_id=cmd.actor.user_id, note=cmd.note, added_at=workflow.now())
        )
        await self._record_support(SupportAction.ADD_NOTE, cmd, note=cmd.note)
        await self._progress()
        return self.state

    @add_note.validator
    def _check_add_note(self, cmd: AddNote) -> None:
        rules.check_note(self.state, cmd)

    @workflow.update(
        name=SupportAction.CLEAR_NEEDS_SUPPORT,
        description=(
            "Support: clear NeedsSupport after fixing its cause; a money step that waited for "
            "support is retried. Needs actor (support) and reason. Supersedes "
            "resume_after_support."
        ),
    )
    async def clear_needs_support(self, cmd: ClearNeedsSupport) -> ContractState:
        rules.check_clear_needs_support(self.state, cmd)
        was = self.state.support_reason
        self.state.needs_support, self.state.support_reason = False, None
        self.state.needs_support_since = None
        await self._record_support(SupportAction.CLEAR_NEEDS_SUPPORT, cmd, was=was)
        await self._progress()
        return self.state

    @clear_needs_support.validator
    def _check_clear_needs_support(self, cmd: ClearNeedsSupport) -> None:
        rules.check_clear_needs_support(self.state, cmd)

    async def _record_support(
        self, action: SupportAction, cmd: SupportCommand, **details: Any
    ) -> None:
        """The audit row: keyed by this workflow and update, so a retried write lands once."""
        update_id = _update_id()
        await store(
            StoreActivities.record_support_action,
            SupportActionRecord(
                id=support_action_id(self._id, update_id),
                workflow_id=self._id,
                update_id=update_id,
                contract_id=self.state.contract_id,
                action=action,
                actor_id=cmd.actor.user_id,
                reason=cmd.reason,
                details={k: v for k, v in details.items() if v is not None},
                created_at=workflow.now(),
            ),
        )

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
        if workflow.patched(REFUND_HOLDS_RELEASE):
            self._refunding.add(m.number)
        try:
            await self._refund_escrow(m, amount, key, settle=settle)
        finally:
            self._refunding.discard(m.number)

    async def _refund_escrow(self, m: Milestone, amount: int, key: str, *, settle: bool) -> None:
        assert m.payment_intent_id is not None
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
        if not self.state.needs_support or self.state.needs_support_since is None:
            self.state.needs_support_since = workflow.now()
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

    def _held(self, m: Milestone) -> bool:
        """No timer or release may touch this milestone's escrow right now."""
        return self.state.frozen or m.chargeback_open or m.number in self._refunding

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


def _update_id() -> str:
    info = workflow.current_update_info()
    assert info is not None, "called outside an update handler"
    return info.id


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
