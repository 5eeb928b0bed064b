"""The foundation's promise, end to end over HTTP against real processes: a client posts a
job, a worker applies, is hired with two milestones, connects a payout account, each milestone
is funded, delivered, approved and paid out minus the 10 % fee, and both review each other."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import stripe
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from models.tables import CONTRACTS, REVIEWS
from tests.api.helpers import apply, fund, hire, post_job
from tests.conftest import ApiClient, eventually, sign_up


async def test_job_to_paid_contract_and_reviews(
    api: ApiClient, stripe_sdk: stripe.StripeClient, db: AsyncEngine, temporal: Client
) -> None:
    client, worker = (
        await sign_up(api, "client", "Carla"),
        await sign_up(api, "worker", "Wes", verified=True),
    )
    job = await post_job(client, title="Bakery website", skills=["react"], budget_cents=150_000)
    found = await eventually(  # searchable once the worker's search queue indexed it
        lambda: api.get("/v1/jobs", params={"q": "bakery website", "skills": "react"}),
        lambda r: job["id"] in [j["id"] for j in r.json()["items"]],
    )
    assert found.status_code == 200
    application = await apply(worker, job["id"])
    offer = await hire(client, job["id"], application["id"], [50_000, 100_000])
    cid = offer["id"]

    link = (await worker.post("/v1/payout-account")).json()["onboarding_url"]
    assert (
        await api.get(link, params={"complete": "1"}, follow_redirects=False)
    ).status_code == 303
    await eventually(
        lambda: worker.get("/v1/payout-account"), lambda r: r.json()["status"] == "ready"
    )

    assert (await worker.post(f"/v1/contracts/{cid}/accept")).json()["stage"] == "active"
    for n in (1, 2):
        assert (await fund(client, cid, n)).status_code == 200
        await worker.post(f"/v1/contracts/{cid}/milestones/{n}/submit", {"note": f"part {n} done"})
        await client.post(f"/v1/contracts/{cid}/milestones/{n}/approve")

    async def contract() -> dict[str, Any]:
        return dict((await client.get(f"/v1/contracts/{cid}")).json())

    await eventually(contract, lambda c: c["stage"] == "completed", timeout=30)
    await client.post(f"/v1/contracts/{cid}/reviews", {"rating": 5, "comment": "Delicious site"})
    await worker.post(f"/v1/contracts/{cid}/reviews", {"rating": 5, "comment": "Kind and clear"})
    reviews = await eventually(
        lambda: api.get(f"/v1/users/{worker.id}/reviews"), lambda r: r.json()["count"] == 1
    )
    assert reviews.json()["reviews"][0]["comment"] == "Delicious site"

    # At "Stripe": exactly one charge per funded milestone, one transfer per release, fee deducted.
    group = f"contract-{cid}"
    charges = await stripe_sdk.v1.charges.list_async(params={"transfer_group": group, "limit": 100})
    paid = sorted(c.amount for c in charges.data if c.status == "succeeded")
    assert paid == [50_000, 100_000]
    transfers = await stripe_sdk.v1.transfers.list_async(
        params={"transfer_group": group, "limit": 100}
    )
    assert sorted(t.amount for t in transfers.data) == [45_000, 90_000]
    account = (await worker.get("/v1/payout-account")).json()["stripe_account_id"]
    assert {t.destination for t in transfers.data} == {account}

    # In Postgres: the completed contract, both reviews revealed, the ledger balanced.
    async with db.connect() as conn:
        row = (
            (await conn.execute(sa.select(CONTRACTS).where(CONTRACTS.c.id == cid))).mappings().one()
        )
        revealed = (
            await conn.execute(
                sa.select(sa.func.count()).where(
                    REVIEWS.c.contract_id == cid, REVIEWS.c.revealed_at.is_not(None)
                )
            )
        ).scalar_one()
        unbalanced = (
            await conn.execute(
                sa.text(
                    "SELECT count(*) FROM (SELECT transaction_id FROM ledger_entries "
                    "GROUP BY transaction_id HAVING sum(amount_cents) <> 0) t"
                )
            )
        ).scalar_one()
    assert row["stage"] == "completed" and row["state"]["reviews_revealed"] is True
    assert revealed == 2 and unbalanced == 0
    money = (await contract())["money"]
    assert money == {
        "funded_cents": 150_000,
        "escrow_cents": 0,
        "released_cents": 135_000,
        "fee_cents": 15_000,
        "refunded_cents": 0,
        "chargeback_lost_cents": 0,
    }

    # Support finds the contract in Temporal by its business id.
    async def by_contract_id() -> list[Any]:
        return [w async for w in temporal.list_workflows(f'ContractId = "{cid}"')]

    found_wf = await eventually(by_contract_id, lambda ws: len(ws) == 1)  # visibility lags a little
    assert found_wf[0].id == f"contract-{cid}"
    assert found_wf[0].workflow_type == "Contract"
