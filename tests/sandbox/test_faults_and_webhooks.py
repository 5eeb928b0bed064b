"""Auth, injected faults, and webhook delivery (signatures, retries, duplicates, resends)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from sandbox.testing import stripe_client

from .conftest import WebhookReceiver, eventually
from .helpers import headers, objects, pay


async def _deliveries(control: httpx.AsyncClient) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await control.get("/_sandbox/stripe/webhooks")).json()["data"]
    return data


async def test_a_wrong_key_is_refused_without_echoing_it(sandbox_url: str) -> None:
    client = stripe_client(sandbox_url, "sk_test_wrong_key_abcd")
    with pytest.raises(stripe.AuthenticationError) as caught:
        await client.v1.charges.list_async()
    assert caught.value.http_status == 401
    assert caught.value.user_message == "Invalid API Key provided: sk_test_**********abcd"
    assert caught.value.request_id is not None and caught.value.request_id.startswith("req_")


async def test_unknown_route_is_stripe_404(sandbox_url: str, control: httpx.AsyncClient) -> None:
    response = await control.get(
        "/stripe/v1/paymnt_intents",
        headers={"Authorization": "Bearer sk_test_tempwork_sandbox_0000"},
    )
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["message"].startswith(
        "Unrecognized request URL (GET: /v1/paymnt_intents)."
    )


async def test_rate_limit_fault_answers_429_with_retry_after(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> None:
    await control.post("/_sandbox/faults", json={"rate_limit_rate": 1.0, "seed": 1})
    with pytest.raises(stripe.RateLimitError) as caught:
        await pay(client)
    assert caught.value.http_status == 429
    assert caught.value.headers is not None and caught.value.headers["Retry-After"] == "1"
    await control.delete("/_sandbox/faults")
    assert await objects(control, "payment_intent") == []  # refused before running


async def test_error_rate_fault_runs_nothing_and_a_retry_succeeds(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> None:
    await control.post("/_sandbox/faults", json={"error_rate": 1.0})
    with pytest.raises(stripe.APIError) as caught:
        await pay(client, idempotency_key="k-500")
    assert caught.value.http_status == 500
    await control.delete("/_sandbox/faults")
    intent = await pay(client, idempotency_key="k-500")
    assert "Idempotent-Replayed" not in headers(intent)
    assert len(await objects(control, "payment_intent")) == 1


async def test_failed_deliveries_are_retried_until_accepted(
    client: stripe.StripeClient, control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    receiver.fail_first["payment_intent.succeeded"] = 2
    intent = await pay(client)

    [event] = await receiver.wait_for("payment_intent.succeeded")
    assert event.data.object.id == intent.id
    [delivery] = [d for d in await _deliveries(control) if d["event_id"] == event.id]
    assert delivery["status"] == "delivered"
    assert [a["http_status"] for a in delivery["attempts"]] == [500, 500, 200]
    assert (await client.v1.events.retrieve_async(event.id)).pending_webhooks == 0


async def test_duplicate_and_resent_webhooks_carry_the_same_event(
    client: stripe.StripeClient, control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    await control.post("/_sandbox/faults", json={"webhook_duplicate_rate": 1.0})
    intent = await pay(client)
    twice = await receiver.wait_for("payment_intent.succeeded", count=2)
    assert {e.id for e in twice} == {twice[0].id}

    await control.delete("/_sandbox/faults")
    response = await control.post(f"/_sandbox/stripe/webhooks/{twice[0].id}/resend")
    assert response.status_code == 200
    thrice = await receiver.wait_for("payment_intent.succeeded", count=3)
    assert {e.data.object.id for e in thrice} == {intent.id}
    assert receiver.rejected_signatures == 0


async def test_dropped_webhooks_never_arrive(
    client: stripe.StripeClient, control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    await control.post("/_sandbox/faults", json={"webhook_drop_rate": 1.0})
    await pay(client)

    async def all_dropped() -> bool:
        deliveries = await _deliveries(control)
        return bool(deliveries) and all(d["status"] == "dropped" for d in deliveries)

    await eventually(all_dropped, "every delivery dropped")
    assert receiver.events == []


async def test_shuffled_webhooks_all_arrive(
    client: stripe.StripeClient, control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    await control.post(
        "/_sandbox/faults", json={"webhook_shuffle": True, "webhook_delay_ms": 50, "seed": 7}
    )
    await pay(client)
    await receiver.wait_for("payment_intent.created")
    await receiver.wait_for("charge.succeeded")
    await receiver.wait_for("payment_intent.succeeded")
