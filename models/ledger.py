"""Double-entry ledger vocabulary (no I/O).

Every money movement at the provider becomes one transaction whose entries sum to zero.
Balances are the sum of an account's entries; positive means money is *there*:
``escrow`` (per contract) is what the platform holds for a contract; ``worker_payouts`` what
was sent to workers; ``platform_fees`` what the platform earned; ``client_refunds`` what went
back to clients; ``client_payments`` is the counter-account of money received from cards
(negative: money came in from outside); ``chargeback_losses`` is what banks took back.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field, model_validator


class LedgerAccount(StrEnum):
    CLIENT_PAYMENTS = "client_payments"
    ESCROW = "escrow"
    WORKER_PAYOUTS = "worker_payouts"
    PLATFORM_FEES = "platform_fees"
    CLIENT_REFUNDS = "client_refunds"
    CHARGEBACK_LOSSES = "chargeback_losses"


class TransactionKind(StrEnum):
    FUNDING = "funding"  # card charged, money into escrow
    RELEASE = "release"  # escrow → worker (transfer) + platform fee
    REFUND = "refund"  # escrow → client
    CHARGEBACK_LOST = "chargeback_lost"  # bank took the money back


class Posting(BaseModel):
    account: LedgerAccount
    amount_cents: int  # signed


class LedgerTransaction(BaseModel):
    """One balanced movement, written once per workflow step key."""

    key: str = Field(min_length=1)  # e.g. ``contract-…:m2:release`` — the same key as at Stripe
    contract_id: UUID
    kind: TransactionKind
    currency: str
    provider_object_id: str | None = None  # pi_/tr_/re_/du_ id for reconciliation
    postings: list[Posting] = Field(min_length=2)

    @model_validator(mode="after")
    def _balanced(self) -> LedgerTransaction:
        if sum(p.amount_cents for p in self.postings) != 0:
            raise ValueError("ledger transaction does not balance")
        return self

    @classmethod
    def funding(
        cls, key: str, contract_id: UUID, currency: str, amount: int, pi: str
    ) -> LedgerTransaction:
        return cls(
            key=key,
            contract_id=contract_id,
            kind=TransactionKind.FUNDING,
            currency=currency,
            provider_object_id=pi,
            postings=[
                Posting(account=LedgerAccount.CLIENT_PAYMENTS, amount_cents=-amount),
                Posting(account=LedgerAccount.ESCROW, amount_cents=amount),
            ],
        )

    @classmethod
    def release(
        cls, key: str, contract_id: UUID, currency: str, payout: int, fee: int, transfer: str | None
    ) -> LedgerTransaction:
        postings = [
            Posting(account=LedgerAccount.ESCROW, amount_cents=-(payout + fee)),
            Posting(account=LedgerAccount.WORKER_PAYOUTS, amount_cents=payout),
        ]
        if fee:
            postings.append(Posting(account=LedgerAccount.PLATFORM_FEES, amount_cents=fee))
        return cls(
            key=key,
            contract_id=contract_id,
            kind=TransactionKind.RELEASE,
            currency=currency,
            provider_object_id=transfer,
            postings=postings,
        )

    @classmethod
    def refund(
        cls, key: str, contract_id: UUID, currency: str, amount: int, refund: str
    ) -> LedgerTransaction:
        return cls(
            key=key,
            contract_id=contract_id,
            kind=TransactionKind.REFUND,
            currency=currency,
            provider_object_id=refund,
            postings=[
                Posting(account=LedgerAccount.ESCROW, amount_cents=-amount),
                Posting(account=LedgerAccount.CLIENT_REFUNDS, amount_cents=amount),
            ],
        )

    @classmethod
    def chargeback_lost(
        cls, key: str, contract_id: UUID, currency: str, amount: int, from_escrow: int, dispute: str
    ) -> LedgerTransaction:
        """The bank takes ``amount`` back; what is still in escrow covers it first, the
        platform absorbs the rest (money already paid out to the worker)."""
        postings = [Posting(account=LedgerAccount.CHARGEBACK_LOSSES, amount_cents=amount)]
        if from_escrow:
            postings.append(Posting(account=LedgerAccount.ESCROW, amount_cents=-from_escrow))
        if amount - from_escrow:
            postings.append(
                Posting(account=LedgerAccount.PLATFORM_FEES, amount_cents=-(amount - from_escrow))
            )
        return cls(
            key=key,
            contract_id=contract_id,
            kind=TransactionKind.CHARGEBACK_LOST,
            currency=currency,
            provider_object_id=dispute,
            postings=postings,
        )
