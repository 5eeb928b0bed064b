"""In-memory stand-ins for the activities, registered under the real activity names.

They keep Stripe's one promise the workflows rely on (same idempotency key → same object) and
the ledger's invariants (balanced transactions, escrow never negative), and can simulate a
crash *after* the provider call succeeded but before the workflow learned the result.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.verification_codes import code_digest, email_code
from models.contracts import ContractState
from models.errors import Rejection
from models.jobs import JobPostingState
from models.ledger import LedgerAccount, LedgerTransaction
from models.notices import DeliveryOutcome, NoticeDelivered, NoticeDelivery
from models.payments import (
    ConfirmPaymentRequest,
    ConnectedAccount,
    ConnectedAccountRequest,
    EscrowIntentRequest,
    FundingResult,
    OnboardingLinkRequest,
    OnboardingLinkResult,
    RefundRequest,
    RefundResult,
    TransferRequest,
    TransferResult,
)
from models.payouts import PayoutAccountState, PayoutAccountStatus
from models.store import (
    NotificationRequest,
    PayoutDestination,
    PayoutDestinationRequest,
    RevealReviews,
    ReviewRecord,
)
from models.support import SentNotice, SentNoticeQuery, SupportActionRecord
from models.verification import (
    AdverseActionRequest,
    AdverseActionResult,
    BackgroundCheckRequest,
    BackgroundCheckStarted,
    CancelIdentitySession,
    CodeEmailRequest,
    CodeEmailSent,
    IdentitySession,
    IdentitySessionRequest,
    PhoneCodeCheck,
    PhoneCodeResult,
    PhoneVerificationRequest,
    PhoneVerificationStarted,
    VerificationState,
)

_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):06d}"


class SimulatedCrash(Exception):
    """Raised after the provider effect happened, as if the worker died before recording it."""


@dataclass
class FakePayments:
    declined_methods: set[str] = field(default_factory=lambda: {"pm_card_chargeDeclined"})
    unavailable: bool = False  # every call fails as a provider outage would
    crash_once_after: set[str] = field(default_factory=set)  # activity names
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_key: dict[str, Any] = field(default_factory=dict)
    charges: list[str] = field(default_factory=list)
    transfers: list[TransferRequest] = field(default_factory=list)
    refunds: list[RefundRequest] = field(default_factory=list)
    calls: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    transfers_blocked: set[str] = field(default_factory=set)  # destinations not yet able to receive
    # Set: confirming charges the card, then waits for it before answering (a slow answer).
    confirm_answer: asyncio.Event | None = None

    def _enter(self, name: str) -> None:
        self.calls[name] += 1
        if self.unavailable:
            raise ApplicationError("provider down", type="ProviderUnavailable")

    def _maybe_crash(self, name: str) -> None:
        if name in self.crash_once_after:
            self.crash_once_after.discard(name)
            raise SimulatedCrash(f"crash after {name} succeeded at the provider")

    @activity.defn(name="payments.create_escrow_intent")
    async def create_escrow_intent(self, req: EscrowIntentRequest) -> str:
        self._enter("create_escrow_intent")
        if req.idempotency_key not in self.by_key:
            pi = _id("pi")
            self.intents[pi] = {
                "amount": req.amount_cents,
                "currency": req.currency,
                "status": "requires_payment_method",
                "charge": None,
            }
            self.by_key[req.idempotency_key] = pi
        self._maybe_crash("create_escrow_intent")
        return str(self.by_key[req.idempotency_key])

    @activity.defn(name="payments.confirm_escrow_payment")
    async def confirm_escrow_payment(self, req: ConfirmPaymentRequest) -> FundingResult:
        self._enter("confirm_escrow_payment")
        intent = self.intents[req.payment_intent_id]
        if intent["status"] != "succeeded":
            if req.payment_method in self.declined_methods:
                raise ApplicationError(
                    "Your card was declined.", type=Rejection.CARD_DECLINED, non_retryable=True
                )
            intent["status"] = "succeeded"
            intent["charge"] = _id("ch")
            self.charges.append(intent["charge"])
        if self.confirm_answer is not None:
            await self.confirm_answer.wait()
        self._maybe_crash("confirm_escrow_payment")
        return self._funding(req.payment_intent_id)

    @activity.defn(name="payments.get_escrow_payment")
    async def get_escrow_payment(self, payment_intent_id: str) -> FundingResult | None:
        self._enter("get_escrow_payment")
        if self.intents[payment_intent_id]["status"] != "succeeded":
            return None
        return self._funding(payment_intent_id)

    def _funding(self, pi: str) -> FundingResult:
        intent = self.intents[pi]
        return FundingResult(
            payment_intent_id=pi,
            charge_id=intent["charge"],
            amount_cents=intent["amount"],
            currency=intent["currency"],
        )

    @activity.defn(name="payments.transfer_to_worker")
    async def transfer_to_worker(self, req: TransferRequest) -> TransferResult:
        self._enter("transfer_to_worker")
        if req.destination_account in self.transfers_blocked:
            raise ApplicationError(
                "no transfers capability", type="PayoutAccountNotReady", non_retryable=True
            )
        if req.idempotency_key not in self.by_key:
            self.transfers.append(req)
            self.by_key[req.idempotency_key] = TransferResult(
                transfer_id=_id("tr"), amount_cents=req.amount_cents
            )
        self._maybe_crash("transfer_to_worker")
        return self.by_key[req.idempotency_key]

    @activity.defn(name="payments.refund_escrow")
    async def refund_escrow(self, req: RefundRequest) -> RefundResult:
        self._enter("refund_escrow")
        if req.idempotency_key not in self.by_key:
            self.refunds.append(req)
            self.by_key[req.idempotency_key] = RefundResult(
                refund_id=_id("re"), amount_cents=req.amount_cents
            )
        self._maybe_crash("refund_escrow")
        return self.by_key[req.idempotency_key]

    @activity.defn(name="payments.create_connected_account")
    async def create_connected_account(self, req: ConnectedAccountRequest) -> ConnectedAccount:
        self._enter("create_connected_account")
        if req.idempotency_key not in self.by_key:
            self.by_key[req.idempotency_key] = ConnectedAccount(
                account_id=_id("acct"), payouts_enabled=False, details_submitted=False
            )
        return self.by_key[req.idempotency_key]

    @activity.defn(name="payments.create_onboarding_link")
    async def create_onboarding_link(self, req: OnboardingLinkRequest) -> OnboardingLinkResult:
        self._enter("create_onboarding_link")
        return OnboardingLinkResult(
            url=f"https://connect.example/{req.account_id}/{_id('link')}",
            expires_at=datetime.now(UTC) + timedelta(minutes=5),
        )

    def all(self) -> list[Any]:
        return [
            self.create_escrow_intent,
            self.confirm_escrow_payment,
            self.get_escrow_payment,
            self.transfer_to_worker,
            self.refund_escrow,
            self.create_connected_account,
            self.create_onboarding_link,
        ]


@dataclass
class FakeStore:
    crash_once_after: set[str] = field(default_factory=set)  # activity names
    jobs: dict[UUID, JobPostingState] = field(default_factory=dict)
    contracts: dict[UUID, ContractState] = field(default_factory=dict)
    payout_accounts: dict[UUID, PayoutAccountState] = field(default_factory=dict)
    ledger: dict[str, LedgerTransaction] = field(default_factory=dict)
    notifications: dict[str, NotificationRequest] = field(default_factory=dict)
    reviews: dict[tuple[UUID, UUID], ReviewRecord] = field(default_factory=dict)
    revealed: set[UUID] = field(default_factory=set)
    verifications: dict[UUID, VerificationState] = field(default_factory=dict)
    waiters: set[tuple[UUID, UUID]] = field(default_factory=set)
    support_actions: dict[UUID, SupportActionRecord] = field(default_factory=dict)
    support_action_writes: int = 0  # every call, retries included

    @activity.defn(name="store.project_job")
    async def project_job(self, state: JobPostingState, application_ids: list[str]) -> None:
        current = self.jobs.get(state.job_id)
        if current is None or current.version < state.version:
            self.jobs[state.job_id] = state

    @activity.defn(name="store.project_contract")
    async def project_contract(self, state: ContractState) -> None:
        current = self.contracts.get(state.contract_id)
        if current is None or current.version < state.version:
            self.contracts[state.contract_id] = state

    @activity.defn(name="store.project_payout_account")
    async def project_payout_account(self, state: PayoutAccountState) -> None:
        current = self.payout_accounts.get(state.user_id)
        if current is None or current.version < state.version:
            self.payout_accounts[state.user_id] = state

    @activity.defn(name="store.project_verification")
    async def project_verification(self, state: VerificationState) -> None:
        current = self.verifications.get(state.user_id)
        if current is None or current.version < state.version:
            self.verifications[state.user_id] = state.model_copy(deep=True)

    @activity.defn(name="store.record_ledger")
    async def record_ledger(self, tx: LedgerTransaction) -> bool:
        if tx.key in self.ledger:
            return False
        escrow = self.balance(tx.contract_id, LedgerAccount.ESCROW) + sum(
            p.amount_cents for p in tx.postings if p.account is LedgerAccount.ESCROW
        )
        if escrow < 0:
            raise ApplicationError(
                "escrow would go negative", type="LedgerInvariantViolated", non_retryable=True
            )
        self.ledger[tx.key] = tx
        if "record_ledger" in self.crash_once_after:  # committed, then the worker died
            self.crash_once_after.discard("record_ledger")
            raise SimulatedCrash("crash after the ledger commit")
        return True

    def balance(self, contract_id: UUID, account: LedgerAccount) -> int:
        return sum(
            p.amount_cents
            for tx in self.ledger.values()
            if tx.contract_id == contract_id
            for p in tx.postings
            if p.account is account
        )

    @activity.defn(name="store.save_review")
    async def save_review(self, review: ReviewRecord) -> None:
        self.reviews.setdefault((review.contract_id, review.author_id), review)

    @activity.defn(name="store.reveal_reviews")
    async def reveal_reviews(self, req: RevealReviews) -> int:
        self.revealed.add(req.contract_id)
        return sum(1 for (c, _) in self.reviews if c == req.contract_id)

    @activity.defn(name="store.notify")
    async def notify(self, notice: NotificationRequest) -> None:
        self.notifications.setdefault(notice.dedupe_key, notice)

    def notices(self, kind: str, user_id: UUID | None = None) -> list[NotificationRequest]:
        return [
            n
            for n in self.notifications.values()
            if n.kind == kind and (user_id is None or n.user_id == user_id)
        ]

    @activity.defn(name="store.record_support_action")
    async def record_support_action(self, record: SupportActionRecord) -> bool:
        self.support_action_writes += 1
        if record.id in self.support_actions:
            return False
        self.support_actions[record.id] = record
        if "record_support_action" in self.crash_once_after:  # committed, then the worker died
            self.crash_once_after.discard("record_support_action")
            raise SimulatedCrash("crash after the audit row was written")
        return True

    @activity.defn(name="store.sent_notice")
    async def sent_notice(self, query: SentNoticeQuery) -> SentNotice | None:
        found = [
            (key, n)
            for key, n in self.notifications.items()
            if key.startswith(f"{query.workflow_id}:")
            and query.notice in (key, n.kind)
            and n.user_id in query.recipients
        ]
        if not found:
            return None
        key, n = found[-1]  # dicts keep insertion order: the latest
        return SentNotice(
            user_id=n.user_id, dedupe_key=key, kind=n.kind, subject=n.subject, body=n.body
        )

    @activity.defn(name="store.payout_destination")
    async def payout_destination(self, req: PayoutDestinationRequest) -> PayoutDestination:
        self.waiters.add((req.worker_id, req.contract_id))
        account = self.payout_accounts.get(req.worker_id)
        if account and account.status is PayoutAccountStatus.READY:
            self.waiters.discard((req.worker_id, req.contract_id))
            return PayoutDestination(account_id=account.stripe_account_id)
        return PayoutDestination(account_id=None)

    @activity.defn(name="store.waiting_contracts")
    async def waiting_contracts(self, user_id: UUID) -> list[UUID]:
        return [c for (u, c) in self.waiters if u == user_id]

    def all(self) -> list[Any]:
        return [
            self.project_job,
            self.project_contract,
            self.project_payout_account,
            self.project_verification,
            self.record_ledger,
            self.save_review,
            self.reveal_reviews,
            self.notify,
            self.record_support_action,
            self.sent_notice,
            self.payout_destination,
            self.waiting_contracts,
        ]


@dataclass
class FakeNotifications:
    """`notices.deliver`: one delivery per (dedupe key, channel), like the real activity's
    delivery records; `attempts` counts every call (retries included)."""

    sent: dict[tuple[str, str], NoticeDelivery] = field(default_factory=dict)
    attempts: int = 0
    email_down: bool = False

    @activity.defn(name="notices.deliver")
    async def deliver(self, req: NoticeDelivery) -> NoticeDelivered:
        self.attempts += 1
        if self.email_down:
            raise ApplicationError("SendGrid down", type="ProviderUnavailable")
        self.sent.setdefault((req.dedupe_key, "email"), req)
        if req.notice.sms:
            self.sent.setdefault((req.dedupe_key, "sms"), req)
        sms = DeliveryOutcome(status="sent") if req.notice.sms else None
        return NoticeDelivered(email=DeliveryOutcome(status="sent"), sms=sms)

    def to(self, user_id: UUID, channel: str = "email") -> list[NoticeDelivery]:
        return [d for (_, ch), d in self.sent.items() if ch == channel and d.user_id == user_id]

    def kinds(self, user_id: UUID, channel: str = "email") -> list[str]:
        return sorted(d.notice.kind for d in self.to(user_id, channel))

    def all(self) -> list[Any]:
        return [self.deliver]


CODE_SECRET = "workflow-tests-code-secret-0000000000"


@dataclass
class FakeVerificationProviders:
    """SendGrid codes, Twilio Verify, Stripe Identity and the check provider, in memory, with
    the behaviours the Verification workflow relies on: same key → same object, Twilio's own
    limits (5 checks, 5 sends), invalid numbers refused."""

    email_codes: dict[UUID, list[str]] = field(default_factory=dict)  # sent codes, in order
    email_sends: int = 0
    phone_codes: dict[str, str] = field(default_factory=dict)  # pending code by number
    phone_checks: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    canceled_verifications: list[str] = field(default_factory=list)
    invalid_numbers: set[str] = field(default_factory=lambda: {"+15005550001"})
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)  # by session id
    by_key: dict[str, Any] = field(default_factory=dict)
    adverse_actions: list[AdverseActionRequest] = field(default_factory=list)
    identity_down: bool = False
    # Runs before the background-check activity answers (e.g. a webhook that beats it).
    before_background_reply: Callable[[str], Awaitable[None]] | None = None

    @activity.defn(name="email.send_verification_code")
    async def send_verification_code(self, req: CodeEmailRequest) -> CodeEmailSent:
        code = email_code(CODE_SECRET, activity.info().workflow_id or "", req.send_number)
        if req.dedupe_key not in self.by_key:
            self.email_sends += 1
            self.email_codes.setdefault(req.user_id, []).append(code)
            self.by_key[req.dedupe_key] = code
        return CodeEmailSent(code_digest=code_digest(CODE_SECRET, req.user_id, code))

    def last_email_code(self, user_id: UUID) -> str:
        return self.email_codes[user_id][-1]

    @activity.defn(name="sms.start_phone_verification")
    async def start_phone_verification(
        self, req: PhoneVerificationRequest
    ) -> PhoneVerificationStarted:
        if req.to in self.invalid_numbers:
            raise ApplicationError(
                "Invalid parameter `To`",
                {"code": 60200},
                type="InvalidPhoneNumber",
                non_retryable=True,
            )
        if req.cancel_sid:
            self.canceled_verifications.append(req.cancel_sid)
            self.phone_codes.pop(req.to, None)
        code = self.phone_codes.setdefault(req.to, f"{len(self.phone_codes) + 123456}")
        self.phone_checks[req.to] = 0
        return PhoneVerificationStarted(sid=f"VE{abs(hash((req.to, code))):032d}"[:34])

    @activity.defn(name="sms.check_phone_verification")
    async def check_phone_verification(self, req: PhoneCodeCheck) -> PhoneCodeResult:
        if req.to not in self.phone_codes:
            raise ApplicationError(
                "not found", {"code": 20404}, type="NoPendingVerification", non_retryable=True
            )
        self.phone_checks[req.to] += 1
        if self.phone_checks[req.to] > 5:
            raise ApplicationError(
                "Max check attempts reached",
                {"code": 60202},
                type="TooManyChecks",
                non_retryable=True,
            )
        if self.phone_codes[req.to] == req.code:
            del self.phone_codes[req.to]
            return PhoneCodeResult(approved=True)
        return PhoneCodeResult(approved=False)

    @activity.defn(name="identity.create_session")
    async def create_session(self, req: IdentitySessionRequest) -> IdentitySession:
        if self.identity_down:
            raise ApplicationError("Stripe down", type="ProviderUnavailable")
        if req.idempotency_key not in self.by_key:
            session_id = _id("vs")
            self.sessions[session_id] = {"status": "requires_input", "user": req.user_id}
            self.by_key[req.idempotency_key] = session_id
        session_id = self.by_key[req.idempotency_key]
        return IdentitySession(
            session_id=session_id, status="requires_input", url=f"https://verify/{_id('t')}"
        )

    @activity.defn(name="identity.session_link")
    async def session_link(self, session_id: str) -> IdentitySession:
        status = self.sessions[session_id]["status"]
        url = f"https://verify/{_id('t')}" if status == "requires_input" else None
        return IdentitySession(session_id=session_id, status=status, url=url)

    @activity.defn(name="identity.cancel_session")
    async def cancel_session(self, req: CancelIdentitySession) -> str:
        session = self.sessions[req.session_id]
        if session["status"] in ("requires_input", "processing"):
            session["status"] = "canceled"
        return str(session["status"])

    @activity.defn(name="background_check.start")
    async def start_background_check(self, req: BackgroundCheckRequest) -> BackgroundCheckStarted:
        if req.idempotency_key not in self.by_key:
            self.by_key[req.idempotency_key] = BackgroundCheckStarted(
                candidate_id=_id("cand"),
                invitation_id=_id("inv"),
                invitation_url=f"https://checks/invitations/{_id('tok')}",
                # The provider's clock is the test server's (time is skipped there).
                expires_at=activity.info().scheduled_time + timedelta(days=7),
            )
        started: BackgroundCheckStarted = self.by_key[req.idempotency_key]
        if self.before_background_reply is not None:
            await self.before_background_reply(started.candidate_id)
        return started

    @activity.defn(name="background_check.adverse_items")
    async def adverse_items(self, report_id: str) -> list[str]:
        return [f"item-of-{report_id}"]

    @activity.defn(name="background_check.adverse_action")
    async def create_adverse_action(self, req: AdverseActionRequest) -> AdverseActionResult:
        if req.idempotency_key not in self.by_key:
            self.adverse_actions.append(req)
            self.by_key[req.idempotency_key] = AdverseActionResult(adverse_action_id=_id("aa"))
        return self.by_key[req.idempotency_key]

    def all(self) -> list[Any]:
        return [
            self.send_verification_code,
            self.start_phone_verification,
            self.check_phone_verification,
            self.create_session,
            self.session_link,
            self.cancel_session,
            self.start_background_check,
            self.adverse_items,
            self.create_adverse_action,
        ]
