"""``make bench``: figures, not assertions. Starts the real stack (the processes `make dev`
runs, on free ports, throwaway data) and measures, over HTTP:

* posting a job (workflow start + first projection) and searching jobs,
* commands on a contract (update round trip incl. projection),
* whole contract lifecycles (hire → accept → fund → submit → approve → paid) in parallel.

Bounded: a fixed number of operations with a fixed concurrency; prints percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from devstack.stack import Ports, Stack, new_secrets
from devstack.verify import verify


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return (
        f"n={len(samples):4d}  p50={at(0.50):7.1f} ms  p95={at(0.95):7.1f} ms  "
        f"max={ordered[-1] * 1000:7.1f} ms  mean={statistics.fmean(samples) * 1000:7.1f} ms"
    )


async def timed(fn: Callable[[], Awaitable[Any]], samples: list[float]) -> Any:
    started = time.perf_counter()
    result = await fn()
    samples.append(time.perf_counter() - started)
    return result


async def person(http: httpx.AsyncClient, role: str) -> dict[str, str]:
    email, password = f"{role}-{uuid.uuid4().hex[:10]}@bench.example", "bench password 123"
    r = await http.post(
        "/v1/auth/register",
        json={"email": email, "password": password, "display_name": role, "role": role},
    )
    r.raise_for_status()
    token = (
        await http.post("/v1/auth/token", data={"username": email, "password": password})
    ).json()
    return {"Authorization": f"Bearer {token['access_token']}", "id": r.json()["id"]}


def auth(p: dict[str, str]) -> dict[str, str]:
    return {"Authorization": p["Authorization"]}


async def run(jobs: int, lifecycles: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tempwork-bench-") as tmp:
        stack = Stack(Path(tmp), Ports.free(), new_secrets(), durable=False)
        started = time.perf_counter()
        stack.start()
        print(
            f"stack started in {time.perf_counter() - started:.1f} s (postgres, temporal, sandbox, worker, api)"
        )
        try:
            async with (
                httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http,
                httpx.AsyncClient(base_url=stack.sandbox_url, timeout=30) as sandbox,
            ):
                await measure(http, sandbox, jobs, lifecycles, concurrency)
        finally:
            stack.stop()


async def measure(
    http: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    jobs: int,
    lifecycles: int,
    concurrency: int,
) -> None:
    gate = asyncio.Semaphore(concurrency)
    client, worker = await person(http, "client"), await person(http, "worker")
    # The worker verifies through the sandboxes like anyone else (not timed: once per worker).
    await verify(http, sandbox, auth(worker))
    link = (await http.post("/v1/payout-account", headers=auth(worker))).json()["onboarding_url"]
    await http.get(link, params={"complete": "1"})

    post_samples: list[float] = []
    job_ids: list[str] = []

    async def post_one(i: int) -> None:
        async with gate:
            body = {
                "title": f"Bench job {i} react landing page",
                "description": "benchmark",
                "skills": ["react"],
                "budget_cents": 10_000 + i,
            }
            r = await timed(
                lambda: http.post("/v1/jobs", json=body, headers=auth(client)), post_samples
            )
            r.raise_for_status()
            job_ids.append(r.json()["id"])

    wall = time.perf_counter()
    await asyncio.gather(*(post_one(i) for i in range(jobs)))
    elapsed = time.perf_counter() - wall
    print(
        f"POST /v1/jobs         {percentiles(post_samples)}  ({jobs / elapsed:.1f}/s at concurrency {concurrency})"
    )

    search_samples: list[float] = []

    async def search_one(i: int) -> None:
        async with gate:
            params: dict[str, str | int] = {
                "q": "react landing",
                "skills": "react",
                "min_budget": 10_000 + i % 50,
                "limit": 20,
            }
            (
                await timed(lambda: http.get("/v1/jobs", params=params), search_samples)
            ).raise_for_status()

    await asyncio.gather(*(search_one(i) for i in range(jobs)))
    print(f"GET /v1/jobs?q=…      {percentiles(search_samples)}")

    command_samples: list[float] = []
    lifecycle_samples: list[float] = []

    async def lifecycle(job_id: str) -> None:
        async with gate:
            begin = time.perf_counter()
            app = (
                await http.post(
                    f"/v1/jobs/{job_id}/applications",
                    json={"cover_letter": "hi"},
                    headers=auth(worker),
                )
            ).json()
            milestones = {"milestones": [{"title": "All", "amount_cents": 10_000}]}
            hired = await timed(
                lambda: http.post(
                    f"/v1/jobs/{job_id}/applications/{app['id']}/hire",
                    json=milestones,
                    headers=auth(client),
                ),
                command_samples,
            )
            cid = hired.json()["id"]
            steps = [
                (worker, f"/v1/contracts/{cid}/accept", None),
                (
                    client,
                    f"/v1/contracts/{cid}/milestones/1/fund",
                    {"payment_method": "pm_card_visa"},
                ),
                (worker, f"/v1/contracts/{cid}/milestones/1/submit", None),
                (client, f"/v1/contracts/{cid}/milestones/1/approve", None),
            ]
            for who, path, body in steps:
                r = await timed(
                    partial(http.post, path, json=body, headers=auth(who)),
                    command_samples,
                )
                r.raise_for_status()
            while (await http.get(f"/v1/contracts/{cid}", headers=auth(client))).json()[  # noqa: ASYNC110
                "milestones"
            ][0]["status"] != "released":
                await asyncio.sleep(0.02)
            lifecycle_samples.append(time.perf_counter() - begin)

    wall = time.perf_counter()
    await asyncio.gather(*(lifecycle(j) for j in job_ids[:lifecycles]))
    elapsed = time.perf_counter() - wall
    print(
        f"contract commands     {percentiles(command_samples)}  (hire/accept/fund/submit/approve)"
    )
    print(
        f"job→paid lifecycle    {percentiles(lifecycle_samples)}  ({lifecycles / elapsed:.2f} contracts/s)"
    )


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--jobs", type=int, default=200)
    args.add_argument("--lifecycles", type=int, default=50)
    args.add_argument("--concurrency", type=int, default=10)
    a = args.parse_args()
    asyncio.run(run(a.jobs, min(a.lifecycles, a.jobs), a.concurrency))


if __name__ == "__main__":
    main()
