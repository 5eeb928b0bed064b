"""``make demo``: with ``make dev`` running, play one contract's life through the API so a
newcomer sees the workflows appear (and finish) in the Temporal UI."""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import Any

import httpx

from core.settings import Settings
from devstack.verify import VerificationFailed, verify

PASSWORD = "demo password 123"  # noqa: S105 (throwaway demo accounts on a local stack)


async def step(what: str, response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        sys.exit(f"{what} failed: {response.status_code} {response.text}")
    print(f"  ✓ {what}")
    return dict(response.json())


async def login(http: httpx.AsyncClient, role: str, name: str) -> dict[str, str]:
    email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@demo.example"
    await step(
        f"{name} signs up as a {role}",
        await http.post(
            "/v1/auth/register",
            json={"email": email, "password": PASSWORD, "display_name": name, "role": role},
        ),
    )
    token = await http.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def main() -> None:
    settings = Settings.model_fields
    api = f"http://127.0.0.1:{settings['dev_api_port'].default}"
    ui = f"http://127.0.0.1:{settings['dev_temporal_ui_port'].default}"
    sandbox_url = f"http://127.0.0.1:{settings['dev_sandbox_port'].default}"
    async with (
        httpx.AsyncClient(base_url=api, timeout=60) as http,
        httpx.AsyncClient(base_url=sandbox_url, timeout=30) as sandbox,
    ):
        try:
            await http.get("/health/ready")
        except httpx.ConnectError:
            sys.exit(f"nothing answers at {api}: start `make dev` first (in another terminal)")
        client, worker = await login(http, "client", "Carla"), await login(http, "worker", "Wes")
        try:
            wes_email = await verify(
                http, sandbox, worker, say=lambda what: print(f"  ✓ Wes {what}")
            )
        except VerificationFailed as failed:
            sys.exit(str(failed))
        job = await step(
            "Carla posts a job",
            await http.post(
                "/v1/jobs",
                headers=client,
                json={
                    "title": "Demo: logo for a bakery",
                    "description": "Warm, hand-drawn",
                    "skills": ["design"],
                    "budget_cents": 60_000,
                },
            ),
        )
        application = await step(
            "Wes applies",
            await http.post(
                f"/v1/jobs/{job['id']}/applications",
                headers=worker,
                json={"cover_letter": "I draw bread."},
            ),
        )
        contract = await step(
            "Carla hires Wes with two milestones",
            await http.post(
                f"/v1/jobs/{job['id']}/applications/{application['id']}/hire",
                headers=client,
                json={
                    "milestones": [
                        {"title": "Sketches", "amount_cents": 20_000},
                        {"title": "Final logo", "amount_cents": 40_000},
                    ]
                },
            ),
        )
        cid = contract["id"]
        link = await step(
            "Wes connects a payout account", await http.post("/v1/payout-account", headers=worker)
        )
        await http.get(link["onboarding_url"], params={"complete": "1"})
        await step(
            "Wes accepts the offer", await http.post(f"/v1/contracts/{cid}/accept", headers=worker)
        )
        for n in (1, 2):
            await step(
                f"Carla funds milestone {n} (card charged into escrow)",
                await http.post(
                    f"/v1/contracts/{cid}/milestones/{n}/fund",
                    headers=client,
                    json={"payment_method": "pm_card_visa"},
                ),
            )
            await step(
                f"Wes delivers milestone {n}",
                await http.post(f"/v1/contracts/{cid}/milestones/{n}/submit", headers=worker),
            )
            await step(
                f"Carla approves milestone {n}",
                await http.post(f"/v1/contracts/{cid}/milestones/{n}/approve", headers=client),
            )
        for _ in range(100):
            state = (await http.get(f"/v1/contracts/{cid}", headers=client)).json()
            if state["stage"] == "completed":
                break
            await asyncio.sleep(0.1)
        print(f"  ✓ paid out: {state['money']}")
        for who, headers in (("Carla", client), ("Wes", worker)):
            await step(
                f"{who} leaves a blind review",
                await http.post(
                    f"/v1/contracts/{cid}/reviews",
                    headers=headers,
                    json={"rating": 5, "comment": "A pleasure"},
                ),
            )
    print(
        f"\nSee it in the Temporal UI: {ui}/namespaces/default/workflows?query=ContractId%3D%22{cid}%22"
    )
    print(
        f"and the job that started it:  {ui}/namespaces/default/workflows?query=JobId%3D%22{job['id']}%22"
    )
    print(
        f"Wes's verification:           {ui}/namespaces/default/workflows?query="
        "WorkflowType%3D%22Verification%22"
    )
    print(f"what Wes was emailed:         {sandbox_url}/_sandbox/outbox?to={wes_email}")


if __name__ == "__main__":
    asyncio.run(main())
