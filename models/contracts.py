"""Contracts with escrowed milestones: workflow I/O and API bodies.

A milestone moves  pending → funding → funded → submitted ⇄ changes_requested → approved →
released; or ends refunded / cancelled / lost (chargeback lost). Amounts are integer cents.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field

from models.common import Actor, Role
from models.money import MAX_CENTS
from models.support import SupportNote
from models.text import Text


class ContractStage(StrEnum):
    OFFERED = "offered"
    DECLINED = "declined"
    EXPIRED = "expired"
    ACTIVE = "active"
    DISPUTED = "disputed"
    # Every milestone settled. The blind-review window is open until ``closed_at`` is set.
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class MilestoneStatus(StrEnum):
    PENDING = "pending"
    FUNDING = "funding"
    FUNDED = "funded"
    SUBMITTED = "submitted"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    RELEASED = "released"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"
    LOST = "lost"  # the client's bank took the money back (chargeback lost)

    @property
    def in_escrow(self) -> bool:
        return self in (self.FUNDED, self.SUBMITTED, self.CHANGES_REQUESTED, self.APPROVED)

    @property
    def is_settled(self) -> bool:
        return self in (self.RELEASED, self.REFUNDED, self.CANCELLED, self.LOST)


class ChargebackStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class ContractPolicy(BaseModel):
    """Terms captured when the hire happens, so later setting changes never alter a live contract."""

    platform_fee_bps: int = Field(ge=0, le=10_000)
    offer_ttl: timedelta
    funding_deadline: timedelta
    auto_release_after: timedelta
    approval_reminders: list[timedelta]
    review_window: timedelta
    payout_account_reminder_every: timedelta
    payout_account_support_after: timedelta


class MilestoneSpec(BaseModel):
    title: Text = Field(min_length=1, max_length=200)
    amount_cents: int = Field(gt=0, le=MAX_CENTS)


class Chargeback(BaseModel):
    dispute_id: str
    amount_cents: int
    status: ChargebackStatus = ChargebackStatus.OPEN
    opened_at: datetime
    closed_at: datetime | None = None


class Milestone(BaseModel):
    number: int
    title: str
    amount_cents: int
    status: MilestoneStatus = MilestoneStatus.PENDING
    fund_attempts: int = 0
    payment_intent_id: str | None = None
    charge_id: str | None = None
    last_payment_error: str | None = None
    funded_at: datetime | None = None
    submitted_at: datetime | None = None  # the latest submission; auto-release counts from it
    submission_count: int = 0
    submission_note: str | None = None
    changes_requested_reason: str | None = None
    auto_release_at: datetime | None = None
    reminders_sent: int = 0
    approved_at: datetime | None = None
    auto_released: bool = False
    released_at: datetime | None = None
    transfer_id: str | None = None
    fee_cents: int = 0
    payout_cents: int = 0
    refund_id: str | None = None
    refunded_cents: int = 0
    chargeback: Chargeback | None = None

    @property
    def escrow_cents(self) -> int:
        return self.amount_cents - self.refunded_cents if self.status.in_escrow else 0

    @property
    def release_cents(self) -> int:
        """What a release pays out (before the fee): all of it, unless a dispute split it."""
        return self.amount_cents - self.refunded_cents

    @property
    def chargeback_open(self) -> bool:
        return self.chargeback is not None and self.chargeback.status is ChargebackStatus.OPEN


class Dispute(BaseModel):
    opened_by: Actor
    reason: str
    opened_at: datetime
    escrow_cents: int  # what was in escrow when it opened: the resolution must split exactly this
    resolved_at: datetime | None = None
    release_cents: int = 0
    refund_cents: int = 0
    resolution_note: str | None = None


class Review(BaseModel):
    author_id: UUID
    author_role: Role
    rating: int = Field(ge=1, le=5)
    comment: str
    submitted_at: datetime


class ContractState(BaseModel):
    contract_id: UUID
    job_id: UUID
    application_id: UUID
    client_id: UUID
    worker_id: UUID
    job_title: str
    currency: str
    policy: ContractPolicy
    stage: ContractStage = ContractStage.OFFERED
    milestones: list[Milestone]
    offered_at: datetime
    offer_expires_at: datetime
    accepted_at: datetime | None = None
    funding_deadline_at: datetime | None = None
    completed_at: datetime | None = None
    reviews_close_at: datetime | None = None
    closed_at: datetime | None = None
    end_reason: str | None = None
    payout_account_id: str | None = None
    waiting_for_payout_account_since: datetime | None = None
    needs_support: bool = False
    support_reason: str | None = None
    # When the flag went up (the support queue is oldest first); None on older states.
    needs_support_since: datetime | None = None
    notes: list[SupportNote] = Field(default_factory=list)  # support's, oldest first
    dispute: Dispute | None = None
    reviews: dict[str, Review] = Field(default_factory=dict)  # keyed by author role
    reviews_revealed: bool = False
    version: int = 0

    @property
    def total_cents(self) -> int:
        return sum(m.amount_cents for m in self.milestones)

    @property
    def escrow_cents(self) -> int:
        return sum(m.escrow_cents for m in self.milestones)

    def milestone(self, number: int) -> Milestone | None:
        return self.milestones[number - 1] if 1 <= number <= len(self.milestones) else None

    def party_role(self, user_id: UUID) -> Role | None:
        if user_id == self.client_id:
            return Role.CLIENT
        if user_id == self.worker_id:
            return Role.WORKER
        return None

    @property
    def frozen(self) -> bool:
        """Disputes freeze every timer and money movement on the contract."""
        return self.dispute is not None and self.dispute.resolved_at is None

    @property
    def any_funded(self) -> bool:
        return any(m.funded_at is not None for m in self.milestones)

    def milestone_for_charge(self, charge_id: str) -> Milestone | None:
        return next((m for m in self.milestones if m.charge_id == charge_id), None)

    def milestone_for_intent(self, payment_intent_id: str) -> Milestone | None:
        return next((m for m in self.milestones if m.payment_intent_id == payment_intent_id), None)

    @property
    def all_settled(self) -> bool:
        return all(m.status.is_settled for m in self.milestones)


class ContractInput(BaseModel):
    contract_id: UUID
    job_id: UUID
    application_id: UUID
    client_id: UUID
    worker_id: UUID
    job_title: str
    currency: str
    milestones: list[MilestoneSpec] = Field(min_length=1)
    policy: ContractPolicy
    offered_at: datetime
    carried_state: ContractState | None = None

    def initial_state(self) -> ContractState:
        return ContractState(
            contract_id=self.contract_id,
            job_id=self.job_id,
            application_id=self.application_id,
            client_id=self.client_id,
            worker_id=self.worker_id,
            job_title=self.job_title,
            currency=self.currency,
            policy=self.policy,
            milestones=[
                Milestone(number=i, title=spec.title, amount_cents=spec.amount_cents)
                for i, spec in enumerate(self.milestones, start=1)
            ],
            offered_at=self.offered_at,
            offer_expires_at=self.offered_at + self.policy.offer_ttl,
        )


class ContractResult(BaseModel):
    contract_id: UUID
    stage: ContractStage
    released_cents: int
    refunded_cents: int
    fee_cents: int


# --- commands (update arguments) ----------------------------------------------------------


class ContractCommand(BaseModel):
    actor: Actor


class DeclineOffer(ContractCommand):
    reason: str | None = None


class MilestoneCommand(ContractCommand):
    milestone: int


class FundMilestone(MilestoneCommand):
    payment_method: str


class SubmitMilestone(MilestoneCommand):
    note: str | None = None


class RequestChanges(MilestoneCommand):
    reason: str


class CancelContract(ContractCommand):
    reason: str | None = None


class OpenDispute(ContractCommand):
    reason: str


class ResolveDispute(ContractCommand):
    release_cents: int = Field(ge=0)
    refund_cents: int = Field(ge=0)
    note: Text | None = None


class SubmitReview(ContractCommand):
    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=5_000)


# --- signals (provider webhooks, other workflows) -----------------------------------------


class PayoutAccountReady(BaseModel):
    account_id: str


class EscrowPaymentSucceeded(BaseModel):
    """`payment_intent.succeeded` webhook: closes the gap when a funding call timed out
    after Stripe had already charged the card."""

    payment_intent_id: str


class ChargebackOpened(BaseModel):
    charge_id: str
    dispute_id: str
    amount_cents: int
    # The PaymentIntent the disputed charge paid: names the milestone even before the
    # workflow has recorded the charge (the webhook can beat the funding call's answer).
    payment_intent_id: str | None = None


class ChargebackClosed(BaseModel):
    charge_id: str
    dispute_id: str
    won: bool
    payment_intent_id: str | None = None


# --- API bodies ---------------------------------------------------------------------------


class FundRequest(BaseModel):
    payment_method: Text = Field(min_length=3, max_length=255)


class SubmitRequest(BaseModel):
    note: Text | None = Field(default=None, max_length=10_000)


class ChangesRequest(BaseModel):
    reason: Text = Field(min_length=1, max_length=10_000)


class ReasonRequest(BaseModel):
    reason: Text | None = Field(default=None, max_length=10_000)


class DisputeRequest(BaseModel):
    reason: Text = Field(min_length=1, max_length=10_000)


class ResolveDisputeRequest(BaseModel):
    release_cents: int = Field(ge=0, le=MAX_CENTS)
    refund_cents: int = Field(ge=0, le=MAX_CENTS)
    note: Text | None = Field(default=None, max_length=10_000)


class ReviewRequest(BaseModel):
    rating: int = Field(ge=1, le=5)
    comment: Text = Field(default="", max_length=5_000)


class MilestonePublic(BaseModel):
    number: int
    title: str
    amount_cents: int
    status: MilestoneStatus
    funded_at: datetime | None
    submitted_at: datetime | None
    auto_release_at: datetime | None
    approved_at: datetime | None
    released_at: datetime | None
    auto_released: bool
    fee_cents: int
    payout_cents: int
    refunded_cents: int
    chargeback_status: ChargebackStatus | None
    last_payment_error: str | None


class MoneySummary(BaseModel):
    """Read from the ledger, not from workflow state: what actually moved."""

    funded_cents: int = 0
    escrow_cents: int = 0
    released_cents: int = 0  # paid to the worker (after fee)
    fee_cents: int = 0
    refunded_cents: int = 0
    chargeback_lost_cents: int = 0


class ReviewPublic(BaseModel):
    author_id: UUID
    author_role: Role
    rating: int
    comment: str
    submitted_at: datetime


class ContractPublic(BaseModel):
    id: UUID
    job_id: UUID
    client_id: UUID
    worker_id: UUID
    job_title: str
    currency: str
    stage: ContractStage
    total_cents: int
    platform_fee_bps: int
    milestones: list[MilestonePublic]
    offered_at: datetime
    offer_expires_at: datetime
    accepted_at: datetime | None
    funding_deadline_at: datetime | None
    completed_at: datetime | None
    reviews_close_at: datetime | None
    end_reason: str | None
    needs_support: bool
    dispute_open: bool
    waiting_for_payout_account: bool
    # Blind reviews: only "has this side reviewed" until both are in or the window closes.
    reviews_submitted_by: list[Role]
    reviews: list[ReviewPublic]
    money: MoneySummary | None = None

    @classmethod
    def from_state(cls, s: ContractState, money: MoneySummary | None = None) -> ContractPublic:
        return cls(
            id=s.contract_id,
            job_id=s.job_id,
            client_id=s.client_id,
            worker_id=s.worker_id,
            job_title=s.job_title,
            currency=s.currency,
            stage=s.stage,
            total_cents=s.total_cents,
            platform_fee_bps=s.policy.platform_fee_bps,
            milestones=[
                MilestonePublic(
                    **m.model_dump(),
                    chargeback_status=m.chargeback.status if m.chargeback else None,
                )
                for m in s.milestones
            ],
            offered_at=s.offered_at,
            offer_expires_at=s.offer_expires_at,
            accepted_at=s.accepted_at,
            funding_deadline_at=s.funding_deadline_at,
            completed_at=s.completed_at,
            reviews_close_at=s.reviews_close_at,
            end_reason=s.end_reason,
            needs_support=s.needs_support,
            dispute_open=s.frozen,
            waiting_for_payout_account=s.waiting_for_payout_account_since is not None,
            reviews_submitted_by=sorted(Role(r) for r in s.reviews),
            reviews=[ReviewPublic(**r.model_dump()) for r in s.reviews.values()]
            if s.reviews_revealed
            else [],
            money=money,
        )


class ContractPage(BaseModel):
    items: list[ContractPublic]
    next_cursor: str | None
