"""Stripe webhooks: signatures verified, each event processed once, and duplicates, out-of-order
delivery and early arrival all end in the same correct state."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import stripe

from models.tables import LEDGER_TRANSACTIONS, WEBHOOK_EVENTS
from tests.api.helpers import contract_offer, fund
from tests.api.test_contracts import connect_payout_account, contract
from tests.conftest import ApiClient, Infra, eventually, problem


@pytest.fixture
async def sandbox(infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=infra.sandbox_url) as http:
        yield http
        await http.delete("/_sandbox/faults")


def signed(payload: bytes, secret: str, at: int | None = None) -> dict[str, str]:
    at = at or int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{at}.{payload.decode()}", secret)
    return {"Stripe-Signature": f"t={at},v1={signature}", "Content-Type": "application/json"}


async def recorded(infra: Infra, event_id: str) -> int:
    async with infra.engine.connect() as conn:
        count = await conn.execute(
            sa.select(sa.func.count()).where(WEBHOOK_EVENTS.c.event_id == event_id)
        )
        return int(count.scalar_one())


async def test_a_bad_signature_is_refused_and_nothing_is_recorded(
    http: ApiClient, infra: Infra
) -> None:
    event = {
        "id": "evt_forged_1",
        "object": "event",
        "type": "account.updated",
        "created": 1,
        "data": {"object": {"id": "acct_x", "object": "account", "payouts_enabled": True}},
    }
    payload = json.dumps(event).encode()
    forged = await http.post(
        "/webhooks/stripe", content=payload, headers=signed(payload, "whsec_wrong")
    )
    assert problem(forged, 400)["type"] == "/problems/bad-signature"
    missing = await http.post(
        "/webhooks/stripe", content=payload, headers={"Content-Type": "application/json"}
    )
    problem(missing, 400)
    stale = signed(
        payload, infra.settings.stripe_webhook_secret.get_secret_value(), at=int(time.time()) - 3600
    )
    problem(
        await http.post("/webhooks/stripe", content=payload, headers=stale), 400
    )  # replayed old request
    assert await recorded(infra, "evt_forged_1") == 0


async def test_chargeback_events_three_times_each_out_of_order_have_one_effect(
    http: ApiClient, infra: Infra, sandbox: httpx.AsyncClient
) -> None:
    client, worker, cid = await contract_offer(http, [30_000])
    await connect_payout_account(http, worker)
    await worker.post(f"/v1/contracts/{cid}/accept")
    # Hold every webhook back, so we can deliver them in the worst order ourselves.
    await sandbox.post("/_sandbox/faults", json={"webhook_drop_rate": 1.0})
    assert (await fund(client, cid, 1, "pm_card_createDispute")).status_code == 200
    charge = (await contract(client, cid))["milestones"][0]
    assert charge["status"] == "funded"

    async def dispute_events() -> list[dict[str, Any]]:
        events = (await sandbox.get("/_sandbox/stripe/objects", params={"type": "event"})).json()[
            "data"
        ]
        return [
            e
            for e in events
            if e["type"].startswith("charge.dispute.")
            and e["data"]["object"]["payment_intent"]
            and e["data"]["object"]["charge"] in await charges_of(sandbox, cid)
        ]

    created = await eventually(
        dispute_events, lambda es: any(e["type"] == "charge.dispute.created" for e in es)
    )
    dispute_id = next(e for e in created if e["type"] == "charge.dispute.created")["data"][
        "object"
    ]["id"]
    closed = await sandbox.post(
        f"/_sandbox/stripe/disputes/{dispute_id}/close", json={"outcome": "lost"}
    )
    assert closed.status_code == 200
    events = await eventually(
        dispute_events, lambda es: any(e["type"] == "charge.dispute.closed" for e in es)
    )
    by_type = {e["type"]: e["id"] for e in events}
    await sandbox.delete("/_sandbox/faults")

    # "closed" before "created", every one three times, siblings interleaved.
    order = [
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.created",
    ] * 3
    for event_type in order:
        if event_type in by_type:
            assert (
                await sandbox.post(f"/_sandbox/stripe/webhooks/{by_type[event_type]}/resend")
            ).status_code == 200

    lost = await eventually(
        lambda: contract(client, cid), lambda c: c["milestones"][0]["status"] == "lost"
    )
    assert lost["milestones"][0]["chargeback_status"] == "lost"
    assert lost["money"]["chargeback_lost_cents"] == 30_000 and lost["money"]["escrow_cents"] == 0
    assert lost["money"]["released_cents"] == 0  # nothing paid out
    async with infra.engine.connect() as conn:
        losses = await conn.execute(
            sa.select(sa.func.count()).where(
                LEDGER_TRANSACTIONS.c.contract_id == cid,
                LEDGER_TRANSACTIONS.c.kind == "chargeback_lost",
            )
        )
        assert losses.scalar_one() == 1
    for event_id in by_type.values():
        # Resent deliveries travel in the background: the contract can be "lost" before the
        # last copy of an event that changes nothing (funds_withdrawn) has landed.
        await eventually(functools.partial(recorded, infra, event_id), lambda n: n >= 1)
        assert await recorded(infra, event_id) == 1  # stored once however often it came


async def charges_of(sandbox: httpx.AsyncClient, cid: str) -> set[str]:
    charges = (await sandbox.get("/_sandbox/stripe/objects", params={"type": "charge"})).json()[
        "data"
    ]
    return {c["id"] for c in charges if c["transfer_group"] == f"contract-{cid}"}


async def test_the_payment_webhook_can_arrive_before_the_fund_call_returns(
    http: ApiClient, infra: Infra, sandbox: httpx.AsyncClient
) -> None:
    client, worker, cid = await contract_offer(http, [15_000])
    await worker.post(f"/v1/contracts/{cid}/accept")
    # Stripe answers the confirm call late: its payment_intent.succeeded webhook lands first.
    await sandbox.post(
        "/_sandbox/faults",
        json={
            "hang_after_commit_ms": {"path_prefix": "/v1/payment_intents", "ms": 1500, "times": 5}
        },
    )
    funded = await fund(client, cid, 1)
    returned_at = datetime.now(UTC)
    assert funded.status_code == 200 and funded.json()["milestones"][0]["status"] == "funded"
    async with infra.engine.connect() as conn:
        early = await conn.execute(
            sa.select(WEBHOOK_EVENTS.c.processed_at).where(
                WEBHOOK_EVENTS.c.type == "payment_intent.succeeded",
                WEBHOOK_EVENTS.c.payload["data"]["object"]["metadata"]["contract_id"].astext == cid,
            )
        )
        handled_at = early.scalar_one()
        assert (
            handled_at is not None and handled_at < returned_at
        )  # handled while the call was pending
        fundings = await conn.execute(
            sa.select(sa.func.count()).where(
                LEDGER_TRANSACTIONS.c.contract_id == cid, LEDGER_TRANSACTIONS.c.kind == "funding"
            )
        )
        assert fundings.scalar_one() == 1
    assert len(await charges_of(sandbox, cid)) == 1
