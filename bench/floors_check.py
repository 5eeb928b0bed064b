"""Self-check for the floors: ``python -m bench.floors_check [--count 30 --concurrency 10]``.

Starts a fresh dev stack (durable=False), runs one real contract lifecycle through the API
(its row is what the read floor reads), runs every floor small and prints its figures, and
prints the Temporal shape of the real lifecycle next to the bare one's, from their histories,
so a drift between bench/bare_workflow.py and the product shows.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import httpx
from temporalio.client import Client

from bench.bare_app import bare_app_process
from bench.floors import bare_worker, lifecycle_floor, post_job_floor, read_floor, update_floor
from bench.load import Run
from devstack.processes import ManagedProcess, free_port
from devstack.stack import Ports, Stack, new_secrets
from devstack.verify import verify


async def _person(http: httpx.AsyncClient, role: str) -> dict[str, str]:
    email, password = f"{role}-{uuid.uuid4().hex[:10]}@floors.example", "floors password 123"
    body = {"email": email, "password": password, "display_name": role, "role": role}
    (await http.post("/v1/auth/register", json=body)).raise_for_status()
    token = await http.post("/v1/auth/token", data={"username": email, "password": password})
    token.raise_for_status()
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def one_contract(api_url: str, sandbox_url: str) -> tuple[str, str]:
    """One real lifecycle over HTTP, as make bench runs it; answers (job id, contract id)
    once the milestone is released."""
    async with (
        httpx.AsyncClient(base_url=api_url, timeout=60) as http,
        httpx.AsyncClient(base_url=sandbox_url, timeout=30) as sandbox,
    ):
        client, worker = await _person(http, "client"), await _person(http, "worker")
        await verify(http, sandbox, worker)
        link = (await http.post("/v1/payout-account", headers=worker)).json()["onboarding_url"]
        await http.get(link, params={"complete": "1"})
        job = {
            "title": "Floors job",
            "description": "x",
            "skills": ["react"],
            "budget_cents": 10_000,
        }
        posted = await http.post("/v1/jobs", json=job, headers=client)
        posted.raise_for_status()
        job_id = posted.json()["id"]
        applied = await http.post(
            f"/v1/jobs/{job_id}/applications", json={"cover_letter": "hi"}, headers=worker
        )
        applied.raise_for_status()
        hired = await http.post(
            f"/v1/jobs/{job_id}/applications/{applied.json()['id']}/hire",
            json={"milestones": [{"title": "All", "amount_cents": 10_000}]},
            headers=client,
        )
        hired.raise_for_status()
        cid = hired.json()["id"]
        for who, step, body in (
            (worker, "accept", None),
            (client, "milestones/1/fund", {"payment_method": "pm_card_visa"}),
            (worker, "milestones/1/submit", None),
            (client, "milestones/1/approve", None),
        ):
            (
                await http.post(f"/v1/contracts/{cid}/{step}", json=body, headers=who)
            ).raise_for_status()
        for _ in range(1500):
            got = (await http.get(f"/v1/contracts/{cid}", headers=client)).json()
            if got["milestones"][0]["status"] == "released":
                return job_id, cid
            await asyncio.sleep(0.02)
        raise TimeoutError("the real contract was not released in 30 s")


async def shape(client: Client, workflow_id: str) -> Counter[str]:
    """What a history holds that matters for cost: updates, local activities (markers),
    activities, timers, child workflows, signals, search-attribute upserts, workflow tasks."""
    counts: Counter[str] = Counter()
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        kind = event.WhichOneof("attributes") or ""
        if kind == "workflow_execution_update_accepted_event_attributes":
            counts["updates"] += 1
        elif kind == "marker_recorded_event_attributes":
            marker = event.marker_recorded_event_attributes.marker_name
            counts["local activities" if marker == "core_local_activity" else "other markers"] += 1
        elif kind == "activity_task_scheduled_event_attributes":
            counts["activities"] += 1
        elif kind == "timer_started_event_attributes":
            counts["timers"] += 1
        elif kind == "start_child_workflow_execution_initiated_event_attributes":
            counts["child workflows"] += 1
        elif kind == "workflow_execution_signaled_event_attributes":
            counts["signals"] += 1
        elif kind == "upsert_workflow_search_attributes_event_attributes":
            counts["search attribute upserts"] += 1
        elif kind == "workflow_task_completed_event_attributes":
            counts["workflow tasks"] += 1
        counts["events"] += 1
    return counts


async def print_shapes(address: str, job_id: str, contract_id: str) -> None:
    client = await Client.connect(address)
    bare_contract = ""
    async for found in client.list_workflows("WorkflowType = 'BareLifecycle'", limit=1):
        bare_contract = found.id
    bare_job = (await client.get_workflow_handle(bare_contract).describe()).parent_id or ""
    shapes = {
        "job": (await shape(client, f"job-{job_id}"), await shape(client, bare_job)),
        "contract": (
            await shape(client, f"contract-{contract_id}"),
            await shape(client, bare_contract),
        ),
    }
    print("history shape (product / bare):")
    for name, (real, bare) in shapes.items():
        print(f"  {name}: " + ", ".join(f"{k} {real[k]}/{bare[k]}" for k in sorted(real | bare)))


async def check(count: int, concurrency: int, reads: int, read_concurrency: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tempwork-floors-") as tmp:
        stack = Stack(Path(tmp), Ports.free(), new_secrets(), durable=False)
        await asyncio.to_thread(stack.start)
        app: ManagedProcess | None = None
        try:
            logs = Path(tmp) / "logs"
            job_id, contract_id = await one_contract(stack.api_url, stack.sandbox_url)
            address = stack.temporal_address
            figures: dict[str, Run] = {}
            async with bare_worker(address, stack.database_url, logs) as queue:
                figures["update round trip"] = await update_floor(
                    address, count, concurrency, task_queue=queue
                )
                figures["post job"] = await post_job_floor(
                    address, count, concurrency, task_queue=queue
                )
                figures["lifecycle"] = await lifecycle_floor(
                    address, count, concurrency, task_queue=queue
                )
            port = free_port()
            app = await asyncio.to_thread(bare_app_process, stack.database_url, port, logs)
            figures["read contract"] = await read_floor(
                f"http://127.0.0.1:{port}", contract_id, reads, read_concurrency
            )
            print(f"floors (concurrency {concurrency}; reads at {read_concurrency}):")
            for name, run in figures.items():
                print(f"  {name:18s} {run.summary()}")
            await print_shapes(address, job_id, contract_id)
        finally:
            if app is not None:
                await asyncio.to_thread(app.stop)
            await asyncio.to_thread(stack.stop)


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--count", type=int, default=30)
    args.add_argument("--concurrency", type=int, default=10)
    args.add_argument("--reads", type=int, default=300)
    args.add_argument("--read-concurrency", type=int, default=50)
    a = args.parse_args()
    asyncio.run(check(a.count, a.concurrency, a.reads, a.read_concurrency))


if __name__ == "__main__":
    main()
