"""Everything under `/twilio`: `api/2010-04-01/…` (api.twilio.com) and `verify/v2/…`.

`core.twilio_http` sends `https://<product>.twilio.com/<path>` to `<sandbox>/twilio/<product>/
<path>`, so each product's real paths sit under its own prefix. A path Twilio does not have (or
the sandbox does not simulate) is Twilio's 404 (20404), after authentication as on Twilio.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.routing import Match

from ..store import JSON
from . import messages, verify
from .errors import TwilioError, method_not_allowed, not_found
from .pipeline import Params, authenticate, error_response, handle, twilio_path
from .sids import REQUEST, new_sid
from .state import TwilioSandbox

MESSAGES = "/api/2010-04-01/Accounts/{account_sid}/Messages.json"
MESSAGE = "/api/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json"
VERIFICATIONS = "/verify/v2/Services/{service_sid}/Verifications"
VERIFICATION = "/verify/v2/Services/{service_sid}/Verifications/{sid}"
VERIFICATION_CHECK = "/verify/v2/Services/{service_sid}/VerificationCheck"

_METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH"]


def api_router(sandbox: TwilioSandbox) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.post(MESSAGES)
    async def create_message(request: Request, account_sid: str) -> Response:
        return await handle(
            sandbox,
            request,
            lambda params: (201, messages.public(messages.send(sandbox, params))),
            account_sid=account_sid,
        )

    @router.get(MESSAGES)
    async def list_messages(request: Request, account_sid: str) -> Response:
        return await handle(
            sandbox,
            request,
            lambda params: (200, messages.listing(sandbox, params)),
            account_sid=account_sid,
        )

    @router.get(MESSAGE)
    async def fetch_message(request: Request, account_sid: str, sid: str) -> Response:
        path = twilio_path(request)
        return await handle(
            sandbox,
            request,
            lambda _: (200, messages.fetch(sandbox, sid, path)),
            account_sid=account_sid,
        )

    @router.post(VERIFICATIONS)
    async def start_verification(request: Request, service_sid: str) -> Response:
        path = twilio_path(request)
        return await handle(
            sandbox, request, lambda params: (201, verify.start(sandbox, service_sid, params, path))
        )

    @router.get(VERIFICATION)
    async def fetch_verification(request: Request, service_sid: str, sid: str) -> Response:
        path = twilio_path(request)
        return await handle(
            sandbox, request, lambda _: (200, verify.fetch(sandbox, service_sid, sid, path))
        )

    @router.post(VERIFICATION)
    async def update_verification(request: Request, service_sid: str, sid: str) -> Response:
        path = twilio_path(request)

        def operation(params: Params) -> tuple[int, JSON]:
            return 200, verify.update(sandbox, service_sid, sid, params, path)

        return await handle(sandbox, request, operation)

    @router.post(VERIFICATION_CHECK)
    async def check_verification(request: Request, service_sid: str) -> Response:
        path = twilio_path(request)
        return await handle(
            sandbox, request, lambda params: (200, verify.check(sandbox, service_sid, params, path))
        )

    known_routes = list(router.routes)

    @router.api_route("/{rest:path}", methods=_METHODS)
    async def unknown(request: Request, rest: str) -> Response:
        headers = {"Twilio-Request-Id": new_sid(REQUEST)}
        try:
            authenticate(request, sandbox, None)
            # A real path with a method Twilio has but the sandbox does not simulate (e.g.
            # DELETE a message) says so, rather than pretending the resource is missing.
            if any(_path_matches(route, request, rest) for route in known_routes):
                raise method_not_allowed(request.method)
            raise not_found(twilio_path(request))
        except TwilioError as error:
            return error_response(error, headers)

    return router


def _path_matches(route: object, request: Request, rest: str) -> bool:
    matches = getattr(route, "matches", None)
    if matches is None:
        return False
    scope = {"type": "http", "path": "/" + rest, "root_path": "", "method": request.method}
    match, _ = matches(scope)
    return bool(match == Match.PARTIAL)
