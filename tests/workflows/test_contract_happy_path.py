"""A contract's happy life: offer accepted, each milestone funded, delivered, approved and paid
out minus the platform fee, then blind reviews revealed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.service import RPCError

from models.common import Role
from models.contracts import ContractStage, MilestoneStatus
from models.errors import Rejection
from models.ledger import LedgerAccount
from tests.workflows.conftest import World, rejected, start_contract


async def test_two_milestones_are_paid_out_minus_the_fee_and_reviews_revealed(world: World) -> None:
    c = await start_contract(world, [50_000, 25_005])

    state = await c.worker.do("accept")
    assert state.stage is ContractStage.ACTIVE

    for number, amount in ((1, 50_000), (2, 25_005)):
        state = await c.client.do("fund", milestone=number, payment_method="pm_card_visa")
        assert state.milestone(number).status is MilestoneStatus.FUNDED  # type: ignore[union-attr]
        await c.worker.do("submit", milestone=number, note="done")
        await c.client.do("approve", milestone=number)
        state = await c.wait_for(
            lambda s, n=number: s.milestone(n).status is MilestoneStatus.RELEASED
        )
        m = state.milestone(number)
        assert m is not None
        fee = (amount * 1000 + 5000) // 10000
        assert (m.fee_cents, m.payout_cents) == (fee, amount - fee)

    state = await c.wait_for(lambda s: s.stage is ContractStage.COMPLETED)
    # Exactly one charge and one transfer per milestone, each transfer with the fee deducted.
    assert len(world.payments.charges) == 2
    assert [t.amount_cents for t in world.payments.transfers] == [45_000, 22_504]
    assert {t.destination_account for t in world.payments.transfers} == {
        f"acct_{c.input.worker_id.hex[:8]}"
    }
    # The ledger balances: escrow empty, worker + platform got everything the client paid.
    cid = c.input.contract_id
    assert world.store.balance(cid, LedgerAccount.ESCROW) == 0
    assert world.store.balance(cid, LedgerAccount.WORKER_PAYOUTS) == 45_000 + 22_504
    assert world.store.balance(cid, LedgerAccount.PLATFORM_FEES) == 5_000 + 2_501
    assert world.store.balance(cid, LedgerAccount.CLIENT_PAYMENTS) == -75_005

    # Blind reviews: the first one stays hidden until the second arrives.
    state = await c.client.do("review", rating=5, comment="Great work")
    assert list(state.reviews) == ["client"]
    assert not state.reviews_revealed
    assert cid not in world.store.revealed
    await c.worker.do("review", rating=4, comment="Clear brief")
    result = await c.handle.result()
    assert result.stage is ContractStage.COMPLETED
    assert (result.released_cents, result.fee_cents) == (67_504, 7_501)
    final = world.store.contracts[cid]
    assert final.reviews_revealed and final.closed_at is not None
    assert cid in world.store.revealed
    assert {r.author_role for r in world.store.reviews.values() if r.contract_id == cid} == {
        Role.CLIENT,
        Role.WORKER,
    }
    # Both parties are invited to review: in the app, by email (one step, two people).
    for party in (c.input.client_id, c.input.worker_id):
        assert len(world.store.notices("review-invite", party)) == 1
        assert world.notifications.kinds(party).count("review-invite") == 1


async def test_reviews_are_revealed_when_the_seven_day_window_closes(world: World) -> None:
    c = await start_contract(world, [10_000])
    await c.worker.do("accept")
    await c.client.do("fund", milestone=1, payment_method="pm_card_visa")
    await c.worker.do("submit", milestone=1)
    await c.client.do("approve", milestone=1)
    state = await c.wait_for(lambda s: s.stage is ContractStage.COMPLETED)
    assert state.reviews_close_at is not None

    await c.worker.do("review", rating=5, comment="Lovely client")
    await c.skip(timedelta(days=6))
    assert not (await c.state()).reviews_revealed  # one review in, window still open

    await c.skip(timedelta(days=1, minutes=1))
    state = await c.wait_for(lambda s: s.reviews_revealed)
    assert list(state.reviews) == ["worker"]
    assert c.input.contract_id in world.store.revealed
    # Too late to review now: the contract's workflow has finished and takes no commands.
    await c.handle.result()
    with pytest.raises(RPCError):
        await c.client.do("review", rating=1, comment="late")


async def test_commands_out_of_turn_are_rejected_before_they_enter_history(world: World) -> None:
    c = await start_contract(world, [10_000])
    assert (await rejected(c.client.do("accept"))).type == Rejection.FORBIDDEN
    assert (
        await rejected(c.client.do("fund", milestone=1, payment_method="pm_card_visa"))
    ).type == (Rejection.INVALID_STATE)
    await c.worker.do("accept")
    assert (await rejected(c.client.do("approve", milestone=1))).type == Rejection.INVALID_STATE
    assert (
        await rejected(c.worker.do("fund", milestone=1, payment_method="pm_card_visa"))
    ).type == (Rejection.FORBIDDEN)
    assert (
        await rejected(c.client.do("fund", milestone=7, payment_method="pm_card_visa"))
    ).type == (Rejection.NOT_FOUND)
    await c.client.do("fund", milestone=1, payment_method="pm_card_visa")
    assert (
        await rejected(c.client.do("fund", milestone=1, payment_method="pm_card_visa"))
    ).type == (Rejection.INVALID_STATE)
    assert (await rejected(c.client.do("submit", milestone=1))).type == Rejection.FORBIDDEN
    assert len(world.payments.charges) == 1


async def test_a_declined_card_changes_nothing_and_a_second_card_works(world: World) -> None:
    c = await start_contract(world, [10_000])
    await c.worker.do("accept")
    err = await rejected(c.client.do("fund", milestone=1, payment_method="pm_card_chargeDeclined"))
    assert err.type == Rejection.CARD_DECLINED
    state = await c.state()
    m = state.milestone(1)
    assert m is not None and m.status is MilestoneStatus.PENDING
    assert m.last_payment_error and "declined" in m.last_payment_error
    assert world.store.ledger == {} and world.payments.charges == []

    state = await c.client.do("fund", milestone=1, payment_method="pm_card_visa")
    assert state.milestone(1).status is MilestoneStatus.FUNDED  # type: ignore[union-attr]
    # One PaymentIntent for the milestone, confirmed twice under two keys, charged once.
    assert len(world.payments.intents) == 1 and len(world.payments.charges) == 1
