"""Who may do what to a contract, and when: pure checks used by the Contract workflow's update
validators *and* again by its handlers (several updates can be validated before any handler
runs). A failed check rejects the command with a kind the API maps to 403/404/409/422.
Also the plain-words summary support reads in the Temporal UI.

Deterministic, no I/O: imported inside the workflow sandbox.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from workflows.common import reject

with workflow.unsafe.imports_passed_through():
    from models.common import Actor, Role
    from models.contracts import (
        ContractStage,
        ContractState,
        Dispute,
        Milestone,
        MilestoneCommand,
        MilestoneStatus,
        ResolveDispute,
    )
    from models.errors import Rejection
    from models.money import format_cents
    from models.support import (
        MAX_EXTENSION,
        MAX_NOTES,
        AddNote,
        ClearNeedsSupport,
        Deadline,
        ExtendDeadline,
        ResendNotification,
        SupportCancel,
        SupportCommand,
        SupportMilestoneCommand,
    )


def require_party(s: ContractState, actor: Actor) -> Role:
    role = s.party_role(actor.user_id)
    if role is None:
        reject(Rejection.FORBIDDEN, "you are not a party to this contract")
    return role


def check_support(actor: Actor) -> None:
    if not actor.role.is_staff:
        reject(Rejection.FORBIDDEN, "only support staff can do this")


def check_offer_answer(s: ContractState, actor: Actor) -> None:
    if require_party(s, actor) is not Role.WORKER:
        reject(Rejection.FORBIDDEN, "only the hired worker can answer the offer")
    if s.stage is not ContractStage.OFFERED:
        reject(Rejection.INVALID_STATE, f"the offer is no longer open (contract is {s.stage})")


def check_milestone(
    s: ContractState,
    cmd: MilestoneCommand,
    role: Role,
    allowed: tuple[MilestoneStatus, ...],
    verb: str,
) -> Milestone:
    if require_party(s, cmd.actor) is not role:
        reject(Rejection.FORBIDDEN, f"only the {role} can {verb} a milestone")
    if s.stage is not ContractStage.ACTIVE:
        reject(Rejection.INVALID_STATE, f"the contract is {s.stage}")
    m = s.milestone(cmd.milestone)
    if m is None:
        reject(Rejection.NOT_FOUND, f"milestone {cmd.milestone} does not exist")
    if m.status not in allowed:
        reject(Rejection.INVALID_STATE, f"cannot {verb} milestone {m.number}: it is {m.status}")
    if m.chargeback_open:
        reject(Rejection.INVALID_STATE, f"milestone {m.number} has an open chargeback")
    return m


def _check_money_at_rest(s: ContractState, releasing: set[int], verb: str) -> None:
    """Cancelling or disputing splits the escrow: not while money is moving or the bank
    is deciding a chargeback, or the split would be computed on a stale amount."""
    if s.stage is not ContractStage.ACTIVE:
        reject(Rejection.INVALID_STATE, f"a contract that is {s.stage} cannot be {verb}")
    if releasing or any(m.status is MilestoneStatus.FUNDING for m in s.milestones):
        reject(Rejection.INVALID_STATE, "a payment is in progress; try again in a moment")
    if any(m.chargeback_open for m in s.milestones):
        reject(Rejection.INVALID_STATE, "a chargeback is open; wait for the bank's decision")


def check_cancel(s: ContractState, actor: Actor, releasing: set[int]) -> None:
    role = require_party(s, actor)
    _check_money_at_rest(s, releasing, "cancelled")
    if role is Role.CLIENT and any(m.status is MilestoneStatus.SUBMITTED for m in s.milestones):
        reject(
            Rejection.INVALID_STATE,
            "work was submitted: approve it, request changes or open a dispute",
        )


def check_dispute(s: ContractState, actor: Actor, releasing: set[int]) -> None:
    require_party(s, actor)
    _check_money_at_rest(s, releasing, "disputed")
    if s.escrow_cents == 0:
        reject(Rejection.INVALID_STATE, "there is no money in escrow to dispute")


def check_resolve(s: ContractState, cmd: ResolveDispute, resolving: bool) -> Dispute:
    check_support(cmd.actor)
    dispute = s.dispute
    if dispute is None or not s.frozen:
        reject(Rejection.INVALID_STATE, "there is no open dispute")
    if resolving:
        reject(Rejection.INVALID_STATE, "this dispute is being resolved right now")
    if cmd.release_cents + cmd.refund_cents != dispute.escrow_cents:
        reject(
            Rejection.INVALID,
            f"release + refund must equal the escrow in dispute ({dispute.escrow_cents} cents), "
            f"got {cmd.release_cents} + {cmd.refund_cents}",
        )
    return dispute


# --- support actions ----------------------------------------------------------------------


def check_support_command(cmd: SupportCommand) -> None:
    check_support(cmd.actor)
    if not cmd.reason.strip():
        reject(Rejection.INVALID, "say why: `reason` is required")


def current_deadline(s: ContractState, cmd: ExtendDeadline) -> datetime:
    """The deadline the command would move, if it still applies."""
    if cmd.which is Deadline.OFFER:
        if s.stage is not ContractStage.OFFERED:
            reject(Rejection.INVALID_STATE, f"the offer is no longer open (contract is {s.stage})")
        return s.offer_expires_at
    if cmd.which is Deadline.FUNDING:
        if s.stage is not ContractStage.ACTIVE or s.any_funded or s.funding_deadline_at is None:
            reject(Rejection.INVALID_STATE, "the funding deadline no longer applies")
        return s.funding_deadline_at
    if cmd.which is Deadline.AUTO_RELEASE:
        m = s.milestone(cmd.milestone or 0)
        if m is None:
            reject(Rejection.NOT_FOUND, f"milestone {cmd.milestone} does not exist")
        if m.status is not MilestoneStatus.SUBMITTED or m.auto_release_at is None:
            reject(
                Rejection.INVALID_STATE,
                f"milestone {m.number} is {m.status}: it has no auto-release to move",
            )
        return m.auto_release_at
    if s.stage is not ContractStage.COMPLETED or s.reviews_revealed or s.reviews_close_at is None:
        reject(Rejection.INVALID_STATE, "the review window is not open")
    return s.reviews_close_at


def check_extend(s: ContractState, cmd: ExtendDeadline, now: datetime) -> datetime:
    """Returns the new deadline: later than the current one and than now, within reason."""
    check_support_command(cmd)
    current = current_deadline(s, cmd)
    if cmd.until is not None:
        new = cmd.until
    else:
        assert cmd.by is not None  # the command has exactly one of the two
        new = current + cmd.by
    if new <= now:
        reject(Rejection.INVALID, f"{new:%Y-%m-%d %H:%M} UTC is in the past")
    if new <= current:
        reject(
            Rejection.INVALID,
            f"an extension moves the deadline later than {current:%Y-%m-%d %H:%M} UTC",
        )
    if new - max(current, now) > MAX_EXTENSION:
        reject(Rejection.INVALID, f"a deadline moves by at most {MAX_EXTENSION.days} days at once")
    return new


def check_support_cancel(s: ContractState, cmd: SupportCancel, releasing: set[int]) -> None:
    check_support_command(cmd)
    if s.stage is ContractStage.DISPUTED:
        reject(Rejection.INVALID_STATE, "the contract is disputed: resolve the dispute instead")
    if s.stage is ContractStage.OFFERED:
        return  # nothing funded yet: nothing moves
    _check_money_at_rest(s, releasing, "cancelled")


def check_support_release(
    s: ContractState, cmd: SupportMilestoneCommand, releasing: set[int], refunding: set[int]
) -> Milestone:
    """Support approves a milestone in escrow on the client's behalf; the release follows."""
    m = _support_milestone(s, cmd, releasing, refunding)
    if m.status is MilestoneStatus.APPROVED:
        reject(Rejection.INVALID_STATE, f"milestone {m.number} is already approved for release")
    return m


