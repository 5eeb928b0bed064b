"""Request metrics as pure ASGI middleware: a counter and a latency histogram per route
template. Written against ASGI rather than ``@app.middleware("http")`` because Starlette's
BaseHTTPMiddleware runs every request through an extra task and memory stream, which a py-spy
profile of the read load put at a sizeable share of the API's CPU (issue 9)."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("tempwork_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("tempwork_http_request_seconds", "HTTP request latency", ["method", "route"])


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees when the app raises before answering

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            # The router writes the matched route into the (shared) scope; the template, not
            # the concrete path, keeps the label set bounded.
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)
