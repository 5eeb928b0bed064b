"""Charges, made by confirming a PaymentIntent (never created directly in this sandbox)."""

from __future__ import annotations

from ...store import JSON
from ..cards import CardBehaviour
from ..context import Ctx
from ..ids import new_id
from ..listing import equals, list_response
from ..routing import RouteTable
from .common import retrieve

routes = RouteTable()


def new_charge(ctx: Ctx, intent: JSON, payment_method: JSON, card: CardBehaviour) -> JSON:
    """The charge an attempt makes. Stripe copies the PaymentIntent's metadata, description and
    transfer_group once, at this moment (later PaymentIntent updates do not reach the charge)."""
    succeeded = card.decline is None
    decline = card.decline
    pm_card = payment_method["card"]
    charge: JSON = {
        "id": new_id("ch"),
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount"] if succeeded else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None,
        "billing_details": payment_method["billing_details"],
        "calculated_statement_descriptor": "TEMPWORK",
        "captured": succeeded,
        "created": ctx.now(),
        "currency": intent["currency"],
        "customer": intent["customer"],
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": decline.code if decline else None,
        "failure_message": decline.message if decline else None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "on_behalf_of": None,
        "outcome": {
            "network_status": "approved_by_network" if succeeded else "declined_by_network",
            "reason": decline.decline_code if decline else None,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": decline.seller_message if decline else "Payment complete.",
            "type": decline.outcome_type if decline else "authorized",
        },
        "paid": succeeded,
        "payment_intent": intent["id"],
        "payment_method": payment_method["id"],
        "payment_method_details": {
            "card": {
                "brand": pm_card["brand"],
                "country": pm_card["country"],
                "exp_month": pm_card["exp_month"],
                "exp_year": pm_card["exp_year"],
                "fingerprint": pm_card["fingerprint"],
                "funding": pm_card["funding"],
                "last4": pm_card["last4"],
                "network": pm_card["brand"],
            },
            "type": "card",
        },
        "receipt_email": intent.get("receipt_email"),
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if succeeded else "failed",
        "transfer_data": None,
        "transfer_group": intent["transfer_group"],
    }
    return ctx.create(charge)


def refundable_amount(charge: JSON) -> int:
    return int(charge["amount_captured"]) - int(charge["amount_refunded"])


@routes.get("/v1/charges/{id}")
def get_charge(ctx: Ctx) -> JSON:
    return retrieve(ctx, "charge")


@routes.get("/v1/charges")
def list_charges(ctx: Ctx) -> JSON:
    return list_response(
        ctx,
        "/v1/charges",
        "charge",
        filters={
            "customer": equals("customer"),
            "payment_intent": equals("payment_intent"),
            "transfer_group": equals("transfer_group"),
        },
    )
