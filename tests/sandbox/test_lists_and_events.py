"""Lists page like Stripe's (newest first, cursors) and every change is an Event."""

from __future__ import annotations

import time

import httpx
import stripe

from .helpers import express_account, pay


async def test_auto_paging_walks_every_object_once(client: stripe.StripeClient) -> None:
    created = [await express_account(client, metadata={"n": str(i)}) for i in range(23)]

    page = await client.v1.accounts.list_async(params={"limit": 10})
    assert (page.url, len(page.data), page.has_more) == ("/v1/accounts", 10, True)
    assert page.data[0].id == created[-1].id  # newest first
    seen = [a.id async for a in page.auto_paging_iter()]
    assert seen == [a.id for a in reversed(created)]

    before = await client.v1.accounts.list_async(
        params={"limit": 3, "ending_before": created[10].id}
    )
    assert [a.id for a in before.data] == [created[13].id, created[12].id, created[11].id]
    assert before.has_more is True


async def test_created_filters_and_filters_by_field(client: stripe.StripeClient) -> None:
    first = await pay(client, transfer_group="a")
    await pay(client, transfer_group="b")
    now = int(time.time())

    in_a = await client.v1.charges.list_async(params={"transfer_group": "a"})
    assert [c.payment_intent for c in in_a.data] == [first.id]
    recent = await client.v1.payment_intents.list_async(params={"created": {"gte": now - 60}})
    assert len(recent.data) == 2
    future = await client.v1.payment_intents.list_async(params={"created": {"gt": now + 60}})
    assert future.data == [] and future.has_more is False


async def test_events_record_each_change(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> None:
    intent = await pay(client, idempotency_key="k-events")

    events = await client.v1.events.list_async(params={"type": "payment_intent.*"})
    assert [e.type for e in events.data] == ["payment_intent.succeeded", "payment_intent.created"]
    succeeded = events.data[0]
    assert succeeded.id.startswith("evt_")
    assert succeeded.api_version == "2026-10-28.endive"
    assert succeeded.livemode is False
    assert succeeded.request is not None
    assert succeeded.request.idempotency_key == "k-events"
    assert succeeded.data.object.id == intent.id
    again = await client.v1.events.retrieve_async(succeeded.id)
    assert again.type == "payment_intent.succeeded"
