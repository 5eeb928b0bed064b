"""Connect accounts and account links (the hosted onboarding lives in `..onboarding`)."""

from __future__ import annotations

import copy
import re

from ...store import JSON
from ..context import Ctx
from ..errors import invalid_request, mask_key
from ..events import emit
from ..ids import new_id, new_token
from ..listing import list_response
from ..params import merge_metadata
from ..routing import RouteTable
from .common import respond

routes = RouteTable()

ACCOUNT_LINK = "_account_link"
ACCOUNT_LINK_TTL_SECONDS = 300  # Stripe's account links expire a few minutes after creation
ACCOUNT_TYPES = ("express", "custom", "standard")
BUSINESS_TYPES = ("individual", "company", "non_profit", "government_entity")
LINK_TYPES = ("account_onboarding", "account_update")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_DEFAULT_CURRENCY = {
    "US": "usd",
    "GB": "gbp",
    "CA": "cad",
    "AU": "aud",
    "NZ": "nzd",
    "CH": "chf",
    "JP": "jpy",
    "SG": "sgd",
    "HK": "hkd",
}
# What a fresh Express account still has to tell Stripe before it can be paid.
_ONBOARDING_REQUIREMENTS = [
    "business_profile.mcc",
    "business_profile.url",
    "business_type",
    "external_account",
    "representative.first_name",
    "representative.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]


@routes.post("/v1/accounts")
def create_account(ctx: Ctx) -> JSON:
    p = ctx.params
    p.only(
        "type",
        "country",
        "email",
        "capabilities",
        "business_type",
        "metadata",
        "controller",
        "business_profile",
        "default_currency",
        not_simulated=(
            "account_token",
            "company",
            "documents",
            "external_account",
            "groups",
            "individual",
            "settings",
            "tos_acceptance",
        ),
    )
    account_type = p.choice("type", ACCOUNT_TYPES)
    controller = p.mapping("controller")
    if account_type is None and controller is None:
        raise invalid_request(
            "You must provide either `type` or `controller` when creating an account.",
            param="type",
            code="parameter_missing",
        )
    country = (p.string("country") or "US").upper()
    if not _COUNTRY.match(country):
        raise invalid_request(f"Invalid country: {country}", param="country")
    business_type = p.choice("business_type", BUSINESS_TYPES)
    capabilities = _requested_capabilities(p.mapping("capabilities") or {})
    metadata = merge_metadata({}, p.metadata())
    default_currency = p.currency("default_currency", required=False)
    profile = p.mapping("business_profile") or {}

    requirements = list(_ONBOARDING_REQUIREMENTS)
    if business_type is not None:
        requirements.remove("business_type")
    account_id = new_id("acct", 16)
    account: JSON = {
        "id": account_id,
        "object": "account",
        "business_profile": {
            "mcc": profile.get("mcc"),
            "name": profile.get("name"),
            "product_description": profile.get("product_description"),
            "support_address": None,
            "support_email": None,
            "support_phone": None,
            "support_url": None,
            "url": profile.get("url"),
        },
        "business_type": business_type,
        "capabilities": {name: "inactive" for name in capabilities},
        "charges_enabled": False,
        "controller": _controller(account_type or "express"),
        "country": country,
        "created": ctx.now(),
        "default_currency": default_currency or _DEFAULT_CURRENCY.get(country, "eur"),
        "details_submitted": False,
        "email": p.string("email"),
        "external_accounts": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/accounts/{account_id}/external_accounts",
        },
        "future_requirements": _requirements([]),
        "livemode": False,
        "metadata": metadata,
        "payouts_enabled": False,
        "requirements": _requirements(requirements, disabled_reason="requirements.past_due"),
        "settings": {
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None,
            }
        },
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": account_type or "express",
    }
    ctx.create(account)
    return respond(ctx, account)


@routes.post("/v1/accounts/{id}")
def update_account(ctx: Ctx) -> JSON:
    ctx.params.only(
        "metadata",
        "email",
        not_simulated=(
            "account_token",
            "business_profile",
            "business_type",
            "capabilities",
            "company",
            "default_currency",
            "documents",
            "external_account",
            "groups",
            "individual",
            "settings",
            "tos_acceptance",
        ),
    )
    account = _own_account(ctx, ctx.path["id"])
    before = copy.deepcopy(account)
    account["metadata"] = merge_metadata(account["metadata"], ctx.params.metadata())
    if "email" in ctx.params:
        account["email"] = ctx.params.string("email")
    ctx.save(account)
    if account != before:
        emit(ctx, "account.updated", account, previous=before, account=account["id"])
    return respond(ctx, account)


