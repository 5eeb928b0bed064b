"""Funding milestones: PaymentIntents with Stripe's test cards, and the charges they make."""

from __future__ import annotations

import httpx
import pytest
import stripe

from sandbox.testing import stripe_client

from .conftest import WebhookReceiver
from .helpers import objects, pay


async def test_visa_payment_succeeds_with_a_retrievable_charge(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    intent = await pay(client, 12_500, transfer_group="contract-7", metadata={"milestone": "2"})

    assert intent.id.startswith("pi_")
    assert intent.status == "succeeded"
    assert intent.amount_received == 12_500
    assert isinstance(intent.payment_method, str) and intent.payment_method.startswith("pm_")
    assert isinstance(intent.latest_charge, str) and intent.latest_charge.startswith("ch_")
    charge = await client.v1.charges.retrieve_async(intent.latest_charge)
    assert (charge.status, charge.paid, charge.captured) == ("succeeded", True, True)
    assert (charge.amount, charge.amount_refunded, charge.refunded) == (12_500, 0, False)
    assert charge.payment_intent == intent.id
    assert charge.transfer_group == "contract-7"
    assert charge.metadata.to_dict() == {"milestone": "2"}  # copied from the PaymentIntent
    assert isinstance(charge.balance_transaction, str)
    assert charge.balance_transaction.startswith("txn_")
    assert charge.disputed is False and charge.livemode is False

    in_group = await client.v1.charges.list_async(params={"transfer_group": "contract-7"})
    assert [c.id for c in in_group.data] == [charge.id]
    await receiver.wait_for("payment_intent.succeeded", lambda e: e.data.object.id == intent.id)
    await receiver.wait_for("charge.succeeded", lambda e: e.data.object.id == charge.id)


async def test_expand_latest_charge(client: stripe.StripeClient) -> None:
    intent = await pay(client, expand=["latest_charge"])
    assert isinstance(intent.latest_charge, stripe.Charge)
    assert intent.latest_charge.amount == intent.amount


async def test_declined_card_raises_card_error_and_leaves_intent_waiting(
    client: stripe.StripeClient, control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    with pytest.raises(stripe.CardError) as caught:
        await pay(client, 5000, "pm_card_chargeDeclined")

    error = caught.value
    assert error.http_status == 402
    assert error.code == "card_declined"
    assert error.error is not None and error.error.decline_code == "generic_decline"
    assert error.user_message == "Your card was declined."
    intent_data = error.error.payment_intent
    assert intent_data is not None
    intent = await client.v1.payment_intents.retrieve_async(intent_data.id)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error is not None
    assert intent.last_payment_error.code == "card_declined"
    failed = await client.v1.charges.retrieve_async(str(error.error.charge))
    assert (failed.status, failed.paid, failed.failure_code) == ("failed", False, "card_declined")
    assert failed.balance_transaction is None
    assert [t["amount"] for t in await objects(control, "balance_transaction")] == []
    await receiver.wait_for("payment_intent.payment_failed")


async def test_insufficient_funds_decline_code(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.CardError) as caught:
        await pay(client, 5000, "pm_card_chargeDeclinedInsufficientFunds")
    assert caught.value.error is not None
    assert caught.value.error.decline_code == "insufficient_funds"


async def test_unknown_payment_method_is_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await pay(client, 5000, "pm_x")
    assert caught.value.http_status == 400
    assert caught.value.code == "resource_missing"
    assert caught.value.param == "payment_method"
    assert caught.value.user_message == "No such PaymentMethod: 'pm_x'"


@pytest.mark.parametrize(
    ("params", "code", "param", "message"),
    [
        ({"currency": "usd"}, "parameter_missing", "amount", "Missing required param: amount."),
        ({"amount": "12.5", "currency": "usd"}, "parameter_invalid_integer", "amount", None),
        ({"amount": -100, "currency": "usd"}, None, "amount", None),
        ({"amount": 20, "currency": "usd"}, "amount_too_small", "amount", None),
        ({"amount": 500, "currency": "usd", "colour": "red"}, "parameter_unknown", "colour", None),
    ],
)
async def test_invalid_parameters_are_refused(
    client: stripe.StripeClient,
    params: dict[str, object],
    code: str | None,
    param: str,
    message: str | None,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.payment_intents.create_async(params=params)  # type: ignore[arg-type]
    assert caught.value.http_status == 400
    assert caught.value.code == code
    assert caught.value.param == param
    if message is not None:
        assert caught.value.user_message == message


async def test_confirming_with_automatic_methods_needs_a_return_url(
    client: stripe.StripeClient,
) -> None:
    # Stripe's rule when redirect-based methods are possible: no confirm without return_url.
    with pytest.raises(stripe.InvalidRequestError, match="return_url"):
        await client.v1.payment_intents.create_async(
            params={
                "amount": 5000,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
            }
        )
    intent = await client.v1.payment_intents.create_async(
        params={
            "amount": 5000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        }
    )
    assert intent.status == "succeeded"


async def test_create_then_confirm(client: stripe.StripeClient) -> None:
    intent = await client.v1.payment_intents.create_async(
        params={"amount": 5000, "currency": "usd", "allowed_payment_method_types": ["card"]}
    )
    assert intent.status == "requires_payment_method"
    intent = await client.v1.payment_intents.confirm_async(
        intent.id, params={"payment_method": "pm_card_mastercard"}
    )
    assert intent.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.payment_intents.confirm_async(intent.id)
    assert caught.value.code == "payment_intent_unexpected_state"


async def test_unknown_payment_intent_is_404(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.payment_intents.retrieve_async("pi_missing")
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"


async def test_payment_method_types_is_refused_on_this_api_version(
    client: stripe.StripeClient, sandbox_url: str
) -> None:
    # Since 2026-09-30.endive the parameter is read-only; the SDK pins 2026-10-28.endive.
    params = {"amount": 5000, "currency": "usd", "payment_method_types": ["card"]}
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.payment_intents.create_async(params=params)  # type: ignore[arg-type]
    assert caught.value.code == "payment_method_types_no_longer_supported"
    assert caught.value.param == "payment_method_types"

    # A caller pinned to an older version still gets the old behaviour.
    older = stripe_client(sandbox_url, stripe_version="2026-08-27.dahlia")
    intent = await older.v1.payment_intents.create_async(params=params)  # type: ignore[arg-type]
    assert intent.payment_method_types == ["card"]
    assert intent.automatic_payment_methods is None
