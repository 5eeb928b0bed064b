"""The FastAPI app: authenticates people, starts workflows, sends them commands, reads state.

uvicorn api.main:app        (``make dev`` starts it for you; docs at /docs)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from activities.identity import checks_client
from activities.payments import stripe_client
from api import errors
from api.limits import BodyLimits
from api.metrics import RequestMetrics
from api.request_context import RequestContext
from api.routes import (
    auth,
    contracts,
    health,
    jobs,
    payout_accounts,
    profiles,
    support,
    support_actions,
    users,
    verifications,
)
from api.webhooks import router as webhooks_router
from core.db import create_engine, create_search_engine
from core.logs import configure_logging
from core.rate_limits import RateLimits
from core.settings import Settings, get_settings
from core.temporal import connect
from core.tracing import temporal_interceptors, tracer_provider
from search.postgres import PostgresSearch

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider


def create_app(
    settings: Settings | None = None, *, traces: TracerProvider | None = None
) -> FastAPI:
    """``traces``: a tracer provider of the caller's (tests); by default one exporting by
    OTLP when an endpoint is configured, else none (core/tracing.py)."""
    settings = settings or get_settings()
    configure_logging(settings)
    own_traces = traces is None
    if own_traces:
        traces = tracer_provider(settings, "api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Created once per process and shared by every request.
        app.state.settings = settings
        app.state.engine = create_engine(settings)
        search_engine = create_search_engine(settings)
        app.state.search = PostgresSearch(search_engine)
        app.state.rate_limits = RateLimits(app.state.engine)
        app.state.temporal = await connect(settings, interceptors=temporal_interceptors(traces))
        app.state.stripe = stripe_client(settings)
        app.state.checks = checks_client(settings)  # webhooks look candidates up
        try:
            yield
        finally:
            await app.state.checks.aclose()
            await app.state.engine.dispose()
            await search_engine.dispose()
            if own_traces and traces is not None:
                traces.shutdown()  # sends the spans still batched

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
    app.add_middleware(RequestMetrics)  # it also counts the 413s and 408s above
    # Outermost: the request id and the span cover everything below, metrics included.
    app.add_middleware(
        RequestContext, tracer=traces.get_tracer("tempwork.api") if traces is not None else None
    )

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
        profiles.router,
        contracts.router,
        payout_accounts.router,
        verifications.router,
        support.router,
        support_actions.router,
        webhooks_router,
    ):
        app.include_router(router)
    return app


def __getattr__(name: str) -> FastAPI:
    # `uvicorn api.main:app` builds the app lazily, so importing this module (tests, tools)
    # needs no settings.
    if name == "app":
        return create_app()
    raise AttributeError(name)
