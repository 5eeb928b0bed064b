"""Refunds of a charge (by charge id or by PaymentIntent), never beyond what was captured."""

from __future__ import annotations

import copy

from ...store import JSON
from ..context import Ctx
from ..errors import invalid_request
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

REASONS = ("duplicate", "fraudulent", "requested_by_customer")
# Dispute states in which the card network, not the merchant, decides where the money goes.
_CHARGED_BACK = (
    "warning_needs_response",
    "warning_under_review",
    "needs_response",
    "under_review",
    "lost",
)


@routes.post("/v1/refunds")
def create_refund(ctx: Ctx) -> JSON:
    p = ctx.params
    p.only(
        "charge",
        "payment_intent",
        "amount",
        "reason",
        "metadata",
        not_simulated=(
            "currency",
            "customer",
            "instructions_email",
            "origin",
            "refund_application_fee",
            "reverse_transfer",
        ),
    )
    amount = p.amount()
    reason = p.choice("reason", REASONS)
    metadata = merge_metadata({}, p.metadata())
    charge = _charge_to_refund(ctx, p.string("charge"), p.string("payment_intent"))
    if any(
        d["charge"] == charge["id"] and d["status"] in _CHARGED_BACK
        for d in ctx.store.all("dispute")
    ):
        raise invalid_request(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
    remaining = refundable_amount(charge)
    if remaining <= 0:
        raise invalid_request(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = remaining if amount is None else amount
    if amount > remaining:
        # Stripe sends no `code` for this one, only the param.
        raise invalid_request(
            f"Refund amount ({format_amount(amount, charge['currency'])}) is greater than "
            f"unrefunded amount on charge ({format_amount(remaining, charge['currency'])})",
            param="amount",
        )

    refund_id = new_id("re")
    txn = balance.record(
        ctx,
        amount=-amount,
        currency=charge["currency"],
        type_="refund",
        source=refund_id,
        reporting_category="refund",
    )
    refund = ctx.create(
        {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": txn["id"],
            "charge": charge["id"],
            "created": ctx.now(),
            "currency": charge["currency"],
            "destination_details": {"card": {"type": "refund"}, "type": "card"},
            "metadata": metadata,
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
    )
    before = copy.deepcopy(charge)
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
    ctx.save(charge)
    emit(ctx, "refund.created", refund)
    emit(ctx, "charge.refunded", charge, previous=before)
    return respond(ctx, refund)


def _charge_to_refund(ctx: Ctx, charge_id: str | None, intent_id: str | None) -> JSON:
    if charge_id is None and intent_id is None:
        raise invalid_request(
            "One of the following params should be provided for this request: payment_intent "
            "or charge.",
            code="parameter_missing",
        )
    if intent_id is not None:
        intent = ctx.fetch("payment_intent", intent_id, param="payment_intent", status=400)
        if intent["status"] != "succeeded" or intent["latest_charge"] is None:
            raise invalid_request(
                f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        if charge_id is not None and charge_id != intent["latest_charge"]:
            raise invalid_request(
                f"The charge {charge_id} does not belong to PaymentIntent {intent_id}.",
                param="charge",
            )
        charge_id = intent["latest_charge"]
    assert charge_id is not None
    charge = ctx.fetch("charge", charge_id, param="charge", status=400)
    if charge["status"] != "succeeded":
        raise invalid_request(
            f"Charge {charge_id} did not succeed, so there is nothing to refund.", param="charge"
        )
    return charge


@routes.get("/v1/refunds/{id}")
def get_refund(ctx: Ctx) -> JSON:
    return retrieve(ctx, "refund")


@routes.get("/v1/refunds")
def list_refunds(ctx: Ctx) -> JSON:
    return list_response(
        ctx,
        "/v1/refunds",
        "refund",
        filters={"charge": equals("charge"), "payment_intent": equals("payment_intent")},
    )
