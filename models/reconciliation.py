"""Reconciliation: what our ledger says moved vs. what the payment provider says moved.

``compare`` is a pure function (the workflow calls it; tests call it directly). Both sides are
matched by the provider object id the ledger stores with every transaction (pi_/re_/tr_/du_).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field


class MovementKind(StrEnum):
    FUNDING = "funding"  # a succeeded charge (matched by its PaymentIntent)
    RELEASE = "release"  # a transfer to a worker
    REFUND = "refund"
    CHARGEBACK_LOST = "chargeback_lost"


class LedgerMovement(BaseModel):
    key: str
    contract_id: UUID
    kind: MovementKind
    provider_object_id: str | None
    amount_cents: int  # what went out to / came in from the provider, positive
    currency: str


class ProviderMovement(BaseModel):
    object_id: str  # pi_ for charges (our ledger keys fundings by PaymentIntent), re_, tr_, du_
    kind: MovementKind
    amount_cents: int
    currency: str
    contract_id: UUID | None
    created: datetime


class Mismatch(BaseModel):
    kind: str  # missing_in_ledger | missing_at_provider | amount_differs
    movement: MovementKind
    contract_id: UUID | None
    provider_object_id: str | None
    ledger_key: str | None
    detail: str


class ReconciliationInput(BaseModel):
    lookback: timedelta = timedelta(hours=48)  # scheduled daily: two days overlap, late items too
    until: datetime | None = None  # default: the workflow's start time


class ReconciliationReport(BaseModel):
    run_id: str
    since: datetime
    until: datetime
    checked: dict[str, int] = Field(default_factory=dict)
    mismatches: list[Mismatch] = Field(default_factory=list)

    @property
    def contracts_to_flag(self) -> list[UUID]:
        return sorted({m.contract_id for m in self.mismatches if m.contract_id})


class ProviderMovementsRequest(BaseModel):
    since: datetime
    until: datetime
    also_ids: list[str] = Field(default_factory=list)  # looked up one by one if not listed


class LedgerMovementsRequest(BaseModel):
    since: datetime | None = None
    until: datetime | None = None
    provider_ids: list[str] = Field(default_factory=list)


def compare(ledger: list[LedgerMovement], provider: list[ProviderMovement]) -> list[Mismatch]:
    """Every provider movement must be in the ledger with the same amount, and every ledger
    movement must exist at the provider (the caller looked up every ledger id there)."""
    by_id = {(p.kind, p.object_id): p for p in provider}
    ledger_by_id = {(m.kind, m.provider_object_id): m for m in ledger if m.provider_object_id}
    mismatches: list[Mismatch] = []
    for (kind, object_id), p in by_id.items():
        entry = ledger_by_id.get((kind, object_id))
        if entry is None:
            mismatches.append(
                Mismatch(
                    kind="missing_in_ledger",
                    movement=kind,
                    contract_id=p.contract_id,
                    provider_object_id=object_id,
                    ledger_key=None,
                    detail=f"{kind} {object_id} of {p.amount_cents} {p.currency} at the provider has no ledger entry",
                )
            )
        elif (entry.amount_cents, entry.currency) != (p.amount_cents, p.currency):
            mismatches.append(
                Mismatch(
                    kind="amount_differs",
                    movement=kind,
                    contract_id=entry.contract_id,
                    provider_object_id=object_id,
                    ledger_key=entry.key,
                    detail=f"{kind} {object_id}: ledger {entry.amount_cents} {entry.currency}, "
                    f"provider {p.amount_cents} {p.currency}",
                )
            )
    for (kind, object_id), entry in ledger_by_id.items():
        if (kind, object_id) not in by_id:
            mismatches.append(
                Mismatch(
                    kind="missing_at_provider",
                    movement=kind,
                    contract_id=entry.contract_id,
                    provider_object_id=object_id,
                    ledger_key=entry.key,
                    detail=f"ledger {kind} {entry.key} points at {object_id}, which the provider does not have",
                )
            )
    return mismatches
