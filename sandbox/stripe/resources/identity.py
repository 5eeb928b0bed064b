"""Stripe Identity: VerificationSessions (create, retrieve, list, update, cancel, redact) and
the VerificationReports they produce.

Things the app must get right because Stripe does them too:
- `url` and `client_secret` exist only while the session is `requires_input`; each link is
  single-use and expires after 48 hours, and a retrieve hands out a fresh one (Stripe: "retrieve
  the VerificationSession to get a fresh URL or client secret").
- `provided_details` and `verified_outputs` are includable: they appear only when asked for
  with `expand[]` (and not in webhook payloads). `verified_outputs.dob` and `.id_number` need
  their own `expand[]` entry (Stripe also wants a restricted key for those; the sandbox does
  not model key permissions).
- Only a `requires_input` session can be updated or canceled; redacting one cancels it first;
  a redacted session cannot be changed any more.

The hosted page is `..identity_page`; what happens after submission is `.identity_checks`.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from ...store import JSON
from ..context import Ctx
from ..errors import invalid_request, parameter_unknown, resource_missing
from ..events import emit
from ..expand import expand
from ..ids import new_id
from ..listing import LIST_PARAMS, equals, list_response
from ..params import Params, merge_metadata
from ..render import public
from ..routing import RouteTable
from .common import retrieve
from .identity_checks import (
    REDACT_JOB,
    REPORT,
    SESSION,
    close_links,
    issue_link,
)

routes = RouteTable()

TYPES = ("document", "id_number")
STATUSES = ("canceled", "processing", "requires_input", "verified")
DOCUMENT_TYPES = ("driving_license", "id_card", "passport")
DOCUMENT_FLAGS = ("require_id_number", "require_live_capture", "require_matching_selfie")
INCLUDABLE = ("provided_details", "verified_outputs")
# Parts of `verified_outputs` Stripe hands out only when expanded one by one.
SENSITIVE_OUTPUTS = ("dob", "id_number")
_NOT_SIMULATED = ("related_customer", "related_customer_account", "related_person")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@routes.post("/v1/identity/verification_sessions")
def create_session(ctx: Ctx) -> JSON:
    p = ctx.params
    p.only(
        "type",
        "metadata",
        "options",
        "return_url",
        "client_reference_id",
        "provided_details",
        not_simulated=(*_NOT_SIMULATED, "verification_flow"),
    )
    session_type = p.choice("type", TYPES)
    if session_type is None:
        raise invalid_request(
            "You must provide a `type` if not passing `verification_flow`.",
            param="type",
            code="parameter_missing",
        )
    return_url = p.string("return_url")
    if return_url is not None and not return_url.startswith(("http://", "https://")):
        raise invalid_request("Not a valid URL", param="return_url", code="url_invalid")
    session: JSON = {
        "id": new_id("vs"),
        "object": SESSION,
        "client_reference_id": p.string("client_reference_id"),
        "client_secret": None,
        "created": ctx.now(),
        "last_error": None,
        "last_verification_report": None,
        "livemode": False,
        "metadata": p.metadata() or {},
        "options": _options(p),
        "redaction": None,
        "related_customer": None,
        "related_customer_account": None,
        "status": "requires_input",
        "type": session_type,
        "url": None,
        "_provided_details": _provided_details(p),
        "_return_url": return_url,
        "_verified_outputs": None,
    }
    issue_link(ctx, session)
    ctx.create(session)
    emit(ctx, "identity.verification_session.created", session)
    return view(ctx, session)


@routes.get("/v1/identity/verification_sessions/{id}")
def get_session(ctx: Ctx) -> JSON:
    ctx.params.only()
    session = _session(ctx)
    if session["status"] == "requires_input" and session["redaction"] is None:
        issue_link(ctx, session)
        ctx.save(session)
    return view(ctx, session)


@routes.get("/v1/identity/verification_sessions")
def list_sessions(ctx: Ctx) -> JSON:
    p = ctx.params
    p.only(*LIST_PARAMS, "client_reference_id", "status", not_simulated=_NOT_SIMULATED[:2])
    p.choice("status", STATUSES)
    # Includables are not ids, so the generic expansion cannot fill them in: take them out.
    paths = p.str_list("expand")
    included = [path.removeprefix("data.") for path in paths if _includable(path, "data.")]
    p.data["expand"] = [path for path in paths if not _includable(path, "data.")]
    body = list_response(
        ctx,
        "/v1/identity/verification_sessions",
        SESSION,
        filters={"client_reference_id": equals("client_reference_id"), "status": equals("status")},
    )
    body["data"] = [
        {**public(item), **_included(ctx.get(SESSION, item["id"]) or item, included)}
        for item in body["data"]
    ]
    return body


@routes.post("/v1/identity/verification_sessions/{id}")
def update_session(ctx: Ctx) -> JSON:
    p = ctx.params
    p.only("metadata", "options", "provided_details", "type")
    session = _changeable(ctx, "update")
    # Read everything before changing anything: a refused update must leave the session as it was.
    changes: JSON = {}
    if "type" in p:
        changes["type"] = p.choice("type", TYPES, required=True)
    if "options" in p:
        changes["options"] = _options(p)
    if "provided_details" in p:
        changes["_provided_details"] = _provided_details(p)
    changes["metadata"] = merge_metadata(session["metadata"], p.metadata())
    session.update(changes)
    ctx.save(session)
    return view(ctx, session)


@routes.post("/v1/identity/verification_sessions/{id}/cancel")
def cancel_session(ctx: Ctx) -> JSON:
    ctx.params.only()
    session = _changeable(ctx, "cancel")
    cancel(ctx, session)
    return view(ctx, session)


@routes.post("/v1/identity/verification_sessions/{id}/redact")
def redact_session(ctx: Ctx) -> JSON:
    ctx.params.only()
    session = _session(ctx)
    if session["redaction"] is not None:
        return view(ctx, session)  # already redacting or redacted: nothing more to do
    if session["status"] == "processing":
        raise invalid_request(
            "This VerificationSession is processing and can't be redacted until its "
            "verification checks finish.",
        )
    if session["status"] == "requires_input":
        cancel(ctx, session)  # Stripe: redacting a session awaiting input cancels it
    session["redaction"] = {"status": "processing"}
    ctx.save(session)
    ctx.sandbox.scheduler.schedule(
        REDACT_JOB, {"session": session["id"]}, ctx.sandbox.settings.identity_delay_seconds
    )
    return view(ctx, session)


@routes.get("/v1/identity/verification_reports/{id}")
def get_report(ctx: Ctx) -> JSON:
    return retrieve(ctx, REPORT)


@routes.get("/v1/identity/verification_reports")
def list_reports(ctx: Ctx) -> JSON:
    return list_response(
        ctx,
        "/v1/identity/verification_reports",
        REPORT,
        filters={
            "client_reference_id": equals("client_reference_id"),
            "type": equals("type"),
            "verification_session": equals("verification_session"),
        },
    )


def cancel(ctx: Ctx, session: JSON) -> None:
    close_links(session)
    session["status"] = "canceled"
    ctx.save(session)
    emit(ctx, "identity.verification_session.canceled", session)


def view(ctx: Ctx, session: JSON) -> JSON:
    """The session as the caller asked to see it: includables added, then ids expanded."""
    paths = ctx.params.str_list("expand")
    body = {**public(session), **_included(session, [p for p in paths if _includable(p)])}
    return expand(ctx, body, [p for p in paths if not _includable(p)])


def _includable(path: str, prefix: str = "") -> bool:
    if not path.startswith(prefix):
        return False
    head, _, tail = path.removeprefix(prefix).partition(".")
    return (head == "provided_details" and not tail) or (
        head == "verified_outputs" and tail in ("", *SENSITIVE_OUTPUTS)
    )


def _included(session: JSON, paths: list[str]) -> JSON:
    heads = {path.partition(".")[0] for path in paths}
    extra: JSON = {}
    if "provided_details" in heads:
        extra["provided_details"] = copy.deepcopy(session.get("_provided_details"))
    if "verified_outputs" in heads:
        outputs = copy.deepcopy(session.get("_verified_outputs"))
        if outputs is not None:
            for name in SENSITIVE_OUTPUTS:
                if f"verified_outputs.{name}" not in paths:
                    outputs[name] = None
        extra["verified_outputs"] = outputs
    return extra


def _session(ctx: Ctx) -> JSON:
    session = ctx.get(SESSION, ctx.path["id"])
    if session is None:
        raise resource_missing("verification_session", ctx.path["id"], param="session")
    return session


def _changeable(ctx: Ctx, action: str) -> JSON:
    session = _session(ctx)
    if session["redaction"] is not None:
        raise invalid_request("This VerificationSession has been redacted and can't be changed.")
    if session["status"] != "requires_input":
        raise invalid_request(
            f"You can only {action} a VerificationSession when its status is `requires_input`. "
            f"This VerificationSession's status is `{session['status']}`.",
        )
    return session


def _options(p: Params) -> JSON:
    raw = p.mapping("options")
    if raw is None:
        return {}
    for name in raw:
        if name in ("email", "phone", "id_number", "matching"):
            raise invalid_request(
                f"`options[{name}]` is a real Stripe parameter that the Tempwork sandbox does "
                "not simulate. Extend the sandbox before relying on it.",
                param=f"options[{name}]",
                code="parameter_not_simulated",
            )
        if name != "document":
            raise parameter_unknown(f"options[{name}]")
    document = raw.get("document")
    if document in (None, ""):
        return {}  # Stripe: an empty value unsets the document options
    if not isinstance(document, dict):
        raise invalid_request(
            "Invalid object: options[document] must be a hash.", param="options[document]"
        )
    options: JSON = {}
    for name, value in document.items():
        param = f"options[document][{name}]"
        if name == "allowed_types":
            options[name] = _allowed_types(value, param)
        elif name in DOCUMENT_FLAGS:
            options[name] = _boolean(value, param)
        else:
            raise parameter_unknown(param)
    return {"document": options}


def _allowed_types(value: Any, param: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise invalid_request(f"Invalid array: {param} must be a list of strings.", param=param)
    for item in values:
        if item not in DOCUMENT_TYPES:
            listed = ", ".join(f"`{t}`" for t in DOCUMENT_TYPES)
            raise invalid_request(f"Invalid {param}: must be one of {listed}", param=param)
    return list(values)


def _boolean(value: Any, param: str) -> bool:
    if value not in ("true", "false"):
        raise invalid_request(f"Invalid boolean: {value}", param=param)
    return bool(value == "true")


def _provided_details(p: Params) -> JSON | None:
    raw = p.mapping("provided_details")
    if raw is None:
        return None
    details: JSON = {}
    for name, value in raw.items():
        param = f"provided_details[{name}]"
        if name not in ("email", "phone"):
            raise parameter_unknown(param)
        if not isinstance(value, str):
            raise invalid_request(f"Invalid string: {param}", param=param)
        if name == "email" and not _EMAIL.match(value):
            raise invalid_request(
                "Invalid email address: " + value, param=param, code="email_invalid"
            )
        details[name] = value
    return details
