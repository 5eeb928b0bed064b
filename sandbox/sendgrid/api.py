"""The `/v3` HTTP pipeline: auth → route → injected faults → latency → operation.

One endpoint receives every `/sendgrid/...` request so that every answer, including 404s, 405s
and malformed JSON, comes back in SendGrid's error shape rather than FastAPI's. Mail Send has no
idempotency key at SendGrid: a retried send is a second email, and the only way to learn whether
a send whose answer was lost went out is to search Email Activity (by a custom argument).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response

from .activity import detail, summary
from .delivery import send_mail
from .errors import (
    SendGridError,
    authorization_required,
    bad_request,
    content_too_large,
    entry,
    internal_error,
    invalid_grant,
    json_response,
    method_not_allowed,
    not_found,
    too_many_requests,
)
from .mail_send import MailSendInvalid, parse_mail_send
from .query import compile_query
from .state import SendGridSandbox

log = logging.getLogger(__name__)

MAX_MAIL_SEND_BYTES = 30 * 1024 * 1024  # SendGrid's total message size limit
DEFAULT_ACTIVITY_LIMIT = 10
MAX_ACTIVITY_LIMIT = 1000
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

Operation = Callable[[SendGridSandbox, Request, dict[str, str], str], Awaitable[Response]]


def api_router(sandbox: SendGridSandbox) -> APIRouter:
    router = APIRouter()

    @router.api_route("/{path:path}", methods=_METHODS, include_in_schema=False)
    async def sendgrid_api(request: Request, path: str) -> Response:
        return await _handle(sandbox, request, "/" + path)

    return router


async def _handle(sandbox: SendGridSandbox, request: Request, path: str) -> Response:
    try:
        api_key_id = _authenticate(request, sandbox.settings.api_key)
        operation, path_params = _route(request.method, path)
        fault = sandbox.faults.request_fault("sendgrid")
        if fault == "rate_limit":
            raise too_many_requests()
        if fault == "error":  # refused before running: nothing was sent
            raise internal_error()
        await sandbox.faults.latency("sendgrid")
        return await operation(sandbox, request, path_params, api_key_id)
    except SendGridError as error:
        return error.response()
    except Exception:
        log.exception("sendgrid sandbox failed on %s %s", request.method, path)
        return internal_error().response()


def _authenticate(request: Request, expected: str) -> str:
    """The API key's id (SendGrid's `api_key_id`), or SendGrid's 401."""
    header = request.headers.get("authorization", "").strip()
    if not header:
        raise authorization_required()
    scheme, _, provided = header.partition(" ")
    provided = provided.strip()
    if scheme.lower() != "bearer" or not hmac.compare_digest(provided.encode(), expected.encode()):
        raise invalid_grant()
    return api_key_id(expected)


def api_key_id(api_key: str) -> str:
    """SendGrid keys read `SG.<key id>.<secret>`; the id is what Email Activity shows."""
    parts = api_key.split(".")
    if len(parts) == 3 and parts[0] == "SG" and parts[1]:
        return parts[1]
    return hashlib.sha256(api_key.encode()).hexdigest()[:22]


async def _mail_send(
    sandbox: SendGridSandbox, request: Request, _: dict[str, str], api_key_id: str
) -> Response:
    raw = await request.body()
    if len(raw) > MAX_MAIL_SEND_BYTES:
        raise content_too_large()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request([entry("Bad Request")]) from None
    try:
        mail = parse_mail_send(body)
    except MailSendInvalid as invalid:
        raise bad_request(invalid.errors) from None
    if mail.sandbox_mode:
        # SendGrid's own sandbox mode: validated, nothing sent, 200 instead of 202.
        status, headers = 200, {}
    else:
        with sandbox.store.db.atomic():
            x_message_id = send_mail(sandbox, mail, api_key_id)
        status, headers = 202, {"X-Message-Id": x_message_id}
    faults = sandbox.faults
    if faults.take_drop_after_commit("/v3/mail/send", request.url.path):
        # The email is stored, searchable and "delivered"; only the answer is lost.
        return internal_error().response()
    hang = faults.take_hang_after_commit("/v3/mail/send", request.url.path)
    if hang:
        await asyncio.sleep(hang)
    return Response(status_code=status, headers=headers)


async def _list_messages(
    sandbox: SendGridSandbox, request: Request, _: dict[str, str], __: str
) -> Response:
    limit = _limit(request.query_params.get("limit"))
    query = (request.query_params.get("query") or "").strip()
    matches = compile_query(query) if query else (lambda _: True)
    messages = sandbox.activity.search(matches, limit)
    return json_response({"messages": [summary(m) for m in messages]})


async def _get_message(
    sandbox: SendGridSandbox, _: Request, path_params: dict[str, str], __: str
) -> Response:
    record = sandbox.activity.get(path_params["msg_id"])
    if record is None:
        raise not_found("message_id")
    return json_response(detail(record))


def _limit(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_ACTIVITY_LIMIT
    try:
        limit = int(float(value))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_ACTIVITY_LIMIT:
        raise bad_request(
            [
                {
                    "message": f"limit must be greater than 0 and less than or equal to "
                    f"{MAX_ACTIVITY_LIMIT}",
                    "field": "limit",
                }
            ]
        )
    return limit


_ROUTES: list[tuple[str, re.Pattern[str], Operation]] = [
    ("POST", re.compile(r"^/v3/mail/send/?$"), _mail_send),
    ("GET", re.compile(r"^/v3/messages/?$"), _list_messages),
    ("GET", re.compile(r"^/v3/messages/(?P<msg_id>[^/]+)/?$"), _get_message),
]


def _route(method: str, path: str) -> tuple[Operation, dict[str, str]]:
    known_path = False
    for route_method, pattern, operation in _ROUTES:
        found = pattern.match(path)
        if found is None:
            continue
        if route_method == method:
            return operation, found.groupdict()
        known_path = True
    raise method_not_allowed() if known_path else not_found()
