"""The worker: which workflows and activities run on which task queue.

One task queue serves everything today; the activities are grouped by vendor (Stripe,
SendGrid, Twilio, identity/background checks, our database) so a queue per provider with its
own rate limits can be split out later without touching workflow code.

    python -m workers.main          (``make dev`` starts it for you)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.email import EmailActivities, sendgrid_client
from activities.identity import IdentityActivities, checks_client
from activities.notices import NoticeActivities
from activities.payments import PaymentActivities, stripe_client
from activities.sms import SmsActivities, twilio_client
from activities.store import StoreActivities
from core.db import create_engine
from core.logs import configure_logging
from core.settings import Settings, get_settings
from core.temporal import connect, metrics_runtime
from core.tracing import temporal_interceptors, tracer_provider
from search.freshness import keep_fresh
from workers.business_metrics import BusinessMetrics
from workers.health import WorkerEndpoint
from workers.interceptors import DataErrorsAreFinal
from workflows.contract import ContractWorkflow
from workflows.job_posting import JobPostingWorkflow
from workflows.payout_account import PayoutAccountWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.verification import VerificationWorkflow

WORKFLOWS: Sequence[type] = (
    JobPostingWorkflow,
    ContractWorkflow,
    PayoutAccountWorkflow,
    ReconciliationWorkflow,
    VerificationWorkflow,
)

log = logging.getLogger("tempwork.worker")


def activities(settings: Settings, engine: AsyncEngine) -> list[Any]:
    stripe = stripe_client(settings)
    email = EmailActivities(sendgrid_client(settings), engine, settings)
    sms = SmsActivities(twilio_client(settings), engine, settings)
    return [
        *PaymentActivities(stripe).all(),
        *StoreActivities(engine).all(),
        *email.all(),
        *sms.all(),
        *NoticeActivities(email, sms, engine).all(),
        *IdentityActivities(stripe, checks_client(settings)).all(),
    ]


def precompile_workflows() -> None:
    """Temporal's sandbox re-imports the workflow modules for every workflow run; without
    cached bytecode (PYTHONDONTWRITEBYTECODE, read-only trees) each import recompiles the
    source, which measured ~27 % of worker CPU. Writing the .pyc files once avoids that
    (the image does it at build time; here it is best effort)."""
    import compileall

    for package in ("workflows", "models"):
        with contextlib.suppress(OSError):
            compileall.compile_dir(Path(__file__).resolve().parent.parent / package, quiet=2)


def build_worker(client: Client, settings: Settings, engine: AsyncEngine) -> Worker:
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=list(WORKFLOWS),
        activities=activities(settings, engine),
        interceptors=[DataErrorsAreFinal()],
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_concurrent_local_activities=settings.worker_max_concurrent_local_activities,
        max_cached_workflows=settings.worker_max_cached_workflows,
        # Let in-flight activities finish on shutdown (rolling deploys, Ctrl-C in make dev).
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


def loopback_port() -> int:
    """A free port on 127.0.0.1 for the SDK's own metrics server, which only /metrics on
    our endpoint reads (workers/health.py says why one port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    precompile_workflows()
    sdk_metrics = f"127.0.0.1:{loopback_port()}"
    traces = tracer_provider(settings, "worker")
    # The runtime (SDK metrics) and the tracing interceptor go on the client; the worker
    # built from it inherits both.
    client = await connect(
        settings,
        runtime=metrics_runtime(sdk_metrics),
        interceptors=temporal_interceptors(traces),
    )
    engine = create_engine(settings)
    worker = build_worker(client, settings, engine)
    endpoint = WorkerEndpoint(
        client=client,
        engine=engine,
        polling=lambda: worker.is_running and not worker.is_shutdown,
        business=BusinessMetrics(
            engine,
            cache_seconds=settings.business_metrics_cache_seconds,
            timeout_seconds=settings.business_metrics_timeout_seconds,
        ),
        sdk_metrics_url=f"http://{sdk_metrics}/metrics",
    )
    # Bound before polling starts: a port already taken fails the process at once (the pod
    # restarts, the log says why) instead of leaving a worker that no probe can reach.
    port = await endpoint.start(settings.worker_health_host, settings.worker_health_port)
    log.info(
        "worker health and metrics on http://%s:%d (/health/live /health/ready /metrics)",
        settings.worker_health_host,
        port,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "worker polling task queue %r on %s",
        settings.temporal_task_queue,
        settings.temporal_address,
    )
    try:
        async with worker:
            # Search facts the workflows' writes queued (search/freshness.py), beside the worker.
            fresh = asyncio.create_task(keep_fresh(engine, stop))
            await stop.wait()
            log.info("worker stopping: finishing in-flight tasks")
            await fresh
    finally:
        await endpoint.stop()
        await engine.dispose()
        if traces is not None:
            traces.shutdown()  # sends the spans still batched


if __name__ == "__main__":
    if get_settings().worker_uvloop:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
