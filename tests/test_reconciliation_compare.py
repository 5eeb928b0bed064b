"""The reconciliation rule itself, as a pure function."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from models.reconciliation import LedgerMovement, MovementKind, ProviderMovement, compare

CONTRACT = uuid.uuid4()
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def ledger(kind: MovementKind, object_id: str, amount: int) -> LedgerMovement:
    return LedgerMovement(
        key=f"k-{object_id}",
        contract_id=CONTRACT,
        kind=kind,
        provider_object_id=object_id,
        amount_cents=amount,
        currency="usd",
    )


def provider(kind: MovementKind, object_id: str, amount: int) -> ProviderMovement:
    return ProviderMovement(
        object_id=object_id,
        kind=kind,
        amount_cents=amount,
        currency="usd",
        contract_id=CONTRACT,
        created=NOW,
    )


def test_agreeing_sides_have_no_mismatch() -> None:
    sides = [
        (MovementKind.FUNDING, "pi_1", 100),
        (MovementKind.RELEASE, "tr_1", 90),
        (MovementKind.REFUND, "re_1", 10),
    ]
    assert compare([ledger(*s) for s in sides], [provider(*s) for s in sides]) == []


def test_every_kind_of_disagreement_is_reported() -> None:
    mismatches = compare(
        [ledger(MovementKind.FUNDING, "pi_1", 100), ledger(MovementKind.RELEASE, "tr_gone", 90)],
        [provider(MovementKind.FUNDING, "pi_1", 120), provider(MovementKind.REFUND, "re_extra", 5)],
    )
    assert sorted((m.kind, m.provider_object_id) for m in mismatches) == [
        ("amount_differs", "pi_1"),
        ("missing_at_provider", "tr_gone"),
        ("missing_in_ledger", "re_extra"),
    ]
    assert all(m.contract_id == CONTRACT for m in mismatches)
