"""What support reads as *Current details* in the Temporal UI: for every open item, what the
workflow waits for, from whom, and until when (or, plainly, that nothing bounds the wait).

The describe functions are pure, so each stage is built as a state and read like support would.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from models.common import Actor, Role
from models.contracts import (
    Chargeback,
    ContractInput,
    ContractStage,
    ContractState,
    Dispute,
    MilestoneSpec,
    MilestoneStatus,
    Review,
)
from models.jobs import Application, ApplicationStatus, CloseReason, JobPostingState, JobStatus
from models.payouts import PayoutAccountState, PayoutAccountStatus
from models.verification import StepStatus, VerificationPolicy, VerificationState
from tests.workflows.conftest import POLICY
from workflows import contract_rules, verification_rules
from workflows.job_posting import describe as describe_job
from workflows.payout_account import describe as describe_payout_account

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def contract(*amounts: int) -> ContractState:
    return ContractInput(
        contract_id=uuid.uuid4(),
        job_id=uuid.uuid4(),
        application_id=uuid.uuid4(),
        client_id=uuid.uuid4(),
        worker_id=uuid.uuid4(),
        job_title="Paint the fence",
        currency="usd",
        milestones=[
            MilestoneSpec(title=f"part {i}", amount_cents=a) for i, a in enumerate(amounts)
        ],
        policy=POLICY,
        offered_at=NOW,
    ).initial_state()


def accepted(s: ContractState) -> ContractState:
    s.stage, s.accepted_at = ContractStage.ACTIVE, NOW
    s.funding_deadline_at = NOW + POLICY.funding_deadline
    return s


def funded(s: ContractState, number: int) -> None:
    m = s.milestones[number - 1]
    m.status, m.funded_at, m.charge_id = MilestoneStatus.FUNDED, NOW, f"ch_{number}"
    m.payment_intent_id = f"pi_{number}"


# --- Contract --------------------------------------------------------------------------------


def test_an_offer_waits_for_the_worker_until_it_expires() -> None:
    details = contract_rules.describe(contract(50_00))
    assert details.startswith("**Offered** — “Paint the fence”, 1 milestone(s), 50.00 USD.")
    assert "Waiting for the worker to accept or decline the offer until 2026-03-05 09:30 UTC" in (
        details
    )
    assert "then it expires" in details
    # The UI's Markdown makes a list of the milestones only after a blank line.
    assert "then it expires.\n\n- M1 part 0: **pending** (50.00 USD)" in details


def test_an_accepted_contract_waits_for_the_client_to_fund_until_the_deadline() -> None:
    details = contract_rules.describe(accepted(contract(50_00, 70_00)))
    assert "Waiting for the client to fund a milestone until 2026-03-09 09:30 UTC" in details
    assert "then the contract is cancelled (no money moved)" in details
    assert (
        "- M1 part 0: **pending** (50.00 USD) — waiting for the client to fund it until" in details
    )


def test_each_milestone_says_who_acts_next_and_until_when() -> None:
    s = accepted(contract(10_00, 20_00, 30_00, 40_00))
    funded(s, 1)
    funded(s, 2)
    funded(s, 3)
    s.milestones[1].status = MilestoneStatus.SUBMITTED
    s.milestones[1].auto_release_at = NOW + POLICY.auto_release_after
    s.milestones[2].status = MilestoneStatus.CHANGES_REQUESTED
    details = contract_rules.describe(s)
    lines = [line for line in details.splitlines() if line.startswith("- M")]
    assert (
        "M1 part 0: **funded** (10.00 USD) — in escrow; waiting for the worker to deliver"
        in (lines[0])
    )
    assert lines[1].endswith(
        "waiting for the client to approve or request changes until 2026-03-16 09:30 UTC; "
        "then it is released to the worker automatically"
    )
    assert "waiting for the worker to deliver the changes, no deadline" in lines[2]
    # Once one milestone is funded the funding deadline no longer applies to the others.
    assert lines[3].endswith("waiting for the client to fund it, no deadline")
    assert "Waiting for the client to fund a milestone until" not in details


def test_a_failed_charge_is_shown_beside_the_milestone_waiting_for_funding() -> None:
    s = accepted(contract(10_00))
    s.milestones[0].last_payment_error = "Your card was declined."
    assert "(last charge failed: Your card was declined.)" in contract_rules.describe(s)


def test_a_dispute_waits_for_support_with_no_deadline_and_freezes_the_milestones() -> None:
    s = accepted(contract(10_00))
    funded(s, 1)
    s.stage = ContractStage.DISPUTED
    s.dispute = Dispute(
        opened_by=Actor(user_id=s.client_id, role=Role.CLIENT),
        reason="the fence is green",
        opened_at=NOW,
        escrow_cents=10_00,
    )
    s.needs_support, s.support_reason = True, "dispute opened by the client: the fence is green"
    details = contract_rules.describe(s)
    assert "**Needs support**: dispute opened by the client" in details
    assert "Dispute opened by the client on 2026-03-02 09:30 UTC: the fence is green." in details
    assert "Waiting for support to resolve it (`resolve_dispute`), no deadline" in details
    assert "M1 part 0: **funded** (10.00 USD) — frozen by the dispute" in details


def test_a_chargeback_waits_for_the_bank() -> None:
    s = accepted(contract(10_00))
    funded(s, 1)
    s.milestones[0].chargeback = Chargeback(dispute_id="du_1", amount_cents=10_00, opened_at=NOW)
    details = contract_rules.describe(s)
    assert "chargeback open since 2026-03-02 09:30 UTC: waiting for the client's bank" in details


def test_a_release_waiting_for_the_payout_account_says_when_support_is_asked() -> None:
    s = accepted(contract(10_00))
    funded(s, 1)
    s.milestones[0].status = MilestoneStatus.APPROVED
    s.waiting_for_payout_account_since = NOW
    details = contract_rules.describe(s)
    assert "approved; the payout waits for the worker's payout account" in details
    assert "Waiting for the worker to set up a payout account (since 2026-03-02 09:30 UTC)" in (
        details
    )
    assert "support is asked on 2026-05-31 09:30 UTC" in details  # 90 days later


def test_blind_reviews_name_who_has_not_reviewed_yet_and_when_the_window_closes() -> None:
    s = accepted(contract(10_00))
    s.milestones[0].status = MilestoneStatus.RELEASED
    s.stage, s.completed_at = ContractStage.COMPLETED, NOW
    s.reviews_close_at = NOW + POLICY.review_window
    s.reviews["client"] = Review(
        author_id=s.client_id, author_role=Role.CLIENT, rating=5, comment="ok", submitted_at=NOW
    )
    details = contract_rules.describe(s)
    assert "Blind reviews: 1/2 in. Waiting for the worker to review until 2026-03-09 09:30 UTC" in (
        details
    )
    s.reviews_revealed = True
    assert "Reviews revealed; nothing left to wait for." in contract_rules.describe(s)


def test_a_cancelled_contract_says_why_and_what_is_being_refunded() -> None:
    s = accepted(contract(10_00, 20_00))
    funded(s, 1)
    s.milestones[1].status = MilestoneStatus.CANCELLED
    s.stage, s.end_reason = ContractStage.CANCELLED, "cancelled by the client"
    details = contract_rules.describe(s)
    assert "M1 part 0: **funded** (10.00 USD) — being refunded to the client" in details
    assert details.endswith("Ended: cancelled by the client.")


# --- Verification ------------------------------------------------------------------------------


def verification(role: Role = Role.WORKER) -> VerificationState:
    return VerificationState(
        user_id=uuid.uuid4(),
        role=role,
        email_address="wanda@example.com",
        display_name="Wanda",
        policy=VerificationPolicy(),
    )


def test_a_sent_code_waits_for_the_person_until_it_expires_and_hides_the_address() -> None:
    s = verification()
    s.email.status, s.email.destination = StepStatus.CODE_SENT, "wanda@example.com"
    s.email.code_expires_at, s.email.wrong_attempts = NOW + timedelta(minutes=10), 2
    details = verification_rules.describe(s, NOW)
    assert details.startswith("**Verification of worker Wanda**")
    assert (
        "- **email** — code sent to w***@example.com; waiting for the person to type it until "
        "2026-03-02 09:40 UTC (3 tries left), then it expires"
    ) in details
    assert "wanda@example.com" not in details


def test_a_locked_code_says_when_a_new_one_can_be_asked_for() -> None:
    s = verification()
    s.phone.status, s.phone.wrong_attempts = StepStatus.LOCKED, 5
    s.phone.sends = [NOW - timedelta(seconds=10)]
    details = verification_rules.describe(s, NOW)
    assert "- **phone** — locked after 5 wrong codes; waiting for the person to ask" in details
    assert "(possible from 2026-03-02 09:30 UTC)" in details


def test_identity_waits_for_the_document_then_for_stripe() -> None:
    s = verification()
    s.identity.status, s.identity.attempt = StepStatus.WAITING_FOR_USER, 1
    s.identity.deadline_at, s.identity.reminders_sent = NOW + timedelta(days=7), 1
    details = verification_rules.describe(s, NOW)
    assert (
        "attempt 1: waiting for the person to submit a document at Stripe Identity until "
        "2026-03-09 09:30 UTC (1 reminder(s) sent), then the session is closed"
    ) in details
    s.identity.status = StepStatus.PROCESSING
    assert "waiting for Stripe Identity's result (webhook)" in verification_rules.describe(s, NOW)


def test_a_consider_report_waits_for_support_to_adjudicate() -> None:
    s = verification()
    s.background.status, s.background.attempt = StepStatus.NEEDS_REVIEW, 1
    s.background.report_id = "rep_1"
    s.needs_support, s.support_reason = True, "background report rep_1 says “consider”"
    details = verification_rules.describe(s, NOW)
    assert "**Needs support**: background report rep_1" in details
    assert "waiting for support to `adjudicate` it (approve or reject with a reason)" in details


def test_a_running_background_report_says_when_support_is_asked() -> None:
    s = verification()
    s.background.status, s.background.attempt = StepStatus.PROCESSING, 1
    s.background.submitted_at = NOW
    details = verification_rules.describe(s, NOW)
    assert "support is asked if it is not back by 2026-03-16 09:30 UTC" in details


def test_clients_have_no_background_line() -> None:
    assert "background" not in verification_rules.describe(verification(Role.CLIENT), NOW)


# --- JobPosting and PayoutAccount --------------------------------------------------------------


def job() -> JobPostingState:
    return JobPostingState(
        job_id=uuid.uuid4(),
        client_id=uuid.uuid4(),
        title="Paint the fence",
        description="white",
        skills=[],
        budget_cents=100_00,
        currency="usd",
        positions=2,
        min_verification_level=0,
        created_at=NOW,
        expires_at=NOW + timedelta(days=30),
    )


def test_an_open_job_waits_for_the_client_until_it_expires() -> None:
    s = job()
    for status in (ApplicationStatus.APPLIED, ApplicationStatus.DECLINED):
        a = Application(
            application_id=uuid.uuid4(),
            job_id=s.job_id,
            worker_id=uuid.uuid4(),
            cover_letter="me",
            status=status,
            applied_at=NOW,
            updated_at=NOW,
        )
        s.applications[str(a.application_id)] = a
    details = describe_job(s, NOW + timedelta(days=2))
    assert details.startswith("**Open** — 2 application(s), 0/2 hired.")
    assert "for the client to decide (1 application(s) undecided) and hire" in details
    assert "until 2026-04-01 09:30 UTC (in 28 d); then the job closes" in details


def test_a_closed_job_waits_for_nothing() -> None:
    s = job()
    s.status, s.close_reason, s.closed_at = JobStatus.CLOSED, CloseReason.BY_CLIENT, NOW
    details = describe_job(s, NOW)
    assert details.startswith(f"**Closed** ({CloseReason.BY_CLIENT}) on 2026-03-02 09:30 UTC")
    assert "Nothing left to wait for" in details


def test_a_payout_account_says_who_it_waits_for_at_every_status() -> None:
    s = PayoutAccountState(user_id=uuid.uuid4(), email="w@example.com", country="US")
    assert describe_payout_account(s).startswith("**Creating** — opening the worker's Stripe")
    s.status, s.stripe_account_id = PayoutAccountStatus.ONBOARDING, "acct_1"
    assert "Waiting for the worker to finish Stripe's onboarding, no deadline" in (
        describe_payout_account(s)
    )
    s.status = PayoutAccountStatus.RESTRICTED
    assert "Waiting for the worker to fix their details in Stripe, no deadline" in (
        describe_payout_account(s)
    )
    s.status = PayoutAccountStatus.READY
    assert "Nothing to wait for" in describe_payout_account(s)
