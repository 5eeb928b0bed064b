"""The HTTP pipeline of every Twilio API call: auth → faults → parameters → operation → answer.

The order follows Twilio: bad credentials are refused before anything else; injected 429/500
faults answer before the operation runs, so nothing is stored and a retry is safe; a POST that
ran and was stored can still lose its answer (`drop_response_after_commit`), which is how the
app's "worker killed mid-send" tests find out whether they text a person twice. Twilio has no
idempotency keys for Messages, so a retried send really is a second text.

Every answer carries `Twilio-Request-Id`, as Twilio's do.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
from collections.abc import Callable
from urllib.parse import parse_qsl

from fastapi import Request, Response

from ..store import JSON
from .errors import TwilioError, authentication_failed, internal_error, rate_limited
from .sids import REQUEST, new_sid
from .state import TwilioSandbox

log = logging.getLogger(__name__)

PROVIDER = "twilio"


class Params:
    """Form or query parameters in arrival order; Twilio repeats names for lists (`MediaUrl`)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str) -> str | None:
        for key, value in self.pairs:
            if key == name:
                return value
        return None

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def __contains__(self, name: object) -> bool:
        return any(key == name for key, _ in self.pairs)


Operation = Callable[[Params], tuple[int, JSON]]


async def handle(
    sandbox: TwilioSandbox,
    request: Request,
    operation: Operation,
    *,
    account_sid: str | None = None,
) -> Response:
    """Run one API call; `account_sid` is the one in the path, for 2010-04-01 resources."""
    headers = {"Twilio-Request-Id": new_sid(REQUEST)}
    try:
        authenticate(request, sandbox, account_sid)
        _inject_request_faults(sandbox)
        await sandbox.faults.latency(PROVIDER)
        params = await _read_params(request)
        with sandbox.store.db.atomic():
            status, body = operation(params)
        if request.method == "POST":
            await _after_commit(sandbox, request)
        return json_response(status, body, headers)
    except TwilioError as error:
        return error_response(error, headers)
    except Exception:
        log.exception("twilio sandbox failed on %s %s", request.method, request.url.path)
        return error_response(internal_error("the sandbox failed; see its log"), headers)


def authenticate(request: Request, sandbox: TwilioSandbox, account_sid: str | None) -> None:
    """HTTP Basic `AccountSid:AuthToken`; the account in the path must be the same one."""
    settings = sandbox.settings
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise authentication_failed()
    try:
        username, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise authentication_failed() from None
    valid = hmac.compare_digest(username.encode(), settings.account_sid.encode())
    valid &= hmac.compare_digest(password.encode(), settings.auth_token.encode())
    if account_sid is not None:
        valid &= account_sid == settings.account_sid
    if not valid:
        raise authentication_failed()


def _inject_request_faults(sandbox: TwilioSandbox) -> None:
    fault = sandbox.faults.request_fault(PROVIDER)
    if fault == "rate_limit":
        raise rate_limited()
    if fault == "error":
        raise internal_error("injected by the sandbox before the request ran")


async def _read_params(request: Request) -> Params:
    if request.method == "POST":
        body = (await request.body()).decode(errors="replace")
        return Params(parse_qsl(body, keep_blank_values=True))
    return Params(list(request.query_params.multi_items()))


async def _after_commit(sandbox: TwilioSandbox, request: Request) -> None:
    path = provider_path(request)
    if sandbox.faults.take_drop_after_commit(path, request.url.path):
        # The work is done and stored; only the answer is "lost on the way back".
        raise internal_error("the sandbox dropped this response after the request completed")
    hang = sandbox.faults.take_hang_after_commit(path, request.url.path)
    if hang:
        await asyncio.sleep(hang)


def provider_path(request: Request) -> str:
    """`/twilio/api/2010-04-01/…` → `/api/2010-04-01/…` (what fault prefixes may also name)."""
    parts = request.url.path.split("/", 2)
    return "/" + parts[2] if len(parts) > 2 else request.url.path


def twilio_path(request: Request) -> str:
    """The path as Twilio's own host saw it: `/2010-04-01/Accounts/…`, `/v2/Services/…`."""
    parts = request.url.path.split("/", 3)
    return "/" + parts[3] if len(parts) > 3 else request.url.path


def json_response(status: int, body: JSON, headers: dict[str, str]) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status,
        headers,
        media_type="application/json; charset=utf-8",
    )


def error_response(error: TwilioError, headers: dict[str, str]) -> Response:
    return json_response(error.status, error.body(), {**headers, **error.headers})
