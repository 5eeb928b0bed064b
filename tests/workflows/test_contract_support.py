"""Support acts on a contract with validated updates, on the time-skipping server: deadlines it
extends really move the timers, money it moves moves once, and every action leaves who and
why (in the update's input in history and in the audit store)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle
from temporalio.common import SearchAttributeKey

from models import support as s
from models.common import Actor, Role
from models.contracts import ContractStage, ContractState, MilestoneStatus
from models.errors import Rejection
from models.ledger import LedgerAccount
from tests.workflows.conftest import (
    SUPPORT,
    ContractCase,
    World,
    person,
    rejected,
    settled,
    start_contract,
)

COMMANDS: dict[str, type[s.SupportCommand]] = {
    "extend_deadline": s.ExtendDeadline,
    "support_cancel": s.SupportCancel,
    "release_milestone": s.SupportMilestoneCommand,
    "refund_milestone": s.SupportMilestoneCommand,
    "resend_notification": s.ResendNotification,
    "add_note": s.AddNote,
    "clear_needs_support": s.ClearNeedsSupport,
}


async def support(
    c: ContractCase, action: str, reason: str, *, actor: Actor = SUPPORT, **fields: Any
) -> ContractState:
    """What the Temporal UI, the `temporal` CLI and /v1/support all send: the same update."""
    cmd = COMMANDS[action](actor=actor, reason=reason, **fields)
    return await c.handle.execute_update(action, cmd, result_type=ContractState)


def audit(world: World, c: ContractCase) -> list[s.SupportActionRecord]:
    rows = [r for r in world.store.support_actions.values() if r.contract_id == c.input.contract_id]
    return sorted(rows, key=lambda r: r.created_at)


async def update_inputs(handle: WorkflowHandle[Any, Any], name: str) -> list[dict[str, Any]]:
    """The inputs of every accepted update of this name, read back from the history."""
    import json

    found = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if request.input.name == name:
                payload = request.input.args.payloads[0]
                found.append(json.loads(payload.data))
    return found


async def funded(world: World, amounts: list[int], submit: tuple[int, ...] = ()) -> ContractCase:
    c = await start_contract(world, amounts)
    await c.worker.do("accept")
    for n in range(1, len(amounts) + 1):
        await c.client.do("fund", milestone=n, payment_method="pm_card_visa")
    for n in submit:
        await c.worker.do("submit", milestone=n)
    return c


# --- deadlines ----------------------------------------------------------------------------------


async def test_support_extends_the_offer_and_it_expires_only_at_the_new_deadline(
    world: World,
) -> None:
    c = await start_contract(world, [10_000])
    await c.skip(timedelta(hours=70))
    state = await support(
        c,
        "extend_deadline",
        "worker is travelling, asked for two more days",
        which="offer",
        by=timedelta(days=2),
    )
    assert state.offer_expires_at == c.input.offered_at + timedelta(hours=72 + 48)
    await c.skip(timedelta(hours=4))  # past the original 72 h
    assert (await c.state()).stage is ContractStage.OFFERED
    await c.skip(timedelta(days=2))
    await c.wait_for(lambda st: st.stage is ContractStage.EXPIRED)

    [row] = audit(world, c)
    assert (row.action, row.actor_id) == (s.SupportAction.EXTEND_DEADLINE, SUPPORT.user_id)
    assert row.reason == "worker is travelling, asked for two more days"
    assert row.details["which"] == "offer"
    [sent] = await update_inputs(c.handle, "extend_deadline")
    assert sent["actor"]["user_id"] == str(SUPPORT.user_id)
    assert sent["reason"] == "worker is travelling, asked for two more days"
    # The worker is told the new date; the client, who waits either way, is not.
    [told] = world.store.notices("deadline-extended", c.input.worker_id)
    assert f"{state.offer_expires_at:%Y-%m-%d %H:%M} UTC" in told.body
    assert world.store.notices("deadline-extended", c.input.client_id) == []


async def test_an_extended_auto_release_pays_out_at_the_new_date_not_the_old(world: World) -> None:
    c = await funded(world, [20_000], submit=(1,))
    await c.skip(timedelta(days=13, hours=1))  # both reminders sent: the next timer is day 14
    await c.wait_for(lambda st: st.milestones[0].reminders_sent == 2)
    state = await support(
        c,
        "extend_deadline",
        "client is in hospital",
        which="auto_release",
        milestone=1,
        by=timedelta(days=3),
    )
    submitted_at = state.milestones[0].submitted_at
    assert submitted_at and state.milestones[0].auto_release_at == submitted_at + timedelta(days=17)
    await c.skip(timedelta(days=1, hours=1))  # past the original 14 days
    assert (await c.state()).milestones[0].status is MilestoneStatus.SUBMITTED
    assert world.payments.transfers == []
    await c.skip(timedelta(days=3))
    state = await c.wait_for(lambda st: st.milestones[0].status is MilestoneStatus.RELEASED)
    assert state.milestones[0].auto_released
    assert [t.amount_cents for t in world.payments.transfers] == [18_000]


async def test_an_extended_funding_deadline_cancels_only_when_it_passes(world: World) -> None:
    c = await start_contract(world, [10_000])
    await c.worker.do("accept")
    await c.skip(timedelta(days=6))
    await support(
        c,
        "extend_deadline",
        "client's card is being replaced",
        which="funding",
        by=timedelta(days=3),
    )
    await c.skip(timedelta(days=2))  # day 8: the original deadline has passed
    assert (await c.state()).stage is ContractStage.ACTIVE
    await c.skip(timedelta(days=2))  # day 10
    await c.wait_for(lambda st: st.stage is ContractStage.CANCELLED)


async def test_an_extended_review_window_keeps_reviews_blind_until_it_closes(
    world: World,
) -> None:
    c = await funded(world, [10_000], submit=(1,))
    await c.client.do("approve", milestone=1)
    await c.wait_for(lambda st: st.stage is ContractStage.COMPLETED)
    await c.client.do("review", rating=5, comment="great")
    await support(
        c,
        "extend_deadline",
        "worker asked for time to write",
        which="review_window",
        by=timedelta(days=5),
    )
    await c.skip(timedelta(days=8))
    assert not (await c.state()).reviews_revealed
    await c.skip(timedelta(days=5))
    await c.wait_for(lambda st: st.reviews_revealed)


async def test_deadlines_that_no_longer_apply_or_lie_in_the_past_are_refused(
    world: World,
) -> None:
    c = await start_contract(world, [10_000])
    past = c.input.offered_at - timedelta(hours=1)
    refused = await rejected(support(c, "extend_deadline", "oops", which="offer", until=past))
    assert refused.type == Rejection.INVALID and "past" in refused.message
    refused = await rejected(
        support(c, "extend_deadline", "early", which="funding", by=timedelta(days=1))
    )
    assert refused.type == Rejection.INVALID_STATE
    await c.worker.do("accept")
    refused = await rejected(
        support(c, "extend_deadline", "too late", which="offer", by=timedelta(days=1))
    )
    assert refused.type == Rejection.INVALID_STATE
    refused = await rejected(
        support(
            c,
            "extend_deadline",
            "not submitted",
            which="auto_release",
            milestone=1,
            by=timedelta(days=1),
        )
    )
    assert refused.type == Rejection.INVALID_STATE
    assert audit(world, c) == []  # refused commands never enter history nor the audit


async def test_only_support_acts_as_support(world: World) -> None:
    c = await funded(world, [10_000])
    actions: list[tuple[str, dict[str, Any]]] = [
        ("extend_deadline", {"which": "funding", "by": timedelta(days=1)}),
        ("support_cancel", {}),
        ("release_milestone", {"milestone": 1}),
        ("refund_milestone", {"milestone": 1}),
        ("resend_notification", {"notice": "offer"}),
        ("add_note", {"note": "hello"}),
        ("clear_needs_support", {}),
    ]
    for who in (c.client.actor, c.worker.actor):
        for action, fields in actions:
            refused = await rejected(support(c, action, "because", actor=who, **fields))
            assert refused.type == Rejection.FORBIDDEN, action
    assert audit(world, c) == []
    admin = person(Role.ADMIN)
    state = await support(c, "add_note", "handover", actor=admin, note="admins may too")
    assert state.notes[-1].author_id == admin.user_id


# --- money ----------------------------------------------------------------------------------------


async def test_support_cancels_with_a_refund_of_the_escrow_exactly_once(world: World) -> None:
    c = await funded(world, [30_000, 20_000], submit=(1,))
    await c.client.do("approve", milestone=1)
    await c.wait_for(lambda st: st.milestones[0].status is MilestoneStatus.RELEASED)
    # The worker dies right after Stripe made the refund: the retry must not refund again.
    world.payments.crash_once_after.add("refund_escrow")
    state = await support(c, "support_cancel", "client and worker agreed to stop")
    assert state.stage is ContractStage.CANCELLED
    assert [m.status for m in state.milestones] == [
        MilestoneStatus.RELEASED,
        MilestoneStatus.REFUNDED,
    ]
    assert [r.amount_cents for r in world.payments.refunds] == [20_000]
    assert world.payments.calls["refund_escrow"] == 2
    ledger = world.store
    assert ledger.balance(c.input.contract_id, LedgerAccount.ESCROW) == 0
    assert ledger.balance(c.input.contract_id, LedgerAccount.CLIENT_REFUNDS) == 20_000
    for tx in ledger.ledger.values():
        assert sum(p.amount_cents for p in tx.postings) == 0
    assert (await c.handle.result()).stage is ContractStage.CANCELLED
    [row] = audit(world, c)
    assert row.action is s.SupportAction.CANCEL and row.details == {"escrow_cents": 20_000}
    assert "support" in (state.end_reason or "")
    for party in (c.input.client_id, c.input.worker_id):  # both are told, without the reason
        [told] = world.store.notices("cancelled-by-support", party)
        assert "agreed" not in told.body


async def test_support_cancels_an_offer_nobody_answered(world: World) -> None:
    c = await start_contract(world, [10_000])
    state = await support(c, "support_cancel", "job posted by mistake")
    assert state.stage is ContractStage.CANCELLED
    assert (await c.handle.result()).stage is ContractStage.CANCELLED
    assert world.payments.calls == {}


async def test_support_releases_one_milestone_and_refunds_another(world: World) -> None:
    c = await funded(world, [30_000, 20_000, 10_000], submit=(2,))
    state = await support(c, "release_milestone", "client confirmed by phone", milestone=1)
    assert state.milestones[0].status is MilestoneStatus.APPROVED
    await c.wait_for(lambda st: st.milestones[0].status is MilestoneStatus.RELEASED)
    assert [t.amount_cents for t in world.payments.transfers] == [27_000]

    state = await support(c, "refund_milestone", "work never delivered", milestone=2)
    assert state.milestones[1].status is MilestoneStatus.REFUNDED
    assert [r.amount_cents for r in world.payments.refunds] == [20_000]
    # Refunded means gone: its auto-release date passes and nothing more moves.
    await c.skip(timedelta(days=15))
    assert [t.amount_cents for t in world.payments.transfers] == [27_000]
    assert state.milestones[2].status is MilestoneStatus.FUNDED  # untouched

    refused = await rejected(support(c, "refund_milestone", "again", milestone=2))
    assert refused.type == Rejection.INVALID_STATE
    assert world.store.balance(c.input.contract_id, LedgerAccount.ESCROW) == 10_000
    assert [r.action for r in audit(world, c)] == [
        s.SupportAction.RELEASE_MILESTONE,
        s.SupportAction.REFUND_MILESTONE,
    ]
    assert [r.details["milestone"] for r in audit(world, c)] == [1, 2]


# --- notices, notes, the flag ---------------------------------------------------------------------


async def test_resending_a_notice_makes_a_second_delivery(world: World) -> None:
    c = await start_contract(world, [10_000])
    worker = c.input.worker_id
    await c.wait_for(lambda st: st.version >= 1)
    await settled(c.handle)
    assert world.notifications.kinds(worker) == ["offer"]
    await support(c, "resend_notification", "worker says the email never came", notice="offer")
    await settled(c.handle)
    deliveries = world.notifications.to(worker)
    assert [d.notice.kind for d in deliveries] == ["offer", "offer"]
    first, again = (d.dedupe_key for d in deliveries)
    assert again.startswith(first + ":resend:") and again != first
    [row] = audit(world, c)
    assert row.details["original"] == first and row.details["delivery"] == again

    refused = await rejected(support(c, "resend_notification", "?", notice="no-such-notice"))
    assert refused.type == Rejection.NOT_FOUND


async def test_a_note_is_kept_on_the_contract_with_its_author(world: World) -> None:
    c = await start_contract(world, [10_000])
    state = await support(c, "add_note", "phone call", note="Client called: will fund on Monday.")
    [note] = state.notes
    assert (note.author_id, note.note) == (SUPPORT.user_id, "Client called: will fund on Monday.")
    assert world.store.contracts[c.input.contract_id].notes == state.notes  # projected


async def test_clearing_needs_support_lowers_the_flag_and_the_old_update_still_works(
    world: World,
) -> None:
    c = await start_contract(world, [10_000])
    refused = await rejected(support(c, "clear_needs_support", "nothing to clear"))
    assert refused.type == Rejection.INVALID_STATE
    await c.handle.signal("reconciliation_mismatch", "refund missing at Stripe")
    flagged = await c.wait_for(lambda st: st.needs_support)
    assert flagged.needs_support_since is not None
    state = await support(c, "clear_needs_support", "Stripe confirmed the refund")
    assert not state.needs_support and state.support_reason is None
    await settled(c.handle)
    needs_support = SearchAttributeKey.for_bool("NeedsSupport")
    described = await c.handle.describe()
    assert described.typed_search_attributes.get(needs_support) is False
    [row] = audit(world, c)
    assert row.details == {"was": "reconciliation: refund missing at Stripe"}

    # Histories (and scripts) that use the old name keep working.
    await c.handle.signal("reconciliation_mismatch", "again")
    await c.wait_for(lambda st: st.needs_support)
    state = await c.support.do("resume_after_support")
    assert not state.needs_support


async def test_an_audit_row_written_twice_by_a_retry_is_kept_once(world: World) -> None:
    c = await start_contract(world, [10_000])
    world.store.crash_once_after.add("record_support_action")
    await support(c, "add_note", "handover to the night shift", note="watch this one")
    assert world.store.support_action_writes == 2
    assert len(audit(world, c)) == 1


async def test_the_temporal_ui_explains_each_support_action(world: World) -> None:
    """The UI's update form lists a workflow's updates with their descriptions (read from
    the workflow's metadata query): each support action says what it does and needs."""
    c = await start_contract(world, [10_000])
    metadata = await c.handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    described = {u.name: u.description for u in metadata.definition.update_definitions}
    for action in s.SupportAction:
        assert "Support" in described[action] and "reason" in described[action], action
