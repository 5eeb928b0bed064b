"""The platform balance and its balance transactions.

The sandbox charges no processing fees and makes funds available at once (real Stripe keeps
card funds pending for days), so `net == amount` and everything is in `available`.
"""

from __future__ import annotations

from collections import defaultdict

from ...store import JSON
from ..context import Ctx
from ..ids import new_id
from ..listing import equals, list_response
from ..routing import RouteTable
from .common import retrieve

routes = RouteTable()


def record(
    ctx: Ctx,
    *,
    amount: int,
    currency: str,
    type_: str,
    source: str,
    reporting_category: str,
    description: str | None = None,
) -> JSON:
    now = ctx.now()
    return ctx.create(
        {
            "id": new_id("txn"),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": now,
            "balance_type": "payments",
            "created": now,
            "currency": currency,
            "description": description,
            "exchange_rate": None,
            "fee": 0,
            "fee_details": [],
            "net": amount,
            "reporting_category": reporting_category,
            "source": source,
            "status": "available",
            "type": type_,
        }
    )


def available(ctx: Ctx, currency: str) -> int:
    return sum(
        txn["net"] for txn in ctx.store.all("balance_transaction") if txn["currency"] == currency
    )


@routes.get("/v1/balance")
def get_balance(ctx: Ctx) -> JSON:
    ctx.params.only()
    totals: dict[str, int] = defaultdict(int)
    for txn in ctx.store.all("balance_transaction"):
        totals[txn["currency"]] += txn["net"]
    currencies = sorted(totals) or ["usd"]
    return {
        "object": "balance",
        "available": [
            {"amount": totals[c], "currency": c, "source_types": {"card": totals[c]}}
            for c in currencies
        ],
        "connect_reserved": [{"amount": 0, "currency": c} for c in currencies],
        "livemode": False,
        "pending": [{"amount": 0, "currency": c, "source_types": {"card": 0}} for c in currencies],
    }


@routes.get("/v1/balance_transactions/{id}")
def get_balance_transaction(ctx: Ctx) -> JSON:
    return retrieve(ctx, "balance_transaction")


@routes.get("/v1/balance_transactions")
def list_balance_transactions(ctx: Ctx) -> JSON:
    return list_response(
        ctx,
        "/v1/balance_transactions",
        "balance_transaction",
        filters={
            "type": equals("type"),
            "source": equals("source"),
            "currency": equals("currency"),
        },
    )
