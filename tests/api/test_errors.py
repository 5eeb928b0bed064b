"""How Temporal's and the database's failures become problem+json statuses (no server needed)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import TempworkError, install, workflow_errors


@pytest.mark.parametrize(
    ("status", "message", "slug"),
    [
        (RPCStatusCode.UNAVAILABLE, "connection refused", "temporal-unavailable"),
        # What a call in flight gets while the Temporal server restarts (seen in make chaos).
        (RPCStatusCode.UNKNOWN, "transport error", "temporal-unavailable"),
        (RPCStatusCode.UNKNOWN, "something else", "internal"),
        (RPCStatusCode.NOT_FOUND, "workflow not found", "not-found"),
        (RPCStatusCode.NOT_FOUND, "workflow execution already completed", "conflict"),
        (RPCStatusCode.NOT_FOUND, "update not found", "temporal-unavailable"),
        (RPCStatusCode.FAILED_PRECONDITION, "workflow execution already completed", "conflict"),
        # Refused for now while the workflow still runs: retry, it has not finished.
        (
            RPCStatusCode.FAILED_PRECONDITION,
            "update cannot be admitted now",
            "temporal-unavailable",
        ),
    ],
)
async def test_temporal_rpc_errors_map_to_problems(
    status: RPCStatusCode, message: str, slug: str
) -> None:
    with pytest.raises(TempworkError) as raised:
        async with workflow_errors("job"):
            raise RPCError(message, status, b"")
    assert raised.value.slug == slug


class _Sqlstate(Exception):
    """A driver error carrying PostgreSQL's SQLSTATE, as asyncpg's and psycopg's do."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),  # PostgreSQL down: asyncpg connect
        OperationalError("SELECT 1", {}, Exception("the database system is shutting down")),
        # A pooled connection cut mid-query by the restart (asyncpg's generic Error).
        DBAPIError(
            "SELECT 1", {}, Exception("terminating connection"), connection_invalidated=True
        ),
        # Connecting while it shuts down (asyncpg's CannotConnectNowError, seen in make chaos).
        DBAPIError("SELECT 1", {}, _Sqlstate("57P03", "the database system is shutting down")),
    ],
)
async def test_a_database_that_does_not_answer_is_a_503_to_retry(error: Exception) -> None:
    app = FastAPI()
    install(app)

    @app.get("/needs-db")
    async def needs_db() -> None:
        raise error

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/needs-db")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"] == "/problems/database-unavailable"


async def test_a_database_error_that_is_not_about_the_connection_stays_a_500() -> None:
    app = FastAPI()
    install(app)

    @app.get("/bug")
    async def bug() -> None:
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/bug")
    assert response.status_code == 500
    assert response.json()["type"] == "/problems/internal"
