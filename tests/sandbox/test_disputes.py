"""Chargebacks: `pm_card_createDispute`, evidence, and what each outcome does to the balance."""

from __future__ import annotations

import httpx
import pytest
import stripe

from .conftest import WebhookReceiver
from .helpers import pay


async def _usd_balance(client: stripe.StripeClient) -> int:
    balance = await client.v1.balance.retrieve_async()
    return sum(b.amount for b in balance.available if b.currency == "usd")


async def _disputed_payment(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> tuple[stripe.PaymentIntent, stripe.Event]:
    intent = await pay(client, 8000, "pm_card_createDispute", transfer_group="contract-3")
    assert intent.status == "succeeded"  # the chargeback comes later
    [created] = await receiver.wait_for(
        "charge.dispute.created", lambda e: e.data.object.charge == intent.latest_charge
    )
    return intent, created


async def test_create_dispute_card_sends_a_dispute_webhook(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    intent, created = await _disputed_payment(client, receiver)

    dispute = created.data.object
    assert dispute.id.startswith("du_")
    assert (dispute.status, dispute.reason, dispute.amount) == (
        "needs_response",
        "fraudulent",
        8000,
    )
    assert dispute.payment_intent == intent.id
    assert created.request is not None
    assert created.request.id is None  # Stripe opened it, not an API call
    charge = await client.v1.charges.retrieve_async(str(intent.latest_charge))
    assert charge.disputed is True
    assert await _usd_balance(client) == 0  # the disputed amount left the platform balance
    listed = await client.v1.disputes.list_async(params={"payment_intent": intent.id})
    assert [d.id for d in listed.data] == [dispute.id]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.refunds.create_async(params={"payment_intent": intent.id})
    assert caught.value.code == "charge_disputed"


@pytest.mark.parametrize(
    ("evidence", "outcome", "balance_after"),
    [("winning_evidence", "won", 8000), ("losing_evidence", "lost", 0)],
)
async def test_test_mode_evidence_decides_the_dispute(
    client: stripe.StripeClient,
    receiver: WebhookReceiver,
    evidence: str,
    outcome: str,
    balance_after: int,
) -> None:
    _, created = await _disputed_payment(client, receiver)
    dispute_id = created.data.object.id

    submitted = await client.v1.disputes.update_async(
        dispute_id, params={"evidence": {"uncategorized_text": evidence}}
    )
    assert submitted.status == "under_review"
    assert submitted.evidence_details.submission_count == 1
    await receiver.wait_for("charge.dispute.updated", lambda e: e.data.object.id == dispute_id)
    [closed] = await receiver.wait_for(
        "charge.dispute.closed", lambda e: e.data.object.id == dispute_id
    )
    assert closed.data.object.status == outcome
    assert (await client.v1.disputes.retrieve_async(dispute_id)).status == outcome
    assert await _usd_balance(client) == balance_after
    if outcome == "won":
        await receiver.wait_for("charge.dispute.funds_reinstated")


async def test_sandbox_can_decide_a_dispute_under_review(
    client: stripe.StripeClient, control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    _, created = await _disputed_payment(client, receiver)
    dispute_id = created.data.object.id
    await client.v1.disputes.update_async(
        dispute_id, params={"evidence": {"uncategorized_text": "Work was delivered on time."}}
    )
    response = await control.post(
        f"/_sandbox/stripe/disputes/{dispute_id}/close", json={"outcome": "lost"}
    )
    assert response.status_code == 200 and response.json()["status"] == "lost"
    await receiver.wait_for("charge.dispute.closed", lambda e: e.data.object.status == "lost")
