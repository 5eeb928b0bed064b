"""Transfers from the platform to connected accounts (separate charges and transfers)."""

from __future__ import annotations

from ...store import JSON
from ..context import Ctx
from ..errors import invalid_request, resource_missing
from ..events import emit
from ..ids import new_id
from ..listing import equals, list_response
from ..money import format_amount
from ..params import merge_metadata
from ..routing import RouteTable
from . import balance
from .charges import refundable_amount
from .common import respond, retrieve

routes = RouteTable()

# Stripe's wording when the destination has not finished onboarding (code
# insufficient_capabilities_for_transfer, HTTP 400).
_NO_TRANSFERS_CAPABILITY = (
    "Your destination account needs to have at least one of the following capabilities "
    "enabled: transfers, crypto_transfers, legacy_payments"
)


@routes.post("/v1/transfers")
def create_transfer(ctx: Ctx) -> JSON:
    p = ctx.params
    p.only(
        "amount",
        "currency",
        "destination",
        "source_transaction",
        "transfer_group",
        "metadata",
        "description",
        not_simulated=("source_type",),
    )
    amount = p.required_amount()
    currency = p.currency()
    assert currency is not None
    destination_id = p.required_string("destination")
    metadata = merge_metadata({}, p.metadata())
    destination = ctx.get("account", destination_id)
    if destination is None:
        raise resource_missing("destination", destination_id, param="destination", status=400)
    if destination["capabilities"].get("transfers") != "active":
        raise invalid_request(
            _NO_TRANSFERS_CAPABILITY,
            param="destination",
            code="insufficient_capabilities_for_transfer",
        )
    transfer_group = p.string("transfer_group")
    source_id = p.string("source_transaction")
    if source_id is not None:
        charge = _source_charge(ctx, source_id, amount, currency)
        # A transfer tied to a charge joins the charge's transfer group unless told otherwise.
        transfer_group = transfer_group or charge["transfer_group"]
    elif amount > balance.available(ctx, currency):
        raise invalid_request(
            "Insufficient funds in Stripe account. You can use the /v1/balance endpoint to view "
            "your Stripe balance (for more details, see stripe.com/docs/api#balance).",
            code="balance_insufficient",
        )

    transfer_id = new_id("tr")
    txn = balance.record(
        ctx,
        amount=-amount,
        currency=currency,
        type_="transfer",
        source=transfer_id,
        reporting_category="transfer",
    )
    transfer = ctx.create(
        {
            "id": transfer_id,
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "balance_transaction": txn["id"],
            "created": ctx.now(),
            "currency": currency,
            "description": p.string("description"),
            "destination": destination_id,
            "destination_payment": new_id("py"),
            "livemode": False,
            "metadata": metadata,
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": False,
                "url": f"/v1/transfers/{transfer_id}/reversals",
            },
            "reversed": False,
            "source_transaction": source_id,
            "source_type": "card",
            "transfer_group": transfer_group,
        }
    )
    emit(ctx, "transfer.created", transfer)
    return respond(ctx, transfer)


def _source_charge(ctx: Ctx, source_id: str, amount: int, currency: str) -> JSON:
    charge = ctx.fetch("charge", source_id, param="source_transaction", status=400)
    if charge["status"] != "succeeded":
        raise invalid_request(
            f"The source_transaction {source_id} did not succeed, so it cannot fund a transfer.",
            param="source_transaction",
        )
    if charge["currency"] != currency:
        raise invalid_request(
            f"The currency of source_transaction's balance transaction ({charge['currency']}) "
            f"must be the same as the transfer currency ({currency}).",
            param="currency",
        )
    already = sum(
        t["amount"] - t["amount_reversed"]
        for t in ctx.store.all("transfer")
        if t["source_transaction"] == source_id
    )
    transferable = refundable_amount(charge) - already
    if amount > transferable:
        raise invalid_request(
            f"Transfer amount ({format_amount(amount, currency)}) exceeds the amount still "
            f"available from source_transaction {source_id} "
            f"({format_amount(transferable, currency)}): the charge amount minus refunds and "
            "earlier transfers from it.",
            param="amount",
        )
    return charge


@routes.get("/v1/transfers/{id}")
def get_transfer(ctx: Ctx) -> JSON:
    return retrieve(ctx, "transfer")


@routes.get("/v1/transfers")
def list_transfers(ctx: Ctx) -> JSON:
    return list_response(
        ctx,
        "/v1/transfers",
        "transfer",
        filters={"destination": equals("destination"), "transfer_group": equals("transfer_group")},
    )
