"""Workers' payout accounts (Stripe Connect Express): workflow I/O and API bodies."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field


class PayoutAccountStatus(StrEnum):
    CREATING = "creating"
    ONBOARDING = "onboarding"  # account exists; the worker still has to finish onboarding
    READY = "ready"  # payouts_enabled: transfers can be received
    RESTRICTED = "restricted"  # was ready, then the provider disabled payouts


class PayoutAccountInput(BaseModel):
    user_id: UUID
    email: str
    country: str = "US"
    return_url: str
    refresh_url: str
    carried_state: PayoutAccountState | None = None


class PayoutAccountState(BaseModel):
    user_id: UUID
    email: str
    country: str
    status: PayoutAccountStatus = PayoutAccountStatus.CREATING
    stripe_account_id: str | None = None
    payouts_enabled: bool = False
    details_submitted: bool = False
    ready_at: datetime | None = None
    notified_contracts: list[UUID] = Field(default_factory=list)
    version: int = 0


class AccountUpdated(BaseModel):
    """Signal from the `account.updated` webhook."""

    account_id: str
    payouts_enabled: bool
    details_submitted: bool
    event_created: int  # provider timestamp, so an older event never overwrites a newer one


class PayoutAccountPublic(BaseModel):
    status: PayoutAccountStatus
    stripe_account_id: str | None
    payouts_enabled: bool
    onboarding_url: str | None = None
    onboarding_url_expires_at: datetime | None = None
