"""Idempotency keys: the guarantee that a retried money call never moves money twice."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import stripe

from sandbox.testing import stripe_client

from .helpers import body, headers, objects, onboarded_account, pay


async def test_same_key_replays_the_first_response(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> None:
    first = await pay(client, 5000, idempotency_key="contract-1:m1:fund")
    again = await pay(client, 5000, idempotency_key="contract-1:m1:fund")

    assert again.id == first.id
    assert body(again) == body(first)  # byte for byte
    assert headers(again)["Idempotent-Replayed"] == "true"
    assert headers(again)["Original-Request"] == headers(first)["Request-Id"]
    assert "Idempotent-Replayed" not in headers(first)
    assert len(await objects(control, "payment_intent")) == 1
    assert len(await objects(control, "charge")) == 1

    produced = (
        await control.get("/_sandbox/stripe/idempotency", params={"key": "contract-1:m1:fund"})
    ).json()
    [record] = produced["data"]
    assert record["path"] == "/v1/payment_intents" and record["status"] == 200
    kinds = sorted(o["object"] for o in record["objects"])
    assert kinds == ["balance_transaction", "charge", "payment_intent", "payment_method"]


async def test_same_key_with_other_parameters_is_an_idempotency_error(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> None:
    await pay(client, 5000, idempotency_key="k-amount")
    with pytest.raises(stripe.IdempotencyError) as caught:
        await pay(client, 6000, idempotency_key="k-amount")
    assert caught.value.http_status == 400
    assert "Try using a key other than 'k-amount'" in str(caught.value.user_message)
    # Reusing the key on another endpoint is just as wrong.
    with pytest.raises(stripe.IdempotencyError):
        await client.v1.refunds.create_async(
            params={"charge": "ch_whatever"}, options={"idempotency_key": "k-amount"}
        )
    assert len(await objects(control, "payment_intent")) == 1


async def test_a_decline_is_stored_and_replayed(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> None:
    errors = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as caught:
            await pay(client, 5000, "pm_card_chargeDeclined", idempotency_key="k-decline")
        errors.append(caught.value)
    assert errors[0].http_body == errors[1].http_body
    assert errors[1].headers is not None and errors[1].headers["Idempotent-Replayed"] == "true"
    assert len(await objects(control, "charge")) == 1


async def test_a_request_refused_by_validation_is_not_stored(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> None:
    with pytest.raises(stripe.InvalidRequestError):
        await pay(client, 5000, "pm_nope", idempotency_key="k-fixed")
    # Nothing was stored, so the corrected request may use the same key.
    intent = await pay(client, 5000, idempotency_key="k-fixed")
    assert intent.status == "succeeded"
    assert (await control.get("/_sandbox/stripe/idempotency", params={"key": "k-fixed"})).json()[
        "data"
    ][0]["status"] == 200


async def test_a_key_still_executing_answers_409(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> None:
    await control.post("/_sandbox/faults", json={"latency_ms": 300})
    results = await asyncio.gather(
        pay(client, 5000, idempotency_key="k-race"),
        pay(client, 5000, idempotency_key="k-race"),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, stripe.PaymentIntent)]
    losers = [r for r in results if isinstance(r, stripe.StripeError)]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].http_status == 409
    # The SDK maps 409 to a plain APIError; the code is in the error body.
    assert losers[0].error is not None and losers[0].error.code == "idempotency_key_in_use"
    assert len(await objects(control, "payment_intent")) == 1


async def test_a_response_lost_after_commit_is_recovered_by_retrying_the_key(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> None:
    intent = await pay(client, 10_000)
    worker = await onboarded_account(client, control)
    await control.post(
        "/_sandbox/faults",
        json={"drop_response_after_commit": {"path_prefix": "/v1/transfers", "times": 1}},
    )
    params: Any = {
        "amount": 8000,
        "currency": "usd",
        "destination": worker.id,
        "source_transaction": intent.latest_charge,
    }
    key = "contract-1:m1:release"
    with pytest.raises(stripe.APIError) as caught:
        await client.v1.transfers.create_async(params=params, options={"idempotency_key": key})
    assert caught.value.http_status == 500

    transfer = await client.v1.transfers.create_async(
        params=params, options={"idempotency_key": key}
    )
    assert headers(transfer)["Idempotent-Replayed"] == "true"
    assert [t["id"] for t in await objects(control, "transfer")] == [transfer.id]


async def test_a_client_that_gives_up_mid_call_recovers_the_result_by_key(
    client: stripe.StripeClient, control: httpx.AsyncClient, sandbox_url: str
) -> None:
    intent = await pay(client, 5000)
    await control.post(
        "/_sandbox/faults",
        json={"hang_after_commit_ms": {"path_prefix": "/v1/refunds", "ms": 500, "times": 1}},
    )
    impatient = stripe_client(sandbox_url, http_client=stripe.HTTPXClient(timeout=0.1))
    params: Any = {"payment_intent": intent.id, "amount": 1000}
    with pytest.raises(stripe.APIConnectionError):
        await impatient.v1.refunds.create_async(params=params, options={"idempotency_key": "k-h"})

    refund = await client.v1.refunds.create_async(params=params, options={"idempotency_key": "k-h"})
    assert headers(refund)["Idempotent-Replayed"] == "true"
    assert [r["id"] for r in await objects(control, "refund")] == [refund.id]