def check_support_refund(
    s: ContractState, cmd: SupportMilestoneCommand, releasing: set[int], refunding: set[int]
) -> Milestone:
    m = _support_milestone(s, cmd, releasing, refunding)
    if m.refunded_cents:
        # Its refund key was spent on a dispute's partial refund: Stripe would refuse a
        # second refund under the same key with another amount.
        reject(Rejection.INVALID_STATE, f"milestone {m.number} was already partly refunded")
    return m


def _support_milestone(
    s: ContractState, cmd: SupportMilestoneCommand, releasing: set[int], refunding: set[int]
) -> Milestone:
    check_support_command(cmd)
    m = s.milestone(cmd.milestone)
    if m is None:
        reject(Rejection.NOT_FOUND, f"milestone {cmd.milestone} does not exist")
    if s.stage is not ContractStage.ACTIVE:
        reject(Rejection.INVALID_STATE, f"the contract is {s.stage}")
    if not m.status.in_escrow:
        reject(Rejection.INVALID_STATE, f"milestone {m.number} is {m.status}: nothing in escrow")
    if m.number in releasing or m.number in refunding:
        reject(Rejection.INVALID_STATE, "a payment is in progress; try again in a moment")
    if m.chargeback_open:
        reject(Rejection.INVALID_STATE, f"milestone {m.number} has an open chargeback")
    return m


def check_resend(s: ContractState, cmd: ResendNotification) -> None:
    check_support_command(cmd)
    if cmd.to is not None and s.party_role(cmd.to) is None:
        reject(Rejection.INVALID, "`to` must be the contract's client or worker")


def check_note(s: ContractState, cmd: AddNote) -> None:
    check_support_command(cmd)
    if len(s.notes) >= MAX_NOTES:
        reject(Rejection.INVALID_STATE, f"this contract has {MAX_NOTES} notes already")


def check_clear_needs_support(s: ContractState, cmd: ClearNeedsSupport) -> None:
    check_support_command(cmd)
    if s.frozen:
        reject(Rejection.INVALID_STATE, "a dispute is open: resolve it instead")
    if not s.needs_support:
        reject(Rejection.INVALID_STATE, "this contract does not need support")


