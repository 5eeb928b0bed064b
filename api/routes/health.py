"""Liveness, readiness (Postgres + Temporal reachable) and Prometheus metrics."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from api.deps import EngineDep, TemporalDep
from core.db import autocommit

router = APIRouter(tags=["health"])


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "PostgreSQL or Temporal is unreachable"}},
)
async def ready(engine: EngineDep, temporal: TemporalDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2), autocommit(engine) as conn:
            await conn.execute(sa.text("SELECT 1"))
        checks["postgres"] = "ok"
    except Exception as err:
        checks["postgres"] = f"unavailable: {type(err).__name__}"
    try:
        async with asyncio.timeout(2):
            await temporal.service_client.check_health()
        checks["temporal"] = "ok"
    except Exception as err:
        checks["temporal"] = f"unavailable: {type(err).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "checks": checks}, 200 if ok else 503
    )


@router.get("/metrics", response_class=PlainTextResponse)  # Prometheus text format
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
