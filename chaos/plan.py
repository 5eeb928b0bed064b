"""What each chaos lifecycle does and where it must end: pure data, no I/O.

Every lifecycle is planned up front (kind, milestone amounts, how a dispute is split), so its
correct final state — stage, milestone statuses, the ledger's money summary and the money the
provider moved — is known before any fault is injected, and is checked against what happened.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from models.money import platform_fee_cents


class Kind(StrEnum):
    HAPPY = "happy"  # fund, submit, approve, paid; both review
    DECLINED_THEN_PAID = "declined_then_paid"  # a declined card first, then a good one
    CANCEL_REFUND = "cancel_refund"  # funded, then the client cancels: refunded
    DISPUTE_TO_WORKER = "dispute_to_worker"  # support releases the whole escrow
    DISPUTE_TO_CLIENT = "dispute_to_client"  # support refunds the whole escrow
    DISPUTE_SPLIT = "dispute_split"  # support splits it
    CHARGEBACK_LOST = "chargeback_lost"  # the bank takes the money back
    CHARGEBACK_WON = "chargeback_won"  # the bank sides with us: the release goes ahead


OUTCOME = {
    Kind.HAPPY: "completed, paid, reviews revealed",
    Kind.DECLINED_THEN_PAID: "402 first, completed, paid",
    Kind.CANCEL_REFUND: "cancelled, refunded",
    Kind.DISPUTE_TO_WORKER: "dispute → released to worker",
    Kind.DISPUTE_TO_CLIENT: "dispute → refunded to client",
    Kind.DISPUTE_SPLIT: "dispute → split release/refund",
    Kind.CHARGEBACK_LOST: "chargeback lost, nothing paid",
    Kind.CHARGEBACK_WON: "chargeback won, paid",
}

# The mix, in parts per 100. Happy paths dominate real traffic; each unhappy path is common
# enough to run dozens of times per chaos run.
MIX: dict[Kind, int] = {
    Kind.HAPPY: 30,
    Kind.DECLINED_THEN_PAID: 12,
    Kind.CANCEL_REFUND: 12,
    Kind.DISPUTE_TO_WORKER: 8,
    Kind.DISPUTE_TO_CLIENT: 8,
    Kind.DISPUTE_SPLIT: 8,
    Kind.CHARGEBACK_LOST: 11,
    Kind.CHARGEBACK_WON: 11,
}


@dataclass(frozen=True)
class Money:
    """The ledger's money summary for one contract (the API's ``money`` object)."""

    funded_cents: int = 0
    escrow_cents: int = 0
    released_cents: int = 0
    fee_cents: int = 0
    refunded_cents: int = 0
    chargeback_lost_cents: int = 0


@dataclass(frozen=True)
class AtProvider:
    """Succeeded money objects at Stripe for one contract, as sorted amounts."""

    charges: tuple[int, ...] = ()
    refunds: tuple[int, ...] = ()
    transfers: tuple[int, ...] = ()


@dataclass(frozen=True)
class Expected:
    stage: str
    milestones: tuple[str, ...]
    money: Money
    at_provider: AtProvider
    reviews_revealed: bool = False


@dataclass(frozen=True)
class Plan:
    index: int
    kind: Kind
    amounts: tuple[int, ...]
    release_cents: int = 0  # dispute resolutions: what support releases to the worker
    fee_bps: int = 1000

    @property
    def refund_cents(self) -> int:
        return sum(self.amounts) - self.release_cents

    def expected(self) -> Expected:
        total = sum(self.amounts)
        fees = [platform_fee_cents(a, self.fee_bps) for a in self.amounts]
        paid = Money(
            funded_cents=total,
            released_cents=total - sum(fees),
            fee_cents=sum(fees),
        )
        charges = tuple(sorted(self.amounts))
        payouts = tuple(sorted(a - f for a, f in zip(self.amounts, fees, strict=True)))
        n = len(self.amounts)
        match self.kind:
            case Kind.HAPPY | Kind.DECLINED_THEN_PAID | Kind.CHARGEBACK_WON:
                return Expected(
                    "completed",
                    ("released",) * n,
                    paid,
                    AtProvider(charges, (), payouts),
                    reviews_revealed=self.kind is Kind.HAPPY,
                )
            case Kind.DISPUTE_TO_WORKER:
                return Expected(
                    "completed", ("released",) * n, paid, AtProvider(charges, (), payouts)
                )
            case Kind.CANCEL_REFUND:
                return Expected(
                    "cancelled",
                    ("refunded",) * n,
                    Money(funded_cents=total, refunded_cents=total),
                    AtProvider(charges, charges, ()),
                )
            case Kind.DISPUTE_TO_CLIENT:
                return Expected(
                    "completed",
                    ("refunded",) * n,
                    Money(funded_cents=total, refunded_cents=total),
                    AtProvider(charges, charges, ()),
                )
            case Kind.DISPUTE_SPLIT:
                (amount,) = self.amounts  # one milestone: the split is within it
                fee = platform_fee_cents(self.release_cents, self.fee_bps)
                return Expected(
                    "completed",
                    ("released",),
                    Money(
                        funded_cents=amount,
                        released_cents=self.release_cents - fee,
                        fee_cents=fee,
                        refunded_cents=self.refund_cents,
                    ),
                    AtProvider(charges, (self.refund_cents,), (self.release_cents - fee,)),
                )
            case Kind.CHARGEBACK_LOST:
                return Expected(
                    "completed",
                    ("lost",) * n,
                    Money(funded_cents=total, chargeback_lost_cents=total),
                    AtProvider(charges, (), ()),
                )


def make_plans(count: int, seed: int) -> list[Plan]:
    """``count`` lifecycles in the MIX's proportions, interleaved, with seeded amounts."""
    rng = random.Random(seed)
    weights = list(MIX.values())
    kinds = list(MIX)
    per_kind = {k: count * w // sum(weights) for k, w in MIX.items()}
    for k in kinds[: count - sum(per_kind.values())]:  # the rounding remainder
        per_kind[k] += 1
    order = [k for k in kinds for _ in range(per_kind[k])]
    rng.shuffle(order)
    plans = []
    for i, kind in enumerate(order):
        # Whole dollars from $50 to $900: above Stripe's minimum charge, fees are not round.
        amount = rng.randrange(5_000, 90_000, 100) + rng.randrange(1, 99)
        # A third of the happy paths have two milestones (each funded, delivered, paid).
        two = kind is Kind.HAPPY and rng.random() < 1 / 3
        amounts = (amount, rng.randrange(5_000, 40_000, 100)) if two else (amount,)
        release = 0
        if kind is Kind.DISPUTE_TO_WORKER:
            release = amount
        elif kind is Kind.DISPUTE_SPLIT:
            release = amount * rng.randrange(20, 80) // 100
        plans.append(Plan(i, kind, amounts, release_cents=release))
    return plans