def check_review(s: ContractState, actor: Actor) -> Role:
    role = require_party(s, actor)
    if s.stage is not ContractStage.COMPLETED or s.reviews_revealed:
        reject(Rejection.INVALID_STATE, "reviews are only open for a while after completion")
    if role.value in s.reviews:
        reject(Rejection.INVALID_STATE, "you have already reviewed this contract")
    return role


def describe(s: ContractState) -> str:
    """The Temporal UI's *Current details* for support: where the contract stands and, for
    every open item, what it waits for, from whom, and until when (or that nothing bounds it)."""
    money = format_cents(s.total_cents, s.currency)
    lines = [
        f"**{s.stage.value.capitalize()}** — “{s.job_title}”, {len(s.milestones)} milestone(s), {money}."
    ]
    if s.needs_support and s.support_reason:
        lines.append(f"**Needs support**: {s.support_reason}")
    if s.stage is ContractStage.OFFERED:
        lines.append(
            f"Waiting for the worker to accept or decline the offer until "
            f"{_at(s.offer_expires_at)}; then it expires."
        )
    if s.stage is ContractStage.ACTIVE and not s.any_funded and s.funding_deadline_at:
        lines.append(
            f"Waiting for the client to fund a milestone until {_at(s.funding_deadline_at)}; "
            "then the contract is cancelled (no money moved)."
        )
    if s.frozen and s.dispute:
        lines.append(
            f"Dispute opened by the {s.dispute.opened_by.role} on {_at(s.dispute.opened_at)}: "
            f"{s.dispute.reason}. Waiting for support to resolve it (`resolve_dispute`), no "
            "deadline: every timer and payment is frozen until then."
        )
    milestones = []
    for m in s.milestones:
        line = f"- M{m.number} {m.title}: **{m.status.value}** ({format_cents(m.amount_cents, s.currency)})"
        waits = _milestone_waits_for(s, m)
        milestones.append(f"{line} — {waits}" if waits else line)
    after: list[str] = []
    if s.waiting_for_payout_account_since:
        ask_support_at = s.waiting_for_payout_account_since + s.policy.payout_account_support_after
        after.append(
            f"Waiting for the worker to set up a payout account (since "
            f"{_at(s.waiting_for_payout_account_since)}); reminded every "
            f"{s.policy.payout_account_reminder_every.days} d, support is asked on {_at(ask_support_at)}."
        )
    if s.stage is ContractStage.COMPLETED and s.reviews_close_at:
        if s.reviews_revealed:
            after.append("Reviews revealed; nothing left to wait for.")
        else:
            missing = [r for r in (Role.CLIENT, Role.WORKER) if r.value not in s.reviews]
            after.append(
                f"Blind reviews: {len(s.reviews)}/2 in. Waiting for the "
                f"{' and the '.join(missing)} to review until {_at(s.reviews_close_at)}; "
                "then both are revealed."
            )
    if s.end_reason:
        after.append(f"Ended: {s.end_reason}.")
    # Blank lines around the list: the UI's Markdown starts a list only after one, and a line
    # right after the list would be read as part of its last item.
    return "\n\n".join("\n".join(block) for block in (lines, milestones, after) if block)


def _milestone_waits_for(s: ContractState, m: Milestone) -> str:
    """What one milestone waits for, from whom and until when; empty once it is settled."""
    if m.status.is_settled:
        return "auto-released" if m.auto_released and m.status is MilestoneStatus.RELEASED else ""
    if s.stage in (ContractStage.OFFERED, ContractStage.DECLINED, ContractStage.EXPIRED):
        return ""
    if m.chargeback_open and m.chargeback:
        return (
            f"chargeback open since {_at(m.chargeback.opened_at)}: waiting for the client's "
            "bank to decide (Stripe's webhook); the money stays put until then"
        )
    if s.stage is ContractStage.CANCELLED and m.status is not MilestoneStatus.APPROVED:
        return "being refunded to the client"
    if s.frozen:
        return "frozen by the dispute"
    match m.status:
        case MilestoneStatus.PENDING:
            failed = (
                f" (last charge failed: {m.last_payment_error})" if m.last_payment_error else ""
            )
            if not s.any_funded and s.funding_deadline_at:
                return (
                    f"waiting for the client to fund it until {_at(s.funding_deadline_at)}{failed}"
                )
            return f"waiting for the client to fund it, no deadline{failed}"
        case MilestoneStatus.FUNDING:
            return "charging the client's card now"
        case MilestoneStatus.FUNDED:
            return "in escrow; waiting for the worker to deliver, no deadline"
        case MilestoneStatus.CHANGES_REQUESTED:
            return "in escrow; waiting for the worker to deliver the changes, no deadline"
        case MilestoneStatus.SUBMITTED if m.auto_release_at:
            return (
                f"waiting for the client to approve or request changes until "
                f"{_at(m.auto_release_at)}; then it is released to the worker automatically"
            )
        case MilestoneStatus.APPROVED if s.waiting_for_payout_account_since:
            return "approved; the payout waits for the worker's payout account"
        case MilestoneStatus.APPROVED:
            return "approved; paying the worker now"
    return ""


def _at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"
