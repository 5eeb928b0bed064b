"""Things a Tempwork flow does over and over, spelled once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import httpx
import stripe


async def pay(
    client: stripe.StripeClient,
    amount: int = 5000,
    payment_method: str = "pm_card_visa",
    *,
    idempotency_key: str | None = None,
    **params: Any,
) -> stripe.PaymentIntent:
    """Fund a milestone the way the app does: confirm at once, cards only."""
    options: Any = {"idempotency_key": idempotency_key} if idempotency_key else {}
    payload = {
        "amount": amount,
        "currency": "usd",
        "payment_method": payment_method,
        "allowed_payment_method_types": ["card"],
        "confirm": True,
        **params,
    }
    return await client.v1.payment_intents.create_async(params=cast(Any, payload), options=options)


async def express_account(client: stripe.StripeClient, **params: Any) -> stripe.Account:
    payload = {
        "type": "express",
        "country": "US",
        "email": "worker@example.com",
        "capabilities": {"transfers": {"requested": True}},
        **params,
    }
    return await client.v1.accounts.create_async(params=cast(Any, payload))


async def onboarded_account(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> stripe.Account:
    account = await express_account(client)
    response = await control.post(f"/_sandbox/stripe/accounts/{account.id}/complete_onboarding")
    response.raise_for_status()
    return account


async def objects(control: httpx.AsyncClient, kind: str) -> list[dict[str, Any]]:
    response = await control.get("/_sandbox/stripe/objects", params={"type": kind})
    response.raise_for_status()
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def headers(obj: stripe.StripeObject) -> Mapping[str, str]:
    """The HTTP headers of the response that produced `obj`."""
    assert obj.last_response is not None
    return obj.last_response.headers


def body(obj: stripe.StripeObject) -> str:
    assert obj.last_response is not None
    return obj.last_response.body
