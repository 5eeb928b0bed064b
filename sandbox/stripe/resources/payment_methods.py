"""PaymentMethods. Stripe's test ids (`pm_card_visa`, ...) are not objects: using one makes a
fresh `pm_...` PaymentMethod for that test card, which is what the PaymentIntent then shows."""

from __future__ import annotations

import datetime as dt

from ...store import JSON
from ..cards import TEST_CARDS, CardBehaviour
from ..context import Ctx
from ..errors import resource_missing
from ..ids import new_id
from ..routing import RouteTable
from .common import retrieve

routes = RouteTable()


def check_exists(ctx: Ctx, payment_method: str, *, param: str = "payment_method") -> None:
    if payment_method not in TEST_CARDS and ctx.get("payment_method", payment_method) is None:
        raise resource_missing("PaymentMethod", payment_method, param=param, status=400)


def materialize(ctx: Ctx, payment_method: str) -> JSON:
    """The PaymentMethod object behind an id (creating one for a test-card id)."""
    existing = ctx.get("payment_method", payment_method)
    if existing is not None:
        return existing
    card = TEST_CARDS[payment_method]
    expiry_year = dt.datetime.now(dt.UTC).year + 3
    return ctx.create(
        {
            "id": new_id("pm"),
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {
                "address": {
                    "city": None,
                    "country": None,
                    "line1": None,
                    "line2": None,
                    "postal_code": None,
                    "state": None,
                },
                "email": None,
                "name": None,
                "phone": None,
            },
            "card": {
                "brand": card.brand,
                "checks": {
                    "address_line1_check": None,
                    "address_postal_code_check": None,
                    "cvc_check": "unchecked",
                },
                "country": card.country,
                "display_brand": card.brand,
                "exp_month": 12,
                "exp_year": expiry_year,
                "fingerprint": new_id("fp", 14)[3:],
                "funding": card.funding,
                "last4": card.last4,
                "networks": {"available": [card.brand], "preferred": None},
                "three_d_secure_usage": {"supported": True},
                "wallet": None,
            },
            "created": ctx.now(),
            "customer": None,
            "livemode": False,
            "metadata": {},
            "type": "card",
            "_test_card": payment_method,
        }
    )


def card_behaviour(payment_method: JSON) -> CardBehaviour:
    return TEST_CARDS[payment_method["_test_card"]]


@routes.get("/v1/payment_methods/{id}")
def get_payment_method(ctx: Ctx) -> JSON:
    return retrieve(ctx, "payment_method")
