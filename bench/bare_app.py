"""A bare ASGI app: the floor under the API's reads. Raw ASGI (no framework, no auth, no
middleware, no SQLAlchemy), one psycopg pool, served by the same uvicorn with the same flags
as the product's API, so the difference to GET /v1/contracts/{id} is the product.

    GET /contracts/{id}   the row the API reads (SELECT * FROM contracts WHERE id = …), as JSON
    GET /health           200 once the pool is open

``bare_app_process`` starts it as its own process (``uvicorn bench.bare_app:app``).
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from devstack.processes import ManagedProcess, http_ok

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DATABASE_URL_ENV = "BENCH_DATABASE_URL"
# The product's database_pool_size (core/settings.py).
POOL_SIZE = 10
# uvicorn's flags for the product's API (devstack/stack.py api_process), besides host/port.
# uvloop and httptools are what uvicorn's "auto" picks when they are installed; named here so
# the floor cannot silently fall back to asyncio/h11.
SERVER_FLAGS = ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]

READ_CONTRACT = "SELECT * FROM contracts WHERE id = %s"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_pool: AsyncConnectionPool | None = None


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    global _pool
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            dsn = os.environ[DATABASE_URL_ENV].replace("postgresql+psycopg://", "postgresql://")
            # All connections opened up front (warm, like the product's pool when measured).
            _pool = AsyncConnectionPool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE, open=False)
            await _pool.open(wait=True)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if _pool is not None:
                await _pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    if scope["method"] == "GET" and path.startswith("/contracts/"):
        try:
            contract_id = uuid.UUID(path.removeprefix("/contracts/"))
        except ValueError:
            await _respond(send, 404, b'{"detail":"not found"}')
            return
        assert _pool is not None
        async with _pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(READ_CONTRACT, (contract_id,))
            row = await cur.fetchone()
        if row is None:
            await _respond(send, 404, b'{"detail":"contract not found"}')
        else:
            # uuid and timestamptz as strings; `state` (jsonb) arrives as a dict.
            await _respond(send, 200, json.dumps(row, default=str).encode())
    elif scope["method"] == "GET" and path == "/health":
        await _respond(send, 200, b'{"status":"ok"}')
    else:
        await _respond(send, 404, b'{"detail":"not found"}')


def bare_app_process(database_url: str, port: int, logs: Path) -> ManagedProcess:
    """Starts the bare app on ``HOST:port`` and returns once it answers; stop it with
    ``.stop()`` (by the PID it was started with)."""
    process = ManagedProcess(
        "bare-app",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--host",
            HOST,
            "--port",
            str(port),
            *SERVER_FLAGS,
        ],
        log_path=logs / "bare-app.log",
        env={DATABASE_URL_ENV: database_url},
        cwd=ROOT,
        ready=lambda: http_ok(f"http://{HOST}:{port}/health"),
    )
    return process.start(timeout=60)
