"""Per request: an id for the logs (``X-Request-Id``, taken from the caller or made up, and
sent back) and, when tracing is on, a server span that the Temporal client's tracing
interceptor continues into the workflow and its activities (core/tracing.py).

Plain ASGI, like api/metrics.py, for the reason given there. When tracing is off no tracer
exists and the only cost is one contextvar set per request.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.logs import REQUEST_ID

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

HEADER = b"x-request-id"
# A caller's id is kept only if it looks like an id: it goes into every log line of the
# request, so nothing long, nothing that could forge a JSON field or a new log line.
ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            candidate = value.decode("latin-1")
            if ACCEPTABLE_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestContext:
    def __init__(self, app: ASGIApp, tracer: Tracer | None = None) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        token = REQUEST_ID.set(request_id)

        status = 500  # what the client sees when the app raises before answering

        async def tagged_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (HEADER, request_id.encode())]
            await send(message)

        try:
            if self.tracer is None:
                await self.app(scope, receive, tagged_send)
            else:
                await self._traced(scope, receive, tagged_send, request_id, lambda: status)
        finally:
            REQUEST_ID.reset(token)

    async def _traced(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, status: Callable[[], int]
    ) -> None:
        from opentelemetry import propagate
        from opentelemetry.trace import SpanKind, Status, StatusCode

        assert self.tracer is not None
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        with self.tracer.start_as_current_span(
            method,
            context=propagate.extract(carrier),  # a caller's traceparent, if any
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": scope["path"],
                "tempwork.request_id": request_id,
            },
            record_exception=False,  # exception text may quote personal data
            set_status_on_exception=True,
        ) as span:
            try:
                await self.app(scope, receive, send)
            finally:
                # The router wrote the matched route into the scope: the template, not the
                # path with its ids, names the span (bounded cardinality, as in api/metrics.py).
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                code = status()
                span.set_attribute("http.response.status_code", code)
                if code >= 500:
                    span.set_status(Status(StatusCode.ERROR))
