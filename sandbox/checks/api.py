"""The `/v1` pipeline: auth → route → faults → parameters → idempotency → operation → answer.

The order follows the Stripe sandbox (and what a client can observe at Checkr): a bad key is
refused before anything else; injected 429/500 faults answer before the operation runs, so
nothing is stored; errors (`CheckrError`) change nothing and are not stored under an
idempotency key either, because Checkr saves "the response ... for the first request if it is
successful (2xx status)".
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import time

from fastapi import APIRouter, Request, Response

from ..idempotency import IdempotencyRecord, fingerprint, scope_for
from ..store import JSON
from .context import Ctx, Reply, Route, RouteTable
from .errors import CheckrError
from .ids import iso
from .params import Params, decode_body, decode_form
from .render import dumps
from .resources import adverse_actions, candidates, invitations, packages, reports
from .state import ChecksState

log = logging.getLogger(__name__)

ROUTES = RouteTable()
for _module in (candidates, invitations, reports, adverse_actions, packages):
    ROUTES.extend(_module.routes)

_METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH"]
RATE_LIMIT_PER_MINUTE = 1200  # Checkr's documented limit, shown in X-Ratelimit-Limit


def api_router(state: ChecksState) -> APIRouter:
    router = APIRouter()

    @router.api_route("/v1/{path:path}", methods=_METHODS, include_in_schema=False)
    async def checks_api(request: Request, path: str) -> Response:
        return await _handle(state, request, "/v1/" + path)

    return router


async def _handle(state: ChecksState, request: Request, path: str) -> Response:
    method = request.method
    try:
        _authenticate(request, state.settings.api_key)
        matched = ROUTES.match(method, path)
        if matched is None:
            raise CheckrError(404, "Not Found")
        route, path_params = matched
        _inject_request_faults(state)
        if method == "GET":
            raw = decode_form(request.url.query)
        else:
            raw = decode_body(request.headers.get("content-type", ""), await request.body())
        ctx = Ctx(state, Params(raw), path_params)
        key = request.headers.get("idempotency-key") if method == "POST" else None
        if key:
            reply, replayed = await _execute_idempotently(state, ctx, route, method, path, key)
        else:
            await state.faults.latency("checks")
            reply, replayed = _execute(state, ctx, route), False
        if method != "GET" and not replayed:
            return await _after_commit(state, request, path, reply)
        return _json(reply.status, reply.body)
    except CheckrError as error:
        return _json(error.status, error.body(), error.headers)
    except Exception:
        log.exception("checks sandbox failed on %s %s", method, path)
        return _json(500, {"error": "Internal Server Error"})


def _authenticate(request: Request, expected: str) -> None:
    """HTTP Basic with the API key as user name and an empty password, as Checkr wants."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    provided = ""
    if scheme.lower() == "basic":
        try:
            provided = base64.b64decode(value.strip()).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            provided = ""
    if not provided or not hmac.compare_digest(provided.encode(), expected.encode()):
        raise CheckrError(401, "Bad authentication error")


def _inject_request_faults(state: ChecksState) -> None:
    fault = state.faults.request_fault("checks")
    if fault == "rate_limit":
        # Checkr documents X-Ratelimit-* headers (the reset as a time), not Retry-After.
        raise CheckrError(
            429,
            "Too Many Requests",
            headers={
                "X-Ratelimit-Limit": str(RATE_LIMIT_PER_MINUTE),
                "X-Ratelimit-Remaining": "0",
                "X-Ratelimit-Reset": iso(time.time() + 1),
            },
        )
    if fault == "error":
        raise CheckrError(500, "Internal Server Error")


def _execute(state: ChecksState, ctx: Ctx, route: Route) -> Reply:
    with state.store.db.atomic():
        result = route.handler(ctx)
    return result if isinstance(result, Reply) else Reply(200, result)


async def _execute_idempotently(
    state: ChecksState, ctx: Ctx, route: Route, method: str, path: str, key: str
) -> tuple[Reply, bool]:
    keys = state.idempotency
    scope = scope_for(state.settings.api_key)
    request_fingerprint = fingerprint(method, path, ctx.params.data)
    record = keys.lookup(scope, key)
    if record is not None:
        if record.fingerprint != request_fingerprint:
            # Checkr does not document this case; refusing (as the IETF Idempotency-Key draft
            # does, with 422) is our provider contract: a reused key is a bug in the caller.
            raise CheckrError(
                422,
                f"Idempotency-Key {key} was already used with different request parameters",
            )
        return Reply(record.status, _stored(record)), True
    keys.begin(scope, key)
    try:
        await state.faults.latency("checks")  # running time: a second request meanwhile gets 409
        with state.store.db.atomic():
            reply = _execute(state, ctx, route)
            keys.save(
                IdempotencyRecord(
                    scope=scope,
                    key=key,
                    fingerprint=request_fingerprint,
                    method=method,
                    path=path,
                    status=reply.status,
                    body=dumps(reply.body),
                    request_id="",
                    created=time.time(),
                    object_ids=[reply.body["id"]] if "id" in reply.body else [],
                )
            )
        return reply, False
    finally:
        keys.end(scope, key)


def _stored(record: IdempotencyRecord) -> JSON:
    body: JSON = json.loads(record.body)
    return body


async def _after_commit(state: ChecksState, request: Request, path: str, reply: Reply) -> Response:
    faults = state.faults
    if faults.take_drop_after_commit(path, request.url.path):
        # The work is done and stored; only the answer is "lost on the way back".
        return _json(500, {"error": "Internal Server Error"})
    hang = faults.take_hang_after_commit(path, request.url.path)
    if hang:
        await asyncio.sleep(hang)
    return _json(reply.status, reply.body)


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status, headers, media_type="application/json")
