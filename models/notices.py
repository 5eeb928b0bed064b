"""Every message Tempwork sends a person, in one place: the in-app notice, the email and (for
what is worth a text) the SMS. Workflows call these functions and hand the result to their
notifier; nothing else writes user-facing text for notifications.

Pure and deterministic: imported inside the workflow sandbox. Dates are shown in UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from models.money import format_cents

BRAND = "Tempwork"


class Notice(BaseModel):
    kind: str  # stable: preferences, delivery records and tests refer to it
    subject: str
    body: str
    sms: str | None = None  # None: not worth a text message
    # Sent even to people who turned email notices off: codes and legal notices.
    essential: bool = False


class NoticeDelivery(BaseModel):
    """Activity input: send this notice to this person by one channel, once per dedupe_key."""

    user_id: UUID
    dedupe_key: str
    notice: Notice


DeliveryStatus = Literal[
    "sending", "sent", "delivered", "bounced", "dropped", "undelivered", "failed", "skipped"
]


class DeliveryOutcome(BaseModel):
    status: DeliveryStatus
    detail: str | None = None
    provider_message_id: str | None = None


class NoticeDelivered(BaseModel):
    email: DeliveryOutcome
    sms: DeliveryOutcome | None  # None: the notice has no text version


def _at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _text(message: str) -> str:
    return f"{BRAND}: {message}"


# --- jobs and contracts --------------------------------------------------------------------


def application_received(job_title: str, applications: int) -> Notice:
    return Notice(
        kind="application",
        subject=f"New application for “{job_title}”",
        body=f"Someone applied to “{job_title}” ({applications} application(s) so far). "
        "Review, shortlist or hire from your job page.",
    )


def offer_made(job_title: str, expires_at: datetime) -> Notice:
    return Notice(
        kind="offer",
        subject="You have a new contract offer",
        body=f"You were hired for “{job_title}”. Accept or decline by {_at(expires_at)}.",
        sms=_text(f"new contract offer for “{job_title}”. Answer by {_at(expires_at)}."),
    )


def offer_expired(job_title: str) -> Notice:
    return Notice(
        kind="offer-expired",
        subject="Your offer expired",
        body=f"The worker did not answer the offer for “{job_title}”.",
    )


def offer_accepted(funding_deadline: datetime) -> Notice:
    return Notice(
        kind="offer-accepted",
        subject="Your offer was accepted",
        body=f"Fund milestone 1 by {_at(funding_deadline)} to start.",
        sms=_text(f"your offer was accepted. Fund milestone 1 by {_at(funding_deadline)}."),
    )


def offer_declined(reason: str | None) -> Notice:
    return Notice(
        kind="offer-declined",
        subject="Your offer was declined",
        body=reason or "The worker declined the offer.",
    )


def cancelled_unfunded() -> Notice:
    return Notice(
        kind="cancelled-unfunded",
        subject="Contract cancelled",
        body="No milestone was funded in time, so the contract was cancelled.",
    )


def cancelled_by_support(job_title: str) -> Notice:
    # Support's reason stays internal (it may quote the other party): the people are told
    # what happened to the contract and the money.
    return Notice(
        kind="cancelled-by-support",
        subject="Contract cancelled by our support team",
        body=f"Our support team cancelled the contract for “{job_title}”. Money still in "
        "escrow for work not yet approved is refunded to the client's card; approved work is "
        "paid to the worker. Reply to this email if you have questions.",
    )


def milestone_funded(number: int, amount_cents: int, currency: str) -> Notice:
    amount = format_cents(amount_cents, currency)
    return Notice(
        kind="funded",
        subject=f"Milestone {number} funded",
        body=f"{amount} is in escrow: you can start.",
        sms=_text(f"milestone {number} is funded ({amount} in escrow). You can start."),
    )


def work_submitted(number: int, auto_release_at: datetime) -> Notice:
    return Notice(
        kind="submitted",
        subject=f"Work submitted for milestone {number}",
        body=f"Approve or request changes by {_at(auto_release_at)}, "
        "or it is released automatically.",
        sms=_text(
            f"work was submitted for milestone {number}. Review it by {_at(auto_release_at)}."
        ),
    )


def changes_requested(number: int, reason: str) -> Notice:
    return Notice(kind="changes", subject=f"Changes requested on milestone {number}", body=reason)


def approval_reminder(number: int, title: str, auto_release_at: datetime) -> Notice:
    return Notice(
        kind="approval-reminder",
        subject=f"Milestone {number} is waiting for your review",
        body=f"“{title}” will be released to the worker automatically on "
        f"{_at(auto_release_at)} unless you approve or request changes.",
        sms=_text(f"milestone {number} is released automatically on {_at(auto_release_at)}."),
    )


def release_done(number: int, payout_cents: int, currency: str) -> Notice:
    amount = format_cents(payout_cents, currency)
    return Notice(
        kind="released",
        subject=f"Milestone {number} paid",
        body=f"{amount} is on its way to your payout account.",
        sms=_text(f"milestone {number} paid: {amount} is on its way to you."),
    )


def refund_sent(number: int, amount_cents: int, currency: str) -> Notice:
    return Notice(
        kind="refund",
        subject=f"Refund for milestone {number}",
        body=f"{format_cents(amount_cents, currency)} is on its way back to your card.",
    )


def payout_account_needed() -> Notice:
    return Notice(
        kind="payout-account-needed",
        subject="Set up your payout account to get paid",
        body="A payment is waiting for you: connect a payout account to receive it.",
        sms=_text("a payment is waiting for you. Connect a payout account to receive it."),
    )


def dispute_opened() -> Notice:
    return Notice(
        kind="dispute-opened",
        subject="A dispute was opened",
        body="Money and deadlines are frozen until support resolves it.",
        sms=_text("a dispute was opened on your contract. Money and deadlines are frozen."),
    )


def dispute_resolved(release_cents: int, refund_cents: int, currency: str) -> Notice:
    released, refunded = format_cents(release_cents, currency), format_cents(refund_cents, currency)
    return Notice(
        kind="dispute-resolved",
        subject="The dispute was resolved",
        body=f"Support resolved the dispute: {released} goes to the worker (before the "
        f"platform fee) and {refunded} back to the client.",
        sms=_text(f"the dispute was resolved: {released} to the worker, {refunded} refunded."),
    )


def review_invite(reviews_close_at: datetime) -> Notice:
    return Notice(
        kind="review-invite",
        subject="Contract completed — leave a review",
        body=f"Reviews are blind until both are in, or until {_at(reviews_close_at)}.",
    )


# What each deadline support can extend means to the people told about it.
_DEADLINES = {
    "offer": "You now have until {at} to answer the contract offer for “{title}”.",
    "funding": "You now have until {at} to fund a milestone of “{title}”.",
    "auto_release": "Milestone {milestone} of “{title}” is now released automatically at {at} "
    "unless the client approves or requests changes before.",
    "review_window": "Reviews of “{title}” are now open until {at}.",
}


def deadline_extended(
    which: str, job_title: str, until: datetime, milestone: int | None = None
) -> Notice:
    return Notice(
        kind="deadline-extended",
        subject="A deadline was extended by our support team",
        body=_DEADLINES[which].format(at=_at(until), title=job_title, milestone=milestone),
    )


# --- verification --------------------------------------------------------------------------


def identity_reminder(deadline: datetime) -> Notice:
    return Notice(
        kind="identity-reminder",
        subject="Finish verifying your identity",
        body=f"Your identity check is waiting for your document. It closes on {_at(deadline)}; "
        "ask for a fresh link with POST /v1/verifications/identity.",
        sms=_text(f"finish your identity check before {_at(deadline)}."),
    )


def identity_needs_input(reason: str) -> Notice:
    return Notice(
        kind="identity-requires-input",
        subject="Your identity document could not be verified",
        body=f"{reason} Please try again with a fresh link (POST /v1/verifications/identity).",
    )


def identity_verified() -> Notice:
    return Notice(
        kind="identity-verified",
        subject="Your identity is verified",
        body="Thank you: your identity document was verified.",
    )


def identity_gave_up() -> Notice:
    return Notice(
        kind="identity-gave-up",
        subject="Your identity check was closed",
        body="It was not finished in time. You can start again at any moment.",
    )


def background_invitation(url: str) -> Notice:
    return Notice(
        kind="background-invitation",
        subject="Your background check",
        body=f"Fill in the background-check form with our provider: {url}",
    )


def background_in_review() -> Notice:
    return Notice(
        kind="background-review",
        subject="Your background check is being reviewed",
        body="Your report needs a review by our support team. We will write to you.",
    )


def background_passed() -> Notice:
    return Notice(
        kind="background-passed",
        subject="Your background check passed",
        body="You can now apply to on-site jobs.",
        sms=_text("your background check passed. You can now apply to on-site jobs."),
    )


def adverse_action(reason: str) -> Notice:
    """The adverse-action notice a rejected background check requires (FCRA in the US):
    the decision, why, and the person's right to a copy of the report and to dispute it."""
    return Notice(
        kind="adverse-action",
        subject="Notice of adverse action: background check",
        body=f"After reviewing your background report we cannot approve you for on-site work. "
        f"Reason: {reason}. You have the right to a free copy of your report from our "
        "background-check provider within 60 days and to dispute the accuracy or "
        "completeness of anything in it directly with the provider.",
        essential=True,
    )
