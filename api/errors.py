"""Every error the API returns is RFC 9457 problem+json, mapped here and nowhere else.

Domain errors derive from ``TempworkError``; a workflow's rejection (an update validator or
handler raising ``ApplicationError(type=<Rejection>)``) maps through ``REJECTION_STATUS``.
Nothing here ever echoes a stack trace, a provider secret or a raw upstream message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from models.errors import Rejection
from search.cursors import InvalidCursor

log = logging.getLogger("tempwork.api")

PROBLEM_JSON = "application/problem+json"

# slug → (status, title, what it means). Served at GET /problems/{slug} for humans.
PROBLEMS: dict[str, tuple[int, str, str]] = {
    "validation-error": (422, "Invalid request", "The body, query or path did not validate."),
    "unauthorized": (401, "Not authenticated", "Send a valid bearer token (POST /v1/auth/token)."),
    "invalid-credentials": (401, "Wrong email or password", "The credentials do not match."),
    "forbidden": (403, "Not allowed", "Your role or relation to this resource does not allow it."),
    "not-verified": (
        403,
        "Verification needed",
        "Finish the verification steps in `missing_steps` first (GET /v1/verifications).",
    ),
    "not-found": (404, "Not found", "No such resource (or it is not visible to you)."),
    "conflict": (409, "Not possible right now", "The command does not fit the current state."),
    "email-taken": (409, "Email already registered", "Log in instead, or use another email."),
    "idempotency-key-in-use": (
        409,
        "Request in progress",
        "A request with this Idempotency-Key is still running; retry shortly.",
    ),
    "idempotency-key-reused": (
        422,
        "Idempotency-Key reused",
        "This key was used for a different request.",
    ),
    "card-declined": (
        402,
        "Card declined",
        "The card was declined; nothing was charged. Try another card.",
    ),
    "payment-failed": (
        402,
        "Payment not completed",
        "The payment did not complete; nothing was charged.",
    ),
    "provider-unavailable": (
        503,
        "Provider unavailable",
        "A provider (payments, email, SMS, identity checks) did not answer in time. Try again "
        "shortly; nothing was done twice.",
    ),
    "too-many-requests": (
        429,
        "Too many requests",
        "Wait before trying again: the Retry-After header and `retry_after_seconds` say how long.",
    ),
    "verification-code-wrong": (
        422,
        "Wrong code",
        "The code does not match; `attempts_left` says how many tries remain.",
    ),
    "verification-code-locked": (
        409,
        "Code locked",
        "The code was entered wrong too many times. Ask for a new code.",
    ),
    "verification-code-expired": (
        409,
        "Code expired",
        "Codes are good for 10 minutes. Ask for a new code.",
    ),
    "invalid-phone-number": (
        422,
        "Phone number cannot receive text messages",
        "Use a mobile number in E.164 form, e.g. +15551234567.",
    ),
    "undeliverable": (
        422,
        "Could not be delivered",
        "The provider refused this address or request for good; check it and try again.",
    ),
    "temporal-unavailable": (
        503,
        "Service temporarily unavailable",
        "The workflow service did not answer; try again.",
    ),
    "database-unavailable": (
        503,
        "Service temporarily unavailable",
        "The database did not answer (restarting?); try again.",
    ),
    "timeout": (
        504,
        "Timed out",
        "The command did not finish in time; it may still complete — check the resource.",
    ),
    "payload-too-large": (
        413,
        "Request body too large",
        "Send less: the limit is in `detail` (and bodies are capped field by field too).",
    ),
    "request-timeout": (
        408,
        "Request body too slow",
        "The body did not arrive in time; send it again in one go.",
    ),
    "bad-signature": (400, "Invalid webhook signature", "The webhook signature did not verify."),
    "not-saved": (
        500,
        "Could not be saved",
        "The request was valid but our database refused it. Support has been told and will "
        "finish it; nothing was charged.",
    ),
    "internal": (500, "Internal error", "Something went wrong on our side. It has been logged."),
}

REJECTION_PROBLEM: dict[str, str] = {
    Rejection.INVALID_STATE: "conflict",
    Rejection.FORBIDDEN: "forbidden",
    Rejection.NOT_FOUND: "not-found",
    Rejection.INVALID: "validation-error",
    Rejection.NOT_VERIFIED: "not-verified",
    Rejection.CARD_DECLINED: "card-declined",
    Rejection.PAYMENT_FAILED: "payment-failed",
    Rejection.PROVIDER_UNAVAILABLE: "provider-unavailable",
    Rejection.TOO_MANY_REQUESTS: "too-many-requests",
    Rejection.WRONG_CODE: "verification-code-wrong",
    Rejection.CODE_LOCKED: "verification-code-locked",
    Rejection.CODE_EXPIRED: "verification-code-expired",
    Rejection.INVALID_PHONE: "invalid-phone-number",
    Rejection.UNDELIVERABLE: "undeliverable",
    Rejection.NOT_SAVED: "not-saved",
}
# Details a workflow may attach to a rejection that the caller may see (nothing else is
# copied: details could carry provider data).
PUBLIC_DETAILS = ("retry_after_seconds", "attempts_left", "missing_steps")


class TempworkError(Exception):
    """A domain error with a problem type; ``detail`` is safe to show to the caller."""

    def __init__(self, slug: str, detail: str | None = None, **extra: Any) -> None:
        assert slug in PROBLEMS, slug
        super().__init__(detail or PROBLEMS[slug][1])
        self.slug, self.detail, self.extra = slug, detail, extra

    @property
    def status(self) -> int:
        return PROBLEMS[self.slug][0]


class NotFound(TempworkError):
    def __init__(self, what: str) -> None:
        super().__init__("not-found", f"{what} not found")


class Forbidden(TempworkError):
    def __init__(self, detail: str) -> None:
        super().__init__("forbidden", detail)


class Conflict(TempworkError):
    def __init__(self, detail: str) -> None:
        super().__init__("conflict", detail)


def problem(
    slug: str,
    detail: str | None,
    instance: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    status, title, _ = PROBLEMS[slug]
    body = {"type": f"/problems/{slug}", "title": title, "status": status, "instance": instance}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# How long a person waits on a command before hearing 504 "may still complete": longer than
# the slowest command's own bound (funding waits up to FUNDING_TIMEOUT, 60 s, on the card),
# short enough that a command stuck behind a held workflow or a down worker is not a hung
# request. The command itself carries on in Temporal.
COMMAND_DEADLINE_SECONDS = 90.0


@asynccontextmanager
async def workflow_errors(what: str) -> AsyncIterator[None]:
    """Translates what Temporal says about a command into a domain error."""
    deadline_seconds = COMMAND_DEADLINE_SECONDS
    try:
        async with asyncio.timeout(deadline_seconds):
            yield
    except TimeoutError:
        raise TempworkError(
            "timeout",
            f"the {what} did not answer within {deadline_seconds:g} s; it may "
            "still complete: read it before trying again",
        ) from None
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in REJECTION_PROBLEM:
            extra = {"reason": cause.type, **_public_details(cause)}
            raise TempworkError(REJECTION_PROBLEM[cause.type], cause.message, **extra) from None
        log.error("unexpected update failure on %s: %r", what, cause)
        raise TempworkError("internal") from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise TempworkError("timeout") from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND and "completed" in err.message.lower():
            raise Conflict(f"this {what} has finished and takes no more commands") from None
        if err.status == RPCStatusCode.NOT_FOUND and "update" in err.message.lower():
            # The workflow is there; the server lost track of our command (a restart drops
            # updates still in flight). Whether it landed is unknown: retry, not 404.
            log.warning("temporal lost a command on %s: %s", what, err.message)
            raise TempworkError("temporal-unavailable") from None
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(what) from None
        if err.status == RPCStatusCode.FAILED_PRECONDITION and _says_finished(err.message):
            raise Conflict(f"this {what} has finished and takes no more commands") from None
        if err.status == RPCStatusCode.FAILED_PRECONDITION:
            # Not "finished": the server could not take the command right now (make chaos saw
            # this while a worker was being replaced). Retrying is right; 409 "finished" lied.
            log.warning("temporal refused a command on %s for now: %s", what, err.message)
            raise TempworkError("temporal-unavailable") from None
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED) or (
            # The connection broke mid-call (the Temporal server restarting): the SDK says
            # UNKNOWN "transport error". Whether the command landed is unknown, so the client
            # must retry — a 503, not a 500 — and every command is safe to repeat.
            err.status == RPCStatusCode.UNKNOWN and "transport error" in err.message
        ):
            raise TempworkError("temporal-unavailable") from None
        log.error("temporal error on %s: %s %s", what, err.status, err.message)
        raise TempworkError("internal") from None


def _says_finished(message: str) -> bool:
    lowered = message.lower()
    return any(word in lowered for word in ("completed", "closed", "closing", "not running"))


def _public_details(error: ApplicationError) -> dict[str, Any]:
    try:
        first = error.details[0] if error.details else None
    except Exception:  # undecodable details: show none
        return {}
    if not isinstance(first, dict):
        return {}
    return {k: first[k] for k in PUBLIC_DETAILS if k in first}


def install(app: FastAPI) -> None:
    @app.exception_handler(TempworkError)
    async def _domain(request: Request, exc: TempworkError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.slug == "idempotency-key-in-use":
            headers = {"Retry-After": "1"}
        if exc.status == 429:
            headers = {"Retry-After": str(exc.extra.get("retry_after_seconds", 1))}
        return problem(exc.slug, exc.detail, request.url.path, headers, **exc.extra)

    @app.exception_handler(InvalidCursor)
    async def _cursor(request: Request, exc: InvalidCursor) -> JSONResponse:
        return problem("validation-error", str(exc), request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return problem("validation-error", "see `errors`", request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {401: "unauthorized", 403: "forbidden", 404: "not-found", 409: "conflict"}.get(
            exc.status_code
        )
        if slug is None:
            body = {
                "type": "about:blank",
                "title": str(exc.detail),
                "status": exc.status_code,
                "instance": request.url.path,
            }
            return JSONResponse(body, exc.status_code, media_type=PROBLEM_JSON)
        return problem(slug, str(exc.detail), request.url.path, dict(exc.headers or {}) or None)

    # The database restarting or failing over: the request did nothing durable (or its
    # transaction was rolled back), so the client should simply retry — a 503, not a 500.
    @app.exception_handler(ConnectionError)
    @app.exception_handler(DBAPIError)
    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        lost = not isinstance(exc, DBAPIError) or (
            # OperationalError/InterfaceError are the driver's "connection" errors; any other
            # DBAPIError counts only when SQLAlchemy saw the connection drop under it (a
            # restart's "terminating connection due to administrator command").
            isinstance(exc, OperationalError | InterfaceError)
            or exc.connection_invalidated
            # Refused at connect while it shuts down or starts (57P01-57P03: "the database
            # system is shutting down"), or a connection exception (class 08).
            or str(getattr(exc.orig, "sqlstate", "")).startswith(("57P0", "08"))
        )
        if not lost:
            return await _unexpected(request, exc)
        log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
        return problem("database-unavailable", None, request.url.path, headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem("internal", None, request.url.path)


# --- the same, in /openapi.json ------------------------------------------------------------


class Problem(BaseModel):
    """RFC 9457 problem details: every error answer of this API, as application/problem+json."""

    model_config = ConfigDict(extra="allow")  # a problem type may add members (RFC 9457 §3.2)

    type: str = Field(description="A URI naming the problem; GET it for a description")
    title: str
    status: int = Field(description="The HTTP status code of this answer")
    detail: str | None = None
    instance: str | None = Field(default=None, description="The path that was requested")
    reason: str | None = Field(default=None, description="Why a workflow refused the command")
    retry_after_seconds: int | None = None
    attempts_left: int | None = None
    missing_steps: list[str] | None = Field(
        default=None, description="Verification steps still to do"
    )


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="Where: body, query, path or header, then the field")
    msg: str
    type: str


class ValidationProblem(Problem):
    """422: the request cannot be taken as it is. When the body, query, path or headers did not
    validate, `errors` names every offending field; other 422 problems (a wrong code, a number
    that cannot take texts, a reused Idempotency-Key) say why in `type` and `detail`."""

    errors: list[ValidationIssue] | None = None


def document(app: FastAPI) -> None:
    """Makes /openapi.json say what `install` does: every operation may answer an error as
    problem+json (`default`), and its 422 carries `errors` — instead of FastAPI's
    application/json `HTTPValidationError`, which this API never sends."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            _document_problems(schema)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _document_problems(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (Problem, ValidationIssue, ValidationProblem):
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(definition.pop("$defs", {}))
        components[model.__name__] = definition
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)

    def problem_response(model: type[Problem], description: str) -> dict[str, Any]:
        ref = {"$ref": f"#/components/schemas/{model.__name__}"}
        return {"description": description, "content": {PROBLEM_JSON: {"schema": ref}}}

    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = problem_response(
                    ValidationProblem, PROBLEMS["validation-error"][1]
                )
            responses["default"] = problem_response(
                Problem, "An error, as RFC 9457 problem details"
            )
