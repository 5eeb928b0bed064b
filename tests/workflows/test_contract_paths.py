"""Every unhappy path of a contract, on the time-skipping server: each test asserts the final
state *and* the money (provider calls made, ledger balances)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from models.contracts import (
    ChargebackClosed,
    ChargebackOpened,
    ChargebackStatus,
    ContractStage,
    MilestoneStatus,
)
from models.errors import Rejection
from models.ledger import LedgerAccount
from models.payouts import PayoutAccountState, PayoutAccountStatus
from tests.workflows.conftest import ContractCase, World, rejected, start_contract


def balance(world: World, c: ContractCase, account: LedgerAccount) -> int:
    return world.store.balance(c.input.contract_id, account)


async def funded_and_submitted(world: World, amounts: list[int], submit: list[int]) -> ContractCase:
    c = await start_contract(world, amounts)
    await c.worker.do("accept")
    for n in range(1, len(amounts) + 1):
        await c.client.do("fund", milestone=n, payment_method="pm_card_visa")
    for n in submit:
        await c.worker.do("submit", milestone=n)
    return c


# --- the offer --------------------------------------------------------------------------------


async def test_a_declined_offer_ends_the_contract_and_moves_no_money(world: World) -> None:
    c = await start_contract(world, [10_000])
    state = await c.worker.do("decline", reason="fully booked")
    assert state.stage is ContractStage.DECLINED and state.end_reason == "fully booked"
    result = await c.handle.result()
    assert result.stage is ContractStage.DECLINED
    assert world.payments.calls == {} and world.store.ledger == {}
    assert world.store.notices("offer-declined", c.input.client_id)  # the client is told


async def test_an_unanswered_offer_expires_after_72_hours(world: World) -> None:
    c = await start_contract(world, [10_000])
    await c.skip(timedelta(hours=71))
    assert (await c.state()).stage is ContractStage.OFFERED
    await c.skip(timedelta(hours=1, minutes=1))
    state = await c.wait_for(lambda s: s.stage is ContractStage.EXPIRED)
    assert state.end_reason and "did not answer" in state.end_reason
    assert world.payments.calls == {}
    assert (await c.handle.result()).stage is ContractStage.EXPIRED


async def test_an_accepted_contract_nobody_funds_is_cancelled_after_seven_days(
    world: World,
) -> None:
    c = await start_contract(world, [10_000, 5_000])
    await c.worker.do("accept")
    await c.skip(timedelta(days=6, hours=23))
    assert (await c.state()).stage is ContractStage.ACTIVE
    await c.skip(timedelta(hours=2))
    result = await c.handle.result()
    assert result.stage is ContractStage.CANCELLED
    state = world.store.contracts[c.input.contract_id]
    assert [m.status for m in state.milestones] == [MilestoneStatus.CANCELLED] * 2
    assert world.payments.charges == [] and world.store.ledger == {}


async def test_funding_one_milestone_stops_the_unfunded_timer(world: World) -> None:
    c = await start_contract(world, [10_000, 5_000])
    await c.worker.do("accept")
    await c.skip(timedelta(days=3))
    await c.client.do("fund", milestone=1, payment_method="pm_card_visa")
    await c.skip(timedelta(days=10))
    assert (await c.state()).stage is ContractStage.ACTIVE


# --- approval, changes and auto-release --------------------------------------------------------


async def test_auto_release_fourteen_days_after_submission_with_two_reminders(world: World) -> None:
    c = await funded_and_submitted(world, [20_000], submit=[1])
    client = c.input.client_id
    await c.skip(timedelta(days=5, minutes=1))
    await c.wait_for(lambda s: s.milestones[0].reminders_sent == 1)
    await c.skip(timedelta(days=8))  # day 13
    await c.wait_for(lambda s: s.milestones[0].reminders_sent == 2)
    assert (await c.state()).milestones[0].status is MilestoneStatus.SUBMITTED
    assert len([n for n in world.store.notices("approval-reminder", client)]) == 2
    await c.skip(timedelta(days=1))  # day 14
    state = await c.wait_for(lambda s: s.milestones[0].status is MilestoneStatus.RELEASED)
    m = state.milestones[0]
    assert m.auto_released and (m.payout_cents, m.fee_cents) == (18_000, 2_000)
    assert [t.amount_cents for t in world.payments.transfers] == [18_000]
    assert balance(world, c, LedgerAccount.ESCROW) == 0


async def test_requesting_changes_restarts_the_auto_release_clock(world: World) -> None:
    c = await funded_and_submitted(world, [20_000], submit=[1])
    await c.skip(timedelta(days=10))
    state = await c.client.do("request_changes", milestone=1, reason="More contrast please")
    assert state.milestones[0].status is MilestoneStatus.CHANGES_REQUESTED
    await c.skip(timedelta(days=10))  # no clock runs while the worker is revising
    assert (await c.state()).milestones[0].status is MilestoneStatus.CHANGES_REQUESTED
    resubmitted = await c.worker.do("submit", milestone=1, note="v2")
    assert resubmitted.milestones[0].submission_count == 2
    await c.skip(timedelta(days=13, hours=23))  # 14 days from the *latest* submission
    assert (await c.state()).milestones[0].status is MilestoneStatus.SUBMITTED
    await c.skip(timedelta(hours=2))
    await c.wait_for(lambda s: s.milestones[0].status is MilestoneStatus.RELEASED)
    assert len(world.payments.transfers) == 1


# --- cancellation -------------------------------------------------------------------------------


async def test_cancel_before_funding_moves_no_money(world: World) -> None:
    c = await start_contract(world, [10_000])
    await c.worker.do("accept")
    state = await c.client.do("cancel", reason="project dropped")
    assert state.stage is ContractStage.CANCELLED
    assert (await c.handle.result()).stage is ContractStage.CANCELLED
    assert world.payments.calls == {} and world.store.ledger == {}


async def test_cancel_after_funding_refunds_unreleased_escrow_and_keeps_paid_work_paid(
    world: World,
) -> None:
    c = await funded_and_submitted(world, [30_000, 20_000, 10_000], submit=[1])
    await c.client.do("approve", milestone=1)
    await c.wait_for(lambda s: s.milestones[0].status is MilestoneStatus.RELEASED)
    # The client cannot walk away from delivered work by cancelling …
    await c.worker.do("submit", milestone=2)
    assert (await rejected(c.client.do("cancel"))).type == Rejection.INVALID_STATE
    # … but the worker can give the rest back.
    state = await c.worker.do("cancel", reason="moving on")
    assert state.stage is ContractStage.CANCELLED
    assert [m.status for m in state.milestones] == [
        MilestoneStatus.RELEASED,
        MilestoneStatus.REFUNDED,
        MilestoneStatus.REFUNDED,
    ]
    assert sorted(r.amount_cents for r in world.payments.refunds) == [10_000, 20_000]
    assert balance(world, c, LedgerAccount.ESCROW) == 0
    assert balance(world, c, LedgerAccount.CLIENT_REFUNDS) == 30_000
    assert balance(world, c, LedgerAccount.WORKER_PAYOUTS) == 27_000
    assert (await c.handle.result()).stage is ContractStage.CANCELLED


# --- disputes ----------------------------------------------------------------------------------


async def test_a_dispute_freezes_auto_release_and_support_splits_the_escrow(world: World) -> None:
    c = await funded_and_submitted(world, [30_000, 20_000], submit=[1, 2])
    state = await c.client.do("dispute", reason="Work is incomplete")
    assert state.stage is ContractStage.DISPUTED and state.needs_support and state.dispute
    assert state.dispute.escrow_cents == 50_000
    await c.skip(timedelta(days=20))  # way past auto-release: frozen
    frozen = await c.state()
    assert [m.status for m in frozen.milestones] == [MilestoneStatus.SUBMITTED] * 2
    assert world.payments.transfers == []
    assert (await rejected(c.client.do("approve", milestone=1))).type == Rejection.INVALID_STATE

    # Support must split exactly what is in escrow, and only support may.
    assert (
        await rejected(c.client.do("resolve_dispute", release_cents=1, refund_cents=0))
    ).type == (Rejection.FORBIDDEN)
    bad = await rejected(c.support.do("resolve_dispute", release_cents=40_000, refund_cents=5_000))
    assert bad.type == Rejection.INVALID and "50000" in bad.message
    resolved = await c.support.do("resolve_dispute", release_cents=35_000, refund_cents=15_000)
    assert not resolved.needs_support and not resolved.frozen

    state = await c.wait_for(lambda s: s.stage is ContractStage.COMPLETED)
    m1, m2 = state.milestones
    assert (m1.status, m1.refunded_cents) == (MilestoneStatus.RELEASED, 0)
    assert (m2.status, m2.refunded_cents, m2.payout_cents) == (
        MilestoneStatus.RELEASED,
        15_000,
        4_500,
    )
    assert sorted(t.amount_cents for t in world.payments.transfers) == [4_500, 27_000]
    assert [r.amount_cents for r in world.payments.refunds] == [15_000]
    assert balance(world, c, LedgerAccount.ESCROW) == 0
    assert (
        balance(world, c, LedgerAccount.WORKER_PAYOUTS)
        + balance(world, c, LedgerAccount.PLATFORM_FEES)
        == 35_000
    )
    assert balance(world, c, LedgerAccount.CLIENT_REFUNDS) == 15_000


async def test_a_dispute_resolved_as_a_full_refund(world: World) -> None:
    c = await funded_and_submitted(world, [12_000], submit=[])
    await c.worker.do("dispute", reason="Client changed the scope")
    await c.support.do("resolve_dispute", release_cents=0, refund_cents=12_000)
    state = await c.wait_for(lambda s: s.stage is ContractStage.COMPLETED)
    assert state.milestones[0].status is MilestoneStatus.REFUNDED
    assert world.payments.transfers == [] and [r.amount_cents for r in world.payments.refunds] == [
        12_000
    ]
    assert balance(world, c, LedgerAccount.ESCROW) == 0


async def test_nothing_to_dispute_without_escrow(world: World) -> None:
    c = await start_contract(world, [10_000])
    await c.worker.do("accept")
    assert (await rejected(c.client.do("dispute", reason="x"))).type == Rejection.INVALID_STATE


# --- chargebacks -------------------------------------------------------------------------------


async def test_a_chargeback_freezes_release_until_won(world: World) -> None:
    c = await funded_and_submitted(world, [20_000], submit=[1])
    charge = (await c.state()).milestones[0].charge_id
    assert charge
    await c.handle.signal(
        "chargeback_opened",
        ChargebackOpened(charge_id=charge, dispute_id="du_1", amount_cents=20_000),
    )
    await c.wait_for(lambda s: s.milestones[0].chargeback_open and s.needs_support)
    assert (await rejected(c.client.do("approve", milestone=1))).type == Rejection.INVALID_STATE
    await c.skip(timedelta(days=15))  # past auto-release, but frozen
    assert world.payments.transfers == []

    await c.handle.signal(
        "chargeback_closed", ChargebackClosed(charge_id=charge, dispute_id="du_1", won=True)
    )
    state = await c.wait_for(lambda s: s.milestones[0].status is MilestoneStatus.RELEASED)
    assert (
        state.milestones[0].chargeback
        and state.milestones[0].chargeback.status is ChargebackStatus.WON
    )
    assert not state.needs_support and [t.amount_cents for t in world.payments.transfers] == [
        18_000
    ]


async def test_a_lost_chargeback_marks_the_milestone_lost_and_pays_nothing(world: World) -> None:
    c = await funded_and_submitted(world, [20_000, 5_000], submit=[1])
    charge = (await c.state()).milestones[0].charge_id
    assert charge
    opened = ChargebackOpened(charge_id=charge, dispute_id="du_2", amount_cents=20_000)
    closed = ChargebackClosed(charge_id=charge, dispute_id="du_2", won=False)
    # Out of order and duplicated, as webhooks may arrive: one effect.
    await c.handle.signal("chargeback_closed", closed)
    await c.handle.signal("chargeback_opened", opened)
    await c.handle.signal("chargeback_closed", closed)
    state = await c.wait_for(lambda s: s.milestones[0].status is MilestoneStatus.LOST)
    assert (
        state.milestones[0].chargeback
        and state.milestones[0].chargeback.status is ChargebackStatus.LOST
    )
    assert balance(world, c, LedgerAccount.CHARGEBACK_LOSSES) == 20_000
    assert balance(world, c, LedgerAccount.ESCROW) == 5_000  # milestone 2 untouched
    assert world.payments.transfers == []
    losses = [t for t in world.store.ledger.values() if t.kind.value == "chargeback_lost"]
    assert len(losses) == 1


async def test_a_chargeback_that_arrives_before_the_funding_answer_still_freezes_it(
    world: World,
) -> None:
    """Seen in `make chaos`: the bank's dispute webhook beat the funding call's answer, the
    workflow did not know the charge yet and ignored the chargeback."""
    c = await start_contract(world, [30_000])
    await c.worker.do("accept")
    world.payments.confirm_answer = asyncio.Event()
    funding = asyncio.create_task(c.client.do("fund", milestone=1, payment_method="pm_card_visa"))
    while not world.payments.charges:  # noqa: ASYNC110 (charged at the fake; answer held back)
        await asyncio.sleep(0.01)
    charge = world.payments.charges[0]
    intent = next(pi for pi, i in world.payments.intents.items() if i["charge"] == charge)
    opened = ChargebackOpened(
        charge_id=charge, dispute_id="du_3", amount_cents=30_000, payment_intent_id=intent
    )
    closed = ChargebackClosed(
        charge_id=charge, dispute_id="du_3", won=False, payment_intent_id=intent
    )
    await c.handle.signal("chargeback_opened", opened)
    await c.handle.signal("chargeback_closed", closed)
    await c.wait_for(lambda s: s.milestones[0].chargeback is not None)
    assert (await c.state()).milestones[0].status is MilestoneStatus.FUNDING
    world.payments.confirm_answer.set()
    await funding
    state = await c.wait_for(lambda s: s.milestones[0].status is MilestoneStatus.LOST)
    assert state.milestones[0].chargeback and state.milestones[0].chargeback.dispute_id == "du_3"
    assert balance(world, c, LedgerAccount.CHARGEBACK_LOSSES) == 30_000
    assert balance(world, c, LedgerAccount.ESCROW) == 0
    assert world.payments.transfers == []


# --- payout account ----------------------------------------------------------------------------


async def test_release_waits_for_the_payout_account_then_asks_support_after_90_days(
    world: World,
) -> None:
    c = await start_contract(world, [10_000], payout_ready=False)
    await c.worker.do("accept")
    await c.client.do("fund", milestone=1, payment_method="pm_card_visa")
    await c.worker.do("submit", milestone=1)
    await c.client.do("approve", milestone=1)
    state = await c.wait_for(lambda s: s.waiting_for_payout_account_since is not None)
    assert not state.needs_support
    await c.skip(timedelta(days=30))
    assert (
        len(world.store.notices("payout-account-needed", c.input.worker_id)) >= 4
    )  # weekly reminders
    await c.skip(timedelta(days=61))
    state = await c.wait_for(lambda s: s.needs_support)
    assert state.support_reason and "no payout account" in state.support_reason
    assert world.payments.transfers == []

    # The worker finally connects an account: the PayoutAccount workflow signals the contract.
    world.store.payout_accounts[c.input.worker_id] = PayoutAccountState(
        user_id=c.input.worker_id,
        email="w@example.com",
        country="US",
        status=PayoutAccountStatus.READY,
        stripe_account_id="acct_late",
        payouts_enabled=True,
        version=1,
    )
    await c.handle.signal("payout_account_ready", {"account_id": "acct_late"})
    state = await c.wait_for(lambda s: s.milestones[0].status is MilestoneStatus.RELEASED)
    assert not state.needs_support and state.waiting_for_payout_account_since is None
    assert [t.destination_account for t in world.payments.transfers] == ["acct_late"]
