"""PaymentIntents: create (optionally confirming at once), confirm, cancel, retrieve, list."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ...store import JSON
from ..context import Ctx
from ..errors import ApiResult, StripeError, error_body, invalid_request
from ..events import emit
from ..ids import new_id
from ..listing import equals, list_response
from ..money import check_minimum_charge
from ..params import merge_metadata
from ..render import public
from ..routing import RouteTable
from . import balance, payment_methods
from .charges import new_charge
from .common import respond

routes = RouteTable()

# API version from which `payment_method_types` is read-only on PaymentIntents
# (https://docs.stripe.com/changelog/endive/2026-09-30/removes-the-payment-method-types-parameter-from-payment-intents-and-setup-intents).
TYPES_REMOVED_IN = "2026-09-30.endive"
_NOT_SIMULATED = (
    "amount_details",
    "application_fee_amount",
    "confirmation_method",
    "confirmation_token",
    "customer_account",
    "error_on_requires_action",
    "hooks",
    "mandate",
    "mandate_data",
    "on_behalf_of",
    "payment_details",
    "payment_method_configuration",
    "payment_method_data",
    "payment_method_options",
    "radar_options",
    "setup_future_usage",
    "shipping",
    "transfer_data",
    "use_stripe_sdk",
    "amount_to_confirm",
)
DISPUTE_JOB = "create_dispute"
SUPPORTED_TYPES = ("card",)
CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)

# Stripe refuses to confirm server-side when redirect-based methods could be offered and there
# is nowhere to send the customer back to; integrations pass
# `allowed_payment_method_types[]=card` or `automatic_payment_methods[allow_redirects]=never`
# (or a `return_url`) to avoid it.
_RETURN_URL_REQUIRED = (
    "This PaymentIntent is configured to accept payment methods enabled in your Dashboard. "
    "Because some of these payment methods might redirect your customer off of your page, you "
    "must provide a `return_url`. If you don't want to accept redirect-based payment methods, "
    "set `automatic_payment_methods[enabled]` to `true` and "
    "`automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and "
    "Payment Intents."
)
_MISSING_PAYMENT_METHOD = (
    "You cannot confirm this PaymentIntent because it's missing a payment method. You can "
    "either update the PaymentIntent with a payment method and then confirm it again, or confirm "
    "it again directly with a payment method."
)


@routes.post("/v1/payment_intents")
def create_payment_intent(ctx: Ctx) -> JSON | ApiResult:
    p = ctx.params
    p.only(
        "amount",
        "currency",
        "payment_method",
        "confirm",
        "allowed_payment_method_types",
        "excluded_payment_method_types",
        "payment_method_types",
        "automatic_payment_methods",
        "transfer_group",
        "metadata",
        "description",
        "customer",
        "return_url",
        "off_session",
        "receipt_email",
        "capture_method",
        "statement_descriptor",
        "statement_descriptor_suffix",
        not_simulated=_NOT_SIMULATED,
    )
    amount = p.required_amount()
    currency = p.currency()
    assert currency is not None
    check_minimum_charge(amount, currency)
    p.choice("capture_method", ("automatic", "automatic_async"))
    methods = _payment_method_setup(ctx)
    metadata = merge_metadata({}, p.metadata())
    payment_method = p.string("payment_method")
    confirm = p.boolean("confirm")
    if payment_method is not None:
        payment_methods.check_exists(ctx, payment_method)
    if confirm:
        _check_confirmable(ctx, methods.automatic, methods.types, bool(payment_method))

    intent_id = new_id("pi")
    intent: JSON = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "allowed_payment_method_types": methods.allowed,
        "automatic_payment_methods": methods.automatic,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": p.string("capture_method") or "automatic_async",
        "client_secret": f"{intent_id}_secret_{secrets.token_urlsafe(18)}",
        "confirmation_method": "automatic",
        "created": ctx.now(),
        "currency": currency,
        "customer": p.string("customer"),
        "description": p.string("description"),
        "excluded_payment_method_types": methods.excluded,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": methods.types,
        "processing": None,
        "receipt_email": p.string("receipt_email"),
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "statement_descriptor": p.string("statement_descriptor"),
        "statement_descriptor_suffix": p.string("statement_descriptor_suffix"),
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": p.string("transfer_group"),
    }
    pm_object = payment_methods.materialize(ctx, payment_method) if payment_method else None
    if pm_object is not None:
        intent["payment_method"] = pm_object["id"]
        intent["status"] = "requires_confirmation"
    ctx.create(intent)
    emit(ctx, "payment_intent.created", intent)
    if confirm and pm_object is not None:
        return _attempt_payment(ctx, intent, pm_object)
    return respond(ctx, intent)


@routes.post("/v1/payment_intents/{id}/confirm")
def confirm_payment_intent(ctx: Ctx) -> JSON | ApiResult:
    p = ctx.params
    p.only(
        "payment_method",
        "return_url",
        "off_session",
        not_simulated=(
            *_NOT_SIMULATED,
            "allowed_payment_method_types",
            "excluded_payment_method_types",
            "capture_method",
            "receipt_email",
        ),
    )
    intent = ctx.fetch("payment_intent", ctx.path["id"], param="intent")
    if intent["status"] not in CONFIRMABLE:
        raise _unexpected_state(intent, "confirm")
    payment_method = p.string("payment_method")
    if payment_method is not None:
        payment_methods.check_exists(ctx, payment_method)
    elif intent["payment_method"] is None:
        raise _missing_payment_method(intent)
    _check_confirmable(
        ctx, intent["automatic_payment_methods"], intent["payment_method_types"], True
    )
    pm_object = payment_methods.materialize(ctx, payment_method or intent["payment_method"])
    return _attempt_payment(ctx, intent, pm_object)


@routes.post("/v1/payment_intents/{id}/cancel")
def cancel_payment_intent(ctx: Ctx) -> JSON:
    ctx.params.only("cancellation_reason")
    reason = ctx.params.choice(
        "cancellation_reason", ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
    )
    intent = ctx.fetch("payment_intent", ctx.path["id"], param="intent")
    if intent["status"] not in CANCELABLE:
        raise _unexpected_state(intent, "cancel")
    intent.update(status="canceled", canceled_at=ctx.now(), cancellation_reason=reason)
    ctx.save(intent)
    emit(ctx, "payment_intent.canceled", intent)
    return respond(ctx, intent)


@routes.post("/v1/payment_intents/{id}")
def update_payment_intent(ctx: Ctx) -> JSON:
    ctx.params.only(
        "metadata",
        "description",
        not_simulated=(
            *_NOT_SIMULATED,
            "allowed_payment_method_types",
            "amount",
            "currency",
            "customer",
            "excluded_payment_method_types",
            "payment_method",
            "receipt_email",
            "statement_descriptor",
            "statement_descriptor_suffix",
            "transfer_group",
            "capture_method",
        ),
    )
    intent = ctx.fetch("payment_intent", ctx.path["id"], param="intent")
    intent["metadata"] = merge_metadata(intent["metadata"], ctx.params.metadata())
    if "description" in ctx.params:
        intent["description"] = ctx.params.string("description")
    ctx.save(intent)
    return respond(ctx, intent)


@routes.get("/v1/payment_intents/{id}")
def get_payment_intent(ctx: Ctx) -> JSON:
    ctx.params.only("client_secret")
    return respond(ctx, ctx.fetch("payment_intent", ctx.path["id"], param="intent"))


@routes.get("/v1/payment_intents")
def list_payment_intents(ctx: Ctx) -> JSON:
    return list_response(
        ctx, "/v1/payment_intents", "payment_intent", filters={"customer": equals("customer")}
    )


def _attempt_payment(ctx: Ctx, intent: JSON, pm_object: JSON) -> JSON | ApiResult:
    card = payment_methods.card_behaviour(pm_object)
    charge = new_charge(ctx, intent, pm_object, card)
    intent["latest_charge"] = charge["id"]
    if card.decline is not None:
        decline = card.decline
        # A declined attempt detaches the payment method and leaves the intent waiting for
        # another one; the error repeats the intent so the caller need not fetch it.
        error: JSON = {
            "charge": charge["id"],
            "code": decline.code,
            "decline_code": decline.decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
            "message": decline.message,
            "payment_method": public(pm_object),
            "type": "card_error",
        }
        intent.update(status="requires_payment_method", payment_method=None)
        intent["last_payment_error"] = error
        ctx.save(intent)
        emit(ctx, "charge.failed", charge)
        emit(ctx, "payment_intent.payment_failed", intent)
        body = error_body(
            "card_error",
            decline.message,
            ctx.request_id or "",
            code=decline.code,
            extra={
                "charge": charge["id"],
                "decline_code": decline.decline_code,
                "payment_intent": public(intent),
                "payment_method": public(pm_object),
            },
        )
        return ApiResult(402, body)

    txn = balance.record(
        ctx,
        amount=charge["amount"],
        currency=charge["currency"],
        type_="charge",
        source=charge["id"],
        reporting_category="charge",
        description=charge["description"],
    )
    charge["balance_transaction"] = txn["id"]
    ctx.save(charge)
    intent.update(
        status="succeeded",
        amount_received=intent["amount"],
        payment_method=pm_object["id"],
        last_payment_error=None,
    )
    ctx.save(intent)
    emit(ctx, "charge.succeeded", charge)
    emit(ctx, "payment_intent.succeeded", intent)
    if card.disputed:
        ctx.sandbox.scheduler.schedule(
            DISPUTE_JOB,
            {"charge": charge["id"], "reason": "fraudulent"},
            ctx.sandbox.settings.dispute_delay_seconds,
        )
    return respond(ctx, intent)


@dataclass(frozen=True)
class _Methods:
    automatic: JSON | None
    types: list[str]
    allowed: list[str] | None
    excluded: list[str] | None


def _payment_method_setup(ctx: Ctx) -> _Methods:
    """Which payment methods the intent accepts, by the rules of the caller's API version."""
    p = ctx.params
    if "payment_method_types" in p and ctx.api_version_at_least(TYPES_REMOVED_IN):
        raise invalid_request(
            "`payment_method_types` can no longer be set on API version "
            f"{ctx.api_version}. Use `allowed_payment_method_types` to limit the payment "
            "methods, or dynamic payment methods (`automatic_payment_methods`).",
            param="payment_method_types",
            code="payment_method_types_no_longer_supported",
        )
    allowed = p.str_list("allowed_payment_method_types") or None
    legacy = p.str_list("payment_method_types") or None
    excluded = p.str_list("excluded_payment_method_types") or None
    given_automatic = p.mapping("automatic_payment_methods")
    listed = allowed if allowed is not None else legacy
    if listed is not None and (given_automatic is not None or excluded is not None):
        name = "allowed_payment_method_types" if allowed else "payment_method_types"
        raise invalid_request(
            f"You may only specify one of these parameters: {name}, automatic_payment_methods, "
            "excluded_payment_method_types.",
            param=name,
        )
    if legacy is not None:
        # The older parameter refuses what it cannot offer; the sandbox only offers cards.
        for index, method_type in enumerate(legacy):
            if method_type not in SUPPORTED_TYPES:
                raise invalid_request(
                    f"The payment method type {method_type!r} is invalid or not supported by "
                    "the Tempwork sandbox (cards only).",
                    param=f"payment_method_types[{index}]",
                )
        return _Methods(None, list(legacy), None, None)
    if allowed is not None:
        # Unlike payment_method_types, incompatible entries are silently filtered out.
        types = [t for t in allowed if t in SUPPORTED_TYPES]
        if not types:
            raise invalid_request(
                "None of the allowed_payment_method_types can be used with this PaymentIntent "
                "(the Tempwork sandbox offers cards only).",
                param="allowed_payment_method_types",
            )
        return _Methods(None, types, list(allowed), None)
    types = [t for t in SUPPORTED_TYPES if t not in (excluded or [])]
    return _Methods(_automatic(given_automatic), types, None, excluded)


