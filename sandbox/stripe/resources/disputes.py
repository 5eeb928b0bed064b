"""Disputes (chargebacks), with Stripe's test-mode evidence rules.

- A dispute takes the disputed amount out of the platform balance when it opens
  (`charge.dispute.funds_withdrawn`); winning puts it back (`charge.dispute.funds_reinstated`),
  losing leaves it gone. The sandbox charges no dispute fee.
- Submitting evidence moves the dispute to `under_review` (`charge.dispute.updated`). In test
  mode `uncategorized_text=winning_evidence` then closes it as `won` and `losing_evidence` as
  `lost` (`charge.dispute.closed`) a moment later; other evidence leaves it under review until
  `POST /_sandbox/stripe/disputes/{id}/close` decides it.
"""

from __future__ import annotations

import copy

from ...store import JSON
from ..context import Ctx
from ..errors import invalid_request
from ..events import emit
from ..ids import new_id
from ..listing import equals, list_response
from ..params import merge_metadata
from ..routing import RouteTable
from . import balance
from .common import respond, retrieve

routes = RouteTable()

DECIDE_JOB = "decide_dispute"
EVIDENCE_DUE_SECONDS = 7 * 24 * 60 * 60
OPEN = ("warning_needs_response", "needs_response", "warning_under_review", "under_review")
RESPONDABLE = ("warning_needs_response", "needs_response")
EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)
REASONS = (
    "bank_cannot_process",
    "check_returned",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
)


def open_dispute(ctx: Ctx, charge: JSON, reason: str = "fraudulent") -> JSON | None:
    """The cardholder's bank disputes `charge` (what `pm_card_createDispute` triggers)."""
    if charge["status"] != "succeeded" or charge["refunded"] or charge["disputed"]:
        return None  # Stripe: fully refunded or already disputed charges cannot be disputed
    dispute_id = new_id("du")
    amount = charge["amount"] - charge["amount_refunded"]
    withdrawal = balance.record(
        ctx,
        amount=-amount,
        currency=charge["currency"],
        type_="adjustment",
        source=dispute_id,
        reporting_category="dispute",
        description=f"Chargeback withdrawal for {charge['id']}",
    )
    now = ctx.now()
    dispute = ctx.create(
        {
            "id": dispute_id,
            "object": "dispute",
            "amount": amount,
            "balance_transactions": [withdrawal],
            "charge": charge["id"],
            "created": now,
            "currency": charge["currency"],
            "enhanced_eligibility_types": [],
            "evidence": {name: None for name in EVIDENCE_FIELDS},
            "evidence_details": {
                "due_by": now + EVIDENCE_DUE_SECONDS,
                "enhanced_eligibility": {},
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": {},
            "payment_intent": charge["payment_intent"],
            "payment_method_details": {
                "card": {
                    "brand": charge["payment_method_details"]["card"]["brand"],
                    "case_type": "chargeback",
                    "network_reason_code": "10.4",
                },
                "type": "card",
            },
            "reason": reason,
            "status": "needs_response",
        }
    )
    charge["disputed"] = True
    ctx.save(charge)
    emit(ctx, "charge.dispute.created", dispute)
    emit(ctx, "charge.dispute.funds_withdrawn", dispute)
    return dispute


def decide(ctx: Ctx, dispute: JSON, outcome: str) -> JSON:
    """Close an open dispute as `won` (money back) or `lost` (money stays with the cardholder)."""
    if dispute["status"] not in OPEN:
        return dispute
    before = copy.deepcopy(dispute)
    dispute["status"] = outcome
    if outcome == "won":
        reinstatement = balance.record(
            ctx,
            amount=dispute["amount"],
            currency=dispute["currency"],
            type_="adjustment",
            source=dispute["id"],
            reporting_category="dispute_reversal",
            description=f"Chargeback reversal for {dispute['charge']}",
        )
        dispute["balance_transactions"].append(reinstatement)
    ctx.save(dispute)
    emit(ctx, "charge.dispute.closed", dispute, previous=before)
    if outcome == "won":
        emit(ctx, "charge.dispute.funds_reinstated", dispute)
    return dispute


@routes.post("/v1/disputes/{id}")
def update_dispute(ctx: Ctx) -> JSON:
    p = ctx.params
    p.only("evidence", "metadata", "submit", not_simulated=("intended_submission_method",))
    evidence = p.mapping("evidence") or {}
    for name, value in evidence.items():
        if name not in EVIDENCE_FIELDS:
            raise invalid_request(
                f"Received unknown parameter: evidence[{name}]",
                param=f"evidence[{name}]",
                code="parameter_unknown",
            )
        if not isinstance(value, str):
            raise invalid_request(f"Invalid string: evidence[{name}]", param=f"evidence[{name}]")
    submit = p.boolean("submit", default=True)
    metadata = p.metadata()
    dispute = ctx.fetch("dispute", ctx.path["id"], param="dispute")
    if (evidence or submit) and dispute["status"] not in RESPONDABLE:
        raise invalid_request(
            f"This dispute is {dispute['status']}, so it no longer accepts evidence.",
            param="evidence",
        )
    before = copy.deepcopy(dispute)
    dispute["metadata"] = merge_metadata(dispute["metadata"], metadata)
    dispute["evidence"].update({k: v or None for k, v in evidence.items()})
    details = dispute["evidence_details"]
    details["has_evidence"] = any(v is not None for v in dispute["evidence"].values())
    if submit:
        details["submission_count"] += 1
        dispute["status"] = "under_review"
        outcome = _test_mode_outcome(dispute["evidence"].get("uncategorized_text"))
        if outcome is not None:
            ctx.sandbox.scheduler.schedule(
                DECIDE_JOB,
                {"dispute": dispute["id"], "outcome": outcome},
                ctx.sandbox.settings.dispute_delay_seconds,
            )
    ctx.save(dispute)
    emit(ctx, "charge.dispute.updated", dispute, previous=before)
    return respond(ctx, dispute)


@routes.post("/v1/disputes/{id}/close")
def close_dispute(ctx: Ctx) -> JSON:
    """Accepting the dispute: the merchant gives up, and the dispute is lost at once."""
    ctx.params.only()
    dispute = ctx.fetch("dispute", ctx.path["id"], param="dispute")
    if dispute["status"] not in RESPONDABLE:
        raise invalid_request(
            f"This dispute is {dispute['status']}, so it can no longer be closed.",
        )
    return respond(ctx, decide(ctx, dispute, "lost"))


@routes.get("/v1/disputes/{id}")
def get_dispute(ctx: Ctx) -> JSON:
    return retrieve(ctx, "dispute")


@routes.get("/v1/disputes")
def list_disputes(ctx: Ctx) -> JSON:
    return list_response(
        ctx,
        "/v1/disputes",
        "dispute",
        filters={"charge": equals("charge"), "payment_intent": equals("payment_intent")},
    )


def _test_mode_outcome(text: str | None) -> str | None:
    if text is None:
        return None
    if "winning_evidence" in text:
        return "won"
    if "losing_evidence" in text:
        return "lost"
    return None
