"""The `/v1` HTTP pipeline: auth → faults → parameters → idempotency → operation → response.

Every response carries `Request-Id`. The order of checks follows Stripe: a bad key is refused
before anything else; injected 429/500 faults answer before the operation runs (so nothing is
stored under the idempotency key); a 400 from validation is not stored either; everything that
began executing is stored and replayed for the same key.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import time

from fastapi import APIRouter, Request, Response

from ..store import JSON
from .context import Ctx
from .errors import ApiResult, StripeError, invalid_request, mask_key
from .formdecode import decode_form
from .idempotency import IdempotencyRecord, fingerprint, mismatch_error, scope_for
from .ids import new_request_id
from .params import Params
from .render import dumps
from .resources import (
    accounts,
    balance,
    charges,
    disputes,
    events,
    identity,
    payment_intents,
    payment_methods,
    refunds,
    transfers,
)
from .routing import Route, RouteTable
from .state import API_VERSION, StripeSandbox

log = logging.getLogger(__name__)

ROUTES = RouteTable()
for _module in (
    payment_intents,
    payment_methods,
    charges,
    refunds,
    transfers,
    accounts,
    disputes,
    events,
    balance,
    identity,
):
    ROUTES.extend(_module.routes)

_METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH"]


def api_router(sandbox: StripeSandbox) -> APIRouter:
    router = APIRouter()

    @router.api_route("/{path:path}", methods=_METHODS, include_in_schema=False)
    async def stripe_api(request: Request, path: str) -> Response:
        return await _handle(sandbox, request, "/" + path)

    return router


async def _handle(sandbox: StripeSandbox, request: Request, path: str) -> Response:
    request_id = new_request_id()
    method = request.method
    key = request.headers.get("idempotency-key") if method == "POST" else None
    headers = {
        "Request-Id": request_id,
        "Stripe-Version": request.headers.get("stripe-version", API_VERSION),
    }
    if key:
        headers["Idempotency-Key"] = key
    try:
        _authenticate(request, sandbox.settings.api_key)
        matched = ROUTES.match(method, path)
        if matched is None:
            raise invalid_request(
                f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
                "or we can help at https://support.stripe.com/.",
                status=404,
            )
        route, path_params = matched
        _inject_request_faults(sandbox)
        raw = (
            (await request.body()).decode(errors="replace")
            if method == "POST"
            else request.url.query
        )
        params = decode_form(raw)
        ctx = Ctx(
            sandbox,
            Params(params),
            path_params,
            request_id,
            key,
            api_version=request.headers.get("stripe-version") or API_VERSION,
        )
        if key:
            status, body = await _execute_idempotently(sandbox, ctx, route, method, path, headers)
        else:
            await _latency(sandbox)
            status, body = _execute(sandbox, ctx, route)
        if method == "POST":
            return await _after_commit(sandbox, request, path, status, body, headers)
        return Response(body, status, headers, media_type="application/json")
    except StripeError as error:
        return _error_response(error, request_id, headers)
    except Exception:
        log.exception("stripe sandbox failed on %s %s", method, path)
        return _error_response(
            StripeError(500, "api_error", "An unknown error occurred in the sandbox."),
            request_id,
            headers,
        )


def _authenticate(request: Request, expected: str) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    provided: str | None = None
    if scheme.lower() == "bearer":
        provided = value.strip()
    elif scheme.lower() == "basic":  # `curl -u sk_test_...:` works against Stripe too
        try:
            provided = base64.b64decode(value.strip()).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            provided = ""
    if not provided:
        raise StripeError(
            401,
            "invalid_request_error",
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or "
            "we can help at https://support.stripe.com/.",
            headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
            with_log_url=False,
        )
    if not hmac.compare_digest(provided.encode(), expected.encode()):
        raise StripeError(
            401,
            "invalid_request_error",
            f"Invalid API Key provided: {mask_key(provided)}",
            headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
            with_log_url=False,
        )


def _inject_request_faults(sandbox: StripeSandbox) -> None:
    fault = sandbox.faults.request_fault("stripe")
    if fault == "rate_limit":
        raise StripeError(
            429,
            "invalid_request_error",
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
            headers={"Retry-After": "1"},
        )
    if fault == "error":
        # Refused before running, so retrying (with the same idempotency key) is safe.
        raise StripeError(
            500,
            "api_error",
            "An unknown error occurred (injected by the sandbox before the request ran).",
            headers={"Stripe-Should-Retry": "true"},
        )


async def _latency(sandbox: StripeSandbox) -> None:
    await sandbox.faults.latency("stripe")


def _execute(sandbox: StripeSandbox, ctx: Ctx, route: Route) -> tuple[int, str]:
    with sandbox.store.db.atomic():
        return _render(route.handler(ctx))


def _render(result: JSON | ApiResult) -> tuple[int, str]:
    if isinstance(result, ApiResult):
        return result.status, dumps(result.body)
    return 200, dumps(result)


async def _execute_idempotently(
    sandbox: StripeSandbox, ctx: Ctx, route: Route, method: str, path: str, headers: dict[str, str]
) -> tuple[int, str]:
    assert ctx.idempotency_key is not None
    key = ctx.idempotency_key
    keys = sandbox.idempotency
    scope = scope_for(sandbox.settings.api_key)
    request_fingerprint = fingerprint(method, path, ctx.params.data)
    record = keys.lookup(scope, key)
    if record is not None:
        if record.fingerprint != request_fingerprint:
            raise mismatch_error(key)
        headers["Idempotent-Replayed"] = "true"
        headers["Original-Request"] = record.request_id
        return record.status, record.body
    keys.begin(scope, key)
    try:
        # Latency counts as execution time: a second request with the key meanwhile gets 409.
        await _latency(sandbox)
        with sandbox.store.db.atomic():
            status, body = _render(route.handler(ctx))
            keys.save(
                IdempotencyRecord(
                    scope=scope,
                    key=key,
                    fingerprint=request_fingerprint,
                    method=method,
                    path=path,
                    status=status,
                    body=body,
                    request_id=ctx.request_id or "",
                    created=time.time(),
                    object_ids=list(ctx.created_ids),
                )
            )
        return status, body
    finally:
        keys.end(scope, key)


async def _after_commit(
    sandbox: StripeSandbox,
    request: Request,
    path: str,
    status: int,
    body: str,
    headers: dict[str, str],
) -> Response:
    if "Idempotent-Replayed" not in headers:
        faults = sandbox.faults
        if faults.take_drop_after_commit(path, request.url.path):
            # The work is done and stored; only the answer is "lost on the way back".
            dropped = StripeError(
                500,
                "api_error",
                "An unknown error occurred (the sandbox dropped this response after the request "
                "completed).",
            )
            return _error_response(dropped, headers["Request-Id"], headers)
        hang = faults.take_hang_after_commit(path, request.url.path)
        if hang:
            await asyncio.sleep(hang)
    return Response(body, status, headers, media_type="application/json")


def _error_response(error: StripeError, request_id: str, headers: dict[str, str]) -> Response:
    return Response(
        dumps(error.body(request_id)),
        error.status,
        {**headers, **error.headers},
        media_type="application/json",
    )