@routes.get("/v1/accounts/{id}")
def get_account(ctx: Ctx) -> JSON:
    ctx.params.only()
    return respond(ctx, _own_account(ctx, ctx.path["id"]))


@routes.get("/v1/accounts")
def list_accounts(ctx: Ctx) -> JSON:
    return list_response(ctx, "/v1/accounts", "account")


@routes.post("/v1/account_links")
def create_account_link(ctx: Ctx) -> JSON:
    p = ctx.params
    p.only("account", "refresh_url", "return_url", "type", "collect", "collection_options")
    account_id = p.required_string("account")
    link_type = p.choice("type", LINK_TYPES, required=True)
    refresh_url = _url(p.required_string("refresh_url"), "refresh_url")
    return_url = _url(p.required_string("return_url"), "return_url")
    ctx.fetch("account", account_id, param="account", status=400)
    token = new_token()
    created = ctx.now()
    ctx.store.insert(
        ACCOUNT_LINK,
        {
            "id": token,
            "account": account_id,
            "type": link_type,
            "refresh_url": refresh_url,
            "return_url": return_url,
            "created": created,
            "expires_at": created + ACCOUNT_LINK_TTL_SECONDS,
            "used": False,
        },
    )
    return {
        "object": "account_link",
        "created": created,
        "expires_at": created + ACCOUNT_LINK_TTL_SECONDS,
        "url": f"{ctx.sandbox.settings.public_url}/stripe/connect/onboarding/{token}",
    }


def complete_onboarding(ctx: Ctx, account: JSON) -> JSON:
    """What finishing Stripe's hosted onboarding does to an Express account."""
    before = copy.deepcopy(account)
    account["capabilities"] = {name: "active" for name in account["capabilities"]} or {
        "transfers": "active"
    }
    account.update(
        charges_enabled=True,
        payouts_enabled=True,
        details_submitted=True,
        requirements=_requirements([]),
        tos_acceptance={"date": ctx.now(), "ip": "127.0.0.1", "user_agent": "sandbox"},
    )
    if account["business_type"] is None:
        account["business_type"] = "individual"
    return _saved_with_event(ctx, account, before)


def disable_payouts(ctx: Ctx, account: JSON) -> JSON:
    """As when Stripe needs more information (e.g. a failed verification) from the worker."""
    before = copy.deepcopy(account)
    account["capabilities"] = {name: "inactive" for name in account["capabilities"]}
    account.update(
        payouts_enabled=False,
        requirements=_requirements(
            ["external_account"], disabled_reason="requirements.past_due", past_due=True
        ),
    )
    return _saved_with_event(ctx, account, before)


def _saved_with_event(ctx: Ctx, account: JSON, before: JSON) -> JSON:
    ctx.save(account)
    # Connect events name the connected account they are about.
    emit(ctx, "account.updated", account, previous=before, account=account["id"])
    return account


def _own_account(ctx: Ctx, account_id: str) -> JSON:
    account = ctx.get("account", account_id)
    if account is None:
        # Stripe cannot tell "not yours" from "does not exist" here, hence 403, not 404.
        raise invalid_request(
            f"The provided key '{mask_key(ctx.sandbox.settings.api_key)}' does not have access "
            f"to account '{account_id}' (or that account does not exist). Application access "
            "may have been revoked.",
            code="account_invalid",
            status=403,
        )
    return account


def _requested_capabilities(raw: JSON) -> list[str]:
    requested = []
    for name, options in raw.items():
        if not isinstance(options, dict) or options.get("requested") not in ("true", "false"):
            raise invalid_request(
                f"Invalid capabilities[{name}]: expected `requested` to be true or false.",
                param=f"capabilities[{name}][requested]",
            )
        if options["requested"] == "true":
            requested.append(name)
    return requested


def _requirements(
    due: list[str], *, disabled_reason: str | None = None, past_due: bool = False
) -> JSON:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(due),
        "disabled_reason": disabled_reason if due else None,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due) if past_due else [],
        "pending_verification": [],
    }


def _controller(account_type: str) -> JSON:
    if account_type == "standard":
        return {"is_controller": True, "type": "account"}
    return {
        "fees": {"payer": "application_express" if account_type == "express" else "application"},
        "is_controller": True,
        "losses": {"payments": "application"},
        "requirement_collection": "stripe" if account_type == "express" else "application",
        "stripe_dashboard": {"type": "express" if account_type == "express" else "none"},
        "type": "application",
    }


def _url(value: str, param: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise invalid_request("Not a valid URL", param=param, code="url_invalid")
    return value
