"""Activity I/O for money movements at the payment provider (Stripe).

Every request carries the idempotency key the workflow derived from its id and step
(``contract-…:m2:release``); the activity passes it to Stripe unchanged, so a retry after a
crash gets the first result back instead of moving money again.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field


class EscrowIntentRequest(BaseModel):
    idempotency_key: str
    contract_id: UUID
    milestone: int
    client_id: UUID
    amount_cents: int = Field(gt=0)
    currency: str
    transfer_group: str
    description: str


class ConfirmPaymentRequest(BaseModel):
    idempotency_key: str
    payment_intent_id: str
    payment_method: str


class FundingResult(BaseModel):
    payment_intent_id: str
    charge_id: str
    amount_cents: int
    currency: str


class TransferRequest(BaseModel):
    idempotency_key: str
    contract_id: UUID
    milestone: int
    amount_cents: int = Field(gt=0)
    currency: str
    destination_account: str
    source_charge_id: str
    transfer_group: str


class TransferResult(BaseModel):
    transfer_id: str
    amount_cents: int


class RefundRequest(BaseModel):
    idempotency_key: str
    contract_id: UUID
    milestone: int
    payment_intent_id: str
    amount_cents: int = Field(gt=0)


class RefundResult(BaseModel):
    refund_id: str
    amount_cents: int


class ConnectedAccountRequest(BaseModel):
    idempotency_key: str
    user_id: UUID
    email: str
    country: str


class ConnectedAccount(BaseModel):
    account_id: str
    payouts_enabled: bool
    details_submitted: bool


class OnboardingLinkRequest(BaseModel):
    account_id: str
    return_url: str
    refresh_url: str


class OnboardingLinkResult(BaseModel):
    url: str
    expires_at: datetime
