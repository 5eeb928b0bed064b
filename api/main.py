"""The FastAPI app: authenticates people, starts workflows, sends them commands, reads state.

uvicorn api.main:app        (``make dev`` starts it for you; docs at /docs)
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram

from activities.identity import checks_client
from activities.payments import stripe_client
from api import errors
from api.limits import BodyLimits
from api.routes import (
    auth,
    contracts,
    health,
    jobs,
    payout_accounts,
    support,
    users,
    verifications,
)
from api.webhooks import router as webhooks_router
from core.db import create_engine
from core.rate_limits import RateLimits
from core.settings import Settings, get_settings
from core.temporal import connect

REQUESTS = Counter("tempwork_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("tempwork_http_request_seconds", "HTTP request latency", ["method", "route"])


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Created once per process and shared by every request.
        app.state.settings = settings
        app.state.engine = create_engine(settings)
        app.state.rate_limits = RateLimits(app.state.engine)
        app.state.temporal = await connect(settings)
        app.state.stripe = stripe_client(settings)
        app.state.checks = checks_client(settings)  # webhooks look candidates up
        try:
            yield
        finally:
            await app.state.checks.aclose()
            await app.state.engine.dispose()

    app = FastAPI(
        title="Tempwork API",
        version="1.0.0",
        description="A labor marketplace whose long-lived processes are durable Temporal workflows. "
        "Errors are RFC 9457 problem+json; POSTs that create things or move money accept an "
        "`Idempotency-Key` header.",
        lifespan=lifespan,
    )
    errors.install(app)
    errors.document(app)
    app.add_middleware(
        BodyLimits,
        max_bytes=settings.max_request_body_bytes,
        webhook_max_bytes=settings.max_webhook_body_bytes,
        deadline_seconds=settings.request_body_deadline_seconds,
    )

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        return response

    @app.get("/problems/{slug}", include_in_schema=False)
    async def problem_type(slug: str) -> JSONResponse:
        if slug not in errors.PROBLEMS:
            raise errors.NotFound("problem type")
        status, title, meaning = errors.PROBLEMS[slug]
        return JSONResponse(
            {"type": f"/problems/{slug}", "title": title, "status": status, "description": meaning}
        )

    for router in (
        health.router,
        auth.router,
        users.router,
        jobs.router,
        contracts.router,
        payout_accounts.router,
        verifications.router,
        support.router,
        webhooks_router,
    ):
        app.include_router(router)
    return app


logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def __getattr__(name: str) -> FastAPI:
    # `uvicorn api.main:app` builds the app lazily, so importing this module (tests, tools)
    # needs no settings.
    if name == "app":
        return create_app()
    raise AttributeError(name)
