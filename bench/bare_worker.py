"""A worker process for the bare floors: bench/bare_workflow.py's workflows on their own task
queue, in a process of its own like the product's worker (``workers.main``).

    python -m bench.bare_worker --address HOST:PORT --task-queue Q --database-url URL [--uvloop]

Configured like the product's worker where it costs something: the default sandboxed
workflow runner, default task slots and pollers, the same graceful shutdown; none of its
interceptors or data converter. Prints ``READY`` once polling (bench/floors.py waits for it).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from datetime import timedelta

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.worker import Worker

from bench.bare_activities import CREATE_BENCH_JOBS, PostingActivities, noop
from bench.bare_workflow import WORKFLOWS

READY = "READY"
# The product's database_pool_size (core/settings.py).
POOL_SIZE = 10


def plain_dsn(url: str) -> str:
    """psycopg's form of a SQLAlchemy URL (``postgresql+psycopg://`` → ``postgresql://``)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


async def serve(address: str, task_queue: str, database_url: str) -> None:
    client = await Client.connect(address)
    # All connections opened up front: a floor measures warm connections, as the product's
    # pool is warm by the time make bench measures it.
    pool = AsyncConnectionPool(
        plain_dsn(database_url), min_size=POOL_SIZE, max_size=POOL_SIZE, open=False
    )
    await pool.open(wait=True)
    async with pool:
        async with pool.connection() as conn:
            await conn.execute(CREATE_BENCH_JOBS)
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=WORKFLOWS,
            activities=[noop, PostingActivities(pool).insert_job],
            graceful_shutdown_timeout=timedelta(seconds=10),
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with worker:
            print(READY, flush=True)
            await stop.wait()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--address", required=True)
    args.add_argument("--task-queue", required=True)
    args.add_argument("--database-url", required=True)
    args.add_argument("--uvloop", action="store_true", help="run on uvloop instead of asyncio's")
    a = args.parse_args()
    coroutine = serve(a.address, a.task_queue, a.database_url)
    if a.uvloop:
        import uvloop

        uvloop.run(coroutine)
    else:
        asyncio.run(coroutine)


if __name__ == "__main__":
    main()
