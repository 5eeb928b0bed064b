"""A crash right after each money call succeeded at the provider (the worker dies before the
workflow learns the result): Temporal retries the step with the same idempotency key, and the
outcome is exactly one provider object per key and a balanced ledger."""

from __future__ import annotations

from collections import Counter

import pytest

from models.contracts import ContractStage, MilestoneStatus
from models.ledger import LedgerAccount
from tests.workflows.conftest import World, start_contract

MONEY_STEPS = [
    "create_escrow_intent",
    "confirm_escrow_payment",
    "transfer_to_worker",
    "refund_escrow",
    "record_ledger",
]


@pytest.mark.parametrize("step", MONEY_STEPS)
async def test_a_crash_after_each_money_call_moves_money_exactly_once(
    world: World, step: str
) -> None:
    if step == "record_ledger":
        world.store.crash_once_after.add(step)
    else:
        world.payments.crash_once_after.add(step)
    c = await start_contract(world, [30_000, 20_000])
    await c.worker.do("accept")
    await c.client.do("fund", milestone=1, payment_method="pm_card_visa")
    await c.client.do("fund", milestone=2, payment_method="pm_card_visa")
    await c.worker.do("submit", milestone=1)
    await c.client.do("approve", milestone=1)
    await c.wait_for(lambda s: s.milestones[0].status is MilestoneStatus.RELEASED)
    state = await c.worker.do("cancel", reason="done here")  # refunds milestone 2
    assert state.stage is ContractStage.CANCELLED

    # The crash happened (the step ran twice) …
    crashed = (
        world.store.crash_once_after if step == "record_ledger" else world.payments.crash_once_after
    )
    assert step not in crashed
    if step != "record_ledger":
        assert world.payments.calls[step] >= 2
    # … and still: one object per idempotency key, each movement once.
    assert len(world.payments.charges) == 2
    assert [t.amount_cents for t in world.payments.transfers] == [27_000]
    assert [r.amount_cents for r in world.payments.refunds] == [20_000]
    keys = Counter(t.idempotency_key for t in world.payments.transfers) + Counter(
        r.idempotency_key for r in world.payments.refunds
    )
    assert all(n == 1 for n in keys.values())
    # The ledger: one transaction per step, balanced, escrow empty.
    kinds = Counter(tx.kind.value for tx in world.store.ledger.values())
    assert kinds == {"funding": 2, "release": 1, "refund": 1}
    assert all(sum(p.amount_cents for p in tx.postings) == 0 for tx in world.store.ledger.values())
    cid = c.input.contract_id
    assert world.store.balance(cid, LedgerAccount.ESCROW) == 0
    assert world.store.balance(cid, LedgerAccount.WORKER_PAYOUTS) == 27_000
    assert world.store.balance(cid, LedgerAccount.PLATFORM_FEES) == 3_000
    assert world.store.balance(cid, LedgerAccount.CLIENT_REFUNDS) == 20_000