def _automatic(given: JSON | None) -> JSON:
    """Stripe enables automatic payment methods when neither option is given."""
    enabled = True
    allow_redirects = "always"
    if given is not None:
        raw_enabled = given.get("enabled", "true")
        if raw_enabled not in ("true", "false"):
            raise invalid_request(
                f"Invalid boolean: {raw_enabled}", param="automatic_payment_methods[enabled]"
            )
        enabled = raw_enabled == "true"
        allow_redirects = given.get("allow_redirects", "always")
        if allow_redirects not in ("always", "never"):
            raise invalid_request(
                "Invalid automatic_payment_methods[allow_redirects]: must be one of always, never",
                param="automatic_payment_methods[allow_redirects]",
            )
    return {"allow_redirects": allow_redirects, "enabled": enabled}


def _check_confirmable(
    ctx: Ctx, automatic: JSON | None, types: list[str], has_payment_method: bool
) -> None:
    if not has_payment_method:
        raise invalid_request(
            _MISSING_PAYMENT_METHOD, param="payment_method", code="payment_intent_unexpected_state"
        )
    if "card" not in types:
        raise invalid_request(
            "The PaymentMethod provided (type card) is not allowed for this PaymentIntent. "
            f"Allowed payment method types: {', '.join(types) or 'none'}.",
            param="payment_method",
        )
    redirects_possible = (
        automatic is not None and automatic["enabled"] and automatic["allow_redirects"] != "never"
    )
    off_session = ctx.params.boolean("off_session")
    if redirects_possible and not off_session and ctx.params.string("return_url") is None:
        raise invalid_request(_RETURN_URL_REQUIRED, param="return_url")


def _missing_payment_method(intent: JSON) -> StripeError:
    error = invalid_request(
        _MISSING_PAYMENT_METHOD, param="payment_method", code="payment_intent_unexpected_state"
    )
    error.extra["payment_intent"] = public(intent)
    return error


def _unexpected_state(intent: JSON, action: str) -> StripeError:
    status = intent["status"]
    if action == "confirm" and status == "succeeded":
        message = (
            "You cannot confirm this PaymentIntent because it has already succeeded after being "
            "previously confirmed."
        )
    else:
        allowed = CONFIRMABLE if action == "confirm" else CANCELABLE
        message = (
            f"You cannot {action} this PaymentIntent because it has a status of {status}. "
            f"Only a PaymentIntent with one of the following statuses may be {action}ed: "
            f"{', '.join(allowed)}."
        )
    error = invalid_request(message, code="payment_intent_unexpected_state")
    error.extra["payment_intent"] = public(intent)
    return error
