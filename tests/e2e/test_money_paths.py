"""Money on the unhappy paths, end to end over HTTP against real processes: cancel with refund,
a dispute split by support, a worker killed in the middle of a transfer — and at the end, the
daily reconciliation (run on demand with the ops CLI) finds the ledger and Stripe agreeing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from typing import Any

import httpx
import stripe

from devstack.stack import ROOT, Stack
from tests.api.helpers import apply, fund, hire, post_job
from tests.conftest import ApiClient, Person, eventually, sign_up


def ops(
    stack: Stack, *args: str, stdin_password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The ops CLI exactly as an operator runs it, with the stack's settings."""
    env = {**os.environ, **stack.env()}
    if stdin_password:
        env["TEMPWORK_NEW_USER_PASSWORD"] = stdin_password
    return subprocess.run(
        [sys.executable, "-m", "ops", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def offer(api: ApiClient, amounts: list[int]) -> tuple[Person, Person, str]:
    client, worker = await sign_up(api, "client"), await sign_up(api, "worker", verified=True)
    job = await post_job(client)
    application = await apply(worker, job["id"])
    cid = str((await hire(client, job["id"], application["id"], amounts))["id"])
    link = (await worker.post("/v1/payout-account")).json()["onboarding_url"]
    await api.get(link, params={"complete": "1"})
    await eventually(
        lambda: worker.get("/v1/payout-account"), lambda r: r.json()["status"] == "ready"
    )
    assert (await worker.post(f"/v1/contracts/{cid}/accept")).status_code == 200
    return client, worker, cid


async def money(person: Person, cid: str) -> dict[str, Any]:
    return dict((await person.get(f"/v1/contracts/{cid}")).json())


async def at_stripe(sdk: stripe.StripeClient, cid: str) -> dict[str, list[int]]:
    group = f"contract-{cid}"
    charges = await sdk.v1.charges.list_async(params={"transfer_group": group, "limit": 100})
    transfers = await sdk.v1.transfers.list_async(params={"transfer_group": group, "limit": 100})
    intents = {c.payment_intent for c in charges.data if c.status == "succeeded"}
    refunds = [
        r
        for pi in intents
        for r in (await sdk.v1.refunds.list_async(params={"payment_intent": str(pi)})).data
    ]
    return {
        "charges": sorted(c.amount for c in charges.data if c.status == "succeeded"),
        "transfers": sorted(t.amount for t in transfers.data),
        "refunds": sorted(r.amount for r in refunds),
    }


async def test_cancel_after_funding_refunds_what_was_not_released(
    api: ApiClient, stripe_sdk: stripe.StripeClient
) -> None:
    client, worker, cid = await offer(api, [30_000, 20_000])
    for n in (1, 2):
        assert (await fund(client, cid, n)).status_code == 200
    await worker.post(f"/v1/contracts/{cid}/milestones/1/submit")
    await client.post(f"/v1/contracts/{cid}/milestones/1/approve")
    await eventually(
        lambda: money(client, cid), lambda c: c["milestones"][0]["status"] == "released"
    )

    cancelled = await client.post(f"/v1/contracts/{cid}/cancel", {"reason": "budget cut"})
    assert cancelled.status_code == 200, cancelled.text
    assert [m["status"] for m in cancelled.json()["milestones"]] == ["released", "refunded"]
    summary = (await money(client, cid))["money"]
    assert summary == {
        "funded_cents": 50_000,
        "escrow_cents": 0,
        "released_cents": 27_000,
        "fee_cents": 3_000,
        "refunded_cents": 20_000,
        "chargeback_lost_cents": 0,
    }
    assert await at_stripe(stripe_sdk, cid) == {
        "charges": [20_000, 30_000],
        "transfers": [27_000],
        "refunds": [20_000],
    }


async def test_support_splits_a_disputed_escrow(
    stack: Stack, api: ApiClient, stripe_sdk: stripe.StripeClient
) -> None:
    client, worker, cid = await offer(api, [50_000])
    await fund(client, cid, 1)
    await worker.post(f"/v1/contracts/{cid}/milestones/1/submit", {"note": "as agreed"})
    disputed = await client.post(
        f"/v1/contracts/{cid}/disputes", {"reason": "Half of it is missing"}
    )
    assert disputed.status_code == 200 and disputed.json()["stage"] == "disputed"
    assert disputed.json()["needs_support"] is True

    email, password = f"support-{uuid.uuid4().hex[:8]}@example.com", "a long support password"
    created = ops(
        stack, "create-user", "--email", email, "--role", "support", stdin_password=password
    )
    assert created.returncode == 0, created.stderr
    token = (
        await api.post("/v1/auth/token", data={"username": email, "password": password})
    ).json()["access_token"]
    support = Person(api, {"id": "support"}, token)
    queue = (
        await support.get("/v1/contracts", params={"needs_support": "true", "limit": 100})
    ).json()["items"]
    assert cid in [c["id"] for c in queue]

    wrong = await support.post(
        f"/v1/contracts/{cid}/disputes/resolve", {"release_cents": 30_000, "refund_cents": 30_000}
    )
    assert wrong.status_code == 422
    resolved = await support.post(
        f"/v1/contracts/{cid}/disputes/resolve",
        {"release_cents": 30_000, "refund_cents": 20_000, "note": "partial delivery"},
    )
    assert resolved.status_code == 200, resolved.text
    done = await eventually(lambda: money(client, cid), lambda c: c["stage"] == "completed")
    assert done["money"] == {
        "funded_cents": 50_000,
        "escrow_cents": 0,
        "released_cents": 27_000,
        "fee_cents": 3_000,
        "refunded_cents": 20_000,
        "chargeback_lost_cents": 0,
    }
    assert await at_stripe(stripe_sdk, cid) == {
        "charges": [50_000],
        "transfers": [27_000],
        "refunds": [20_000],
    }


async def test_a_worker_killed_mid_transfer_never_pays_twice(
    stack: Stack, api: ApiClient, stripe_sdk: stripe.StripeClient
) -> None:
    client, worker, cid = await offer(api, [40_000])
    await fund(client, cid, 1)
    await worker.post(f"/v1/contracts/{cid}/milestones/1/submit")
    async with httpx.AsyncClient(base_url=stack.sandbox_url) as sandbox:
        # Stripe makes the transfer, then takes 5 s to answer; the worker dies meanwhile.
        await sandbox.post(
            "/_sandbox/faults",
            json={"hang_after_commit_ms": {"path_prefix": "/v1/transfers", "ms": 5_000}},
        )
        await client.post(f"/v1/contracts/{cid}/milestones/1/approve")

        async def transfer_made() -> list[int]:
            return (await at_stripe(stripe_sdk, cid))["transfers"]

        await eventually(transfer_made, lambda t: t == [36_000], timeout=20)
        stack.processes["worker"].kill()
        await sandbox.delete("/_sandbox/faults")
    stack.restart_worker()
    # The activity times out on the dead worker, is retried on the new one with the same key.
    released = await eventually(
        lambda: money(client, cid), lambda c: c["milestones"][0]["status"] == "released", timeout=90
    )
    assert released["money"]["released_cents"] == 36_000
    assert await transfer_made() == [36_000]


async def test_a_worker_killed_while_charging_the_card_charges_once(
    stack: Stack, api: ApiClient, stripe_sdk: stripe.StripeClient
) -> None:
    client, _, cid = await offer(api, [22_000])
    async with httpx.AsyncClient(base_url=stack.sandbox_url) as sandbox:
        await sandbox.post(
            "/_sandbox/faults",
            json={
                "hang_after_commit_ms": {
                    "path_prefix": "/v1/payment_intents",
                    "ms": 5_000,
                    "times": 2,
                }
            },
        )
        # The client's fund request is in flight when the worker dies; it still gets its answer.
        funding = asyncio.create_task(fund(client, cid, 1, timeout=120))

        async def charged() -> list[int]:
            return (await at_stripe(stripe_sdk, cid))["charges"]

        await eventually(charged, lambda c: c == [22_000], timeout=20)
        stack.processes["worker"].kill()
        await sandbox.delete("/_sandbox/faults")
    stack.restart_worker()
    answer = await funding
    assert answer.status_code == 200, answer.text
    assert answer.json()["milestones"][0]["status"] == "funded"
    assert await charged() == [22_000]
    assert (await money(client, cid))["money"]["funded_cents"] == 22_000


async def test_reconciliation_finds_ledger_and_stripe_in_agreement(stack: Stack) -> None:
    await asyncio.sleep(1)  # let the last webhooks land
    result = ops(stack, "reconcile", "--hours", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 mismatch(es)" in result.stdout
