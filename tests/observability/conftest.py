"""An API and a worker, in this process, observed the way production observes them: the
worker's client carries the SDK metrics runtime, both clients the tracing interceptor, the
worker serves /health and /metrics, and every span lands in an in-memory exporter.

They run on a task queue of their own beside the shared test stack (tests/conftest.py
``infra``: same PostgreSQL, Temporal and sandboxes), so every workflow this API starts runs
on this worker and is traced and counted here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.worker import Worker

from core.settings import Settings
from core.temporal import connect, metrics_runtime
from core.tracing import temporal_interceptors
from tests.conftest import ApiClient, Infra
from tests.observability.broken import BuggyWorkflow, FailingActivityWorkflow, always_fails


@dataclass
class Observed:
    settings: Settings
    api_url: str
    worker_url: str
    spans: InMemorySpanExporter
    temporal: Client  # the worker's client: SDK metrics and tracing
    broken_task_queue: str

    def http(self, infra: Infra) -> ApiClient:
        return ApiClient(self.api_url, infra.sandbox_url)


@pytest.fixture(scope="module")
async def observed(infra: Infra) -> AsyncIterator[Observed]:
    from api.main import create_app
    from sandbox.testing import serve_asgi
    from workers.business_metrics import BusinessMetrics
    from workers.health import WorkerEndpoint
    from workers.main import build_worker, loopback_port

    spans = InMemorySpanExporter()
    traces = TracerProvider()
    traces.add_span_processor(SimpleSpanProcessor(spans))
    settings = infra.settings.model_copy(
        update={"temporal_task_queue": f"tempwork-observed-{uuid.uuid4().hex[:8]}"}
    )
    sdk_metrics = f"127.0.0.1:{loopback_port()}"
    # As workers/main.py does it: runtime and interceptors on the client, inherited by the worker.
    client = await connect(
        settings,
        runtime=metrics_runtime(sdk_metrics),
        interceptors=temporal_interceptors(traces),
    )
    worker = build_worker(client, settings, infra.engine)
    broken_queue = f"{settings.temporal_task_queue}-broken"
    broken = Worker(
        client,
        task_queue=broken_queue,
        workflows=[BuggyWorkflow, FailingActivityWorkflow],
        activities=[always_fails],
    )
    endpoint = WorkerEndpoint(
        client=client,
        engine=infra.engine,
        polling=lambda: worker.is_running and not worker.is_shutdown,
        business=BusinessMetrics(infra.engine, cache_seconds=0, timeout_seconds=5),
        sdk_metrics_url=f"http://{sdk_metrics}/metrics",
    )
    port = await endpoint.start("127.0.0.1", 0)
    try:
        async with worker, broken, serve_asgi(create_app(settings, traces=traces)) as api_url:
            yield Observed(
                settings, api_url, f"http://127.0.0.1:{port}", spans, client, broken_queue
            )
    finally:
        await endpoint.stop()
        traces.shutdown()
