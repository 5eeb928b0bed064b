"""The worker's one HTTP port: what Kubernetes probes and Prometheus scrapes.

    GET /health/live    200 while the process and its event loop answer
    GET /health/ready   200 when the worker is polling, and Temporal and PostgreSQL answer
    GET /metrics        the Temporal SDK's metrics and ours, one Prometheus text page

One port rather than two: the SDK serves its metrics from its own (Rust) HTTP server, which
we bind to a free loopback port nobody outside sees, and /metrics here appends its page to
ours (different name prefixes, ``temporal_`` and ``tempwork_``/``process_``/``python_``, so the
families never collide). A pod then has one port to expose, probe and scrape, one
``prometheus.io/port`` annotation, and ``up`` for the worker means both halves answered;
if the SDK's half fails, ``tempwork_worker_sdk_metrics_up`` says so instead of the whole
scrape failing.

A few lines of asyncio streams rather than a web framework: three GETs with no bodies, and
uvicorn's server would install its own signal handlers over the worker's graceful shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Gauge
from prometheus_client.exposition import generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from core.db import autocommit
from workers.business_metrics import BusinessMetrics

log = logging.getLogger("tempwork.worker.health")

CHECK_TIMEOUT_SECONDS = 2.0
REQUEST_TIMEOUT_SECONDS = 10.0  # a slow or silent client never holds a connection longer

# In its own registry: an API and a worker in one process (the tests) must not register it
# twice in the default one.
_OWN = CollectorRegistry(auto_describe=True)
SDK_METRICS_UP = Gauge(
    "tempwork_worker_sdk_metrics_up",
    "1 when the Temporal SDK's metrics were read for this scrape",
    registry=_OWN,
)


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
REASONS |= {503: "Service Unavailable"}


class WorkerEndpoint:
    """Serves the three paths for one worker process."""

    # Path → method. /health is /health/ready under the name load balancers guess first.
    ROUTES = {
        "/health/live": "live",
        "/health/ready": "ready",
        "/health": "ready",
        "/metrics": "metrics",
    }

    def __init__(
        self,
        *,
        client: Client,
        engine: AsyncEngine,
        polling: Callable[[], bool],
        business: BusinessMetrics,
        sdk_metrics_url: str | None,
    ) -> None:
        self.client = client
        self.engine = engine
        self.polling = polling
        self.business = business
        self.sdk_metrics_url = sdk_metrics_url
        self._registry = CollectorRegistry(auto_describe=True)
        self._registry.register(business)
        self._http = httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS)
        self._server: asyncio.Server | None = None

    # --- the paths ------------------------------------------------------------------------

    async def live(self) -> Response:
        return Response(200, b'{"status":"ok"}')

    async def ready(self) -> Response:
        checks = {
            "worker": "ok" if self.polling() else "not polling",
            "temporal": await _check(self.client.service_client.check_health),
            "postgres": await _check(self._select_one),
        }
        ok = all(v == "ok" for v in checks.values())
        body = {"status": "ok" if ok else "degraded", "checks": checks}
        return Response(200 if ok else 503, json.dumps(body).encode())

    async def metrics(self) -> Response:
        sdk_page, _ = await asyncio.gather(self._sdk_page(), self.business.refresh())
        SDK_METRICS_UP.set(1 if sdk_page is not None else 0)
        page = b"".join(
            (
                generate_latest(REGISTRY),  # process_*, python_*, and any tempwork_* counters
                generate_latest(_OWN),
                generate_latest(self._registry),  # business figures
                sdk_page or b"",
            )
        )
        return Response(200, page, CONTENT_TYPE_LATEST)

    async def _select_one(self) -> None:
        async with autocommit(self.engine) as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def _sdk_page(self) -> bytes | None:
        if self.sdk_metrics_url is None:
            return None
        try:
            answer = await self._http.get(self.sdk_metrics_url)
            answer.raise_for_status()
        except httpx.HTTPError as err:
            log.warning("Temporal SDK metrics unavailable: %s", type(err).__name__)
            return None
        page = answer.content
        return page if page.endswith(b"\n") or not page else page + b"\n"

    # --- the server -----------------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        """Listens; answers the port (useful with port 0)."""
        self._server = await asyncio.start_server(self._serve, host, port)
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        await self._http.aclose()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                response = await self._answer(reader)
                head = (
                    f"HTTP/1.1 {response.status} {REASONS.get(response.status, '')}\r\n"
                    f"Content-Type: {response.content_type}\r\n"
                    f"Content-Length: {len(response.body)}\r\n"
                    "Connection: close\r\n\r\n"
                )
                writer.write(head.encode("latin-1") + response.body)
                await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        except Exception:
            log.exception("worker health endpoint failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> Response:
        try:
            request_line = await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # headers: nothing here depends on them
            method, target, _version = request_line.decode("latin-1").split(" ", 2)
        except (ValueError, asyncio.LimitOverrunError):
            return Response(400, b'{"status":"bad request"}')
        name = self.ROUTES.get(target.split("?", 1)[0])
        if name is None:
            return Response(404, b'{"status":"not found"}')
        route: Callable[[], Awaitable[Response]] = getattr(self, name)
        if method not in ("GET", "HEAD"):
            return Response(405, b'{"status":"method not allowed"}')
        response = await route()
        if method == "HEAD":
            response.body = b""  # Content-Length then says 0; probes only read the status
        return response


async def _check(probe: Callable[[], Awaitable[object]]) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await probe()
    except Exception as err:
        return f"unavailable: {type(err).__name__}"
    return "ok"
