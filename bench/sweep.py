"""How deploy/ chose the worker's and the pool's sizes: the same contract lifecycles at
concurrency 10 on a fresh stack per setting, one setting changed at a time from the defaults.

    python -m bench.sweep                 # every setting below (about 5 minutes)
    python -m bench.sweep --lifecycles 20

Prints lifecycles/s, command p95 and the worker's peak RSS per setting. Figures, not verdicts:
the winner on this 2-core machine is written down in deploy/SCALING.md with why.
"""

from __future__ import annotations

import argparse
import asyncio
import json

import httpx

from bench import procstat
from bench.__main__ import Marketplace, started_stack
from bench.load import Run, load

# Each entry: a label and the TEMPWORK_* settings it changes from the defaults.
SETTINGS: list[tuple[str, dict[str, str]]] = [
    ("defaults (SDK: 100 workflow tasks, 100 + 100 activities)", {}),
    (
        "deploy/k8s worker",
        {
            "TEMPWORK_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "20",
            "TEMPWORK_WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES": "20",
        },
    ),
    ("workflow tasks 4", {"TEMPWORK_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "4"}),
    (
        "pool 2 + overflow 0",
        {
            "TEMPWORK_DATABASE_POOL_SIZE": "2",
            "TEMPWORK_DATABASE_MAX_OVERFLOW": "0",
        },
    ),
    ("asyncio loop (no uvloop)", {"TEMPWORK_WORKER_UVLOOP": "false"}),
]


async def one(label: str, env: dict[str, str], lifecycles: int) -> dict[str, object]:
    async with (
        started_stack(env) as stack,
        httpx.AsyncClient(base_url=stack.api_url, timeout=90) as http,
        httpx.AsyncClient(base_url=stack.sandbox_url, timeout=30) as sandbox,
    ):
        market = await Marketplace.open(http, sandbox)
        worker = stack.processes["worker"].pid
        assert worker is not None
        await load(market.post_job, lifecycles + 5, 10)
        await load(market.lifecycle, 5, 5)  # warm: imports, first workflow runs
        market.command_samples.clear()
        run = await load(market.lifecycle, lifecycles, 10)
        commands = Run(market.all_commands(), 0.0)
        return {
            "setting": label,
            "lifecycles_per_s": round(run.per_s, 2),
            "command_p95_ms": round(commands.p95_ms, 1),
            "worker_rss_mib": round(procstat.rss_bytes(worker) / 2**20, 1),
        }


async def sweep(lifecycles: int, only: list[str] | None) -> list[dict[str, object]]:
    rows = []
    for label, env in SETTINGS:
        if only and label not in only:
            continue
        row = await one(label, env, lifecycles)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--lifecycles", type=int, default=40)
    args.add_argument("--only", action="append", help="a setting's label (repeatable)")
    a = args.parse_args()
    asyncio.run(sweep(a.lifecycles, a.only))


if __name__ == "__main__":
    main()
