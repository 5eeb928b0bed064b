"""With a data file, a restarted sandbox still knows objects, keys and events."""

from __future__ import annotations

from pathlib import Path

import pytest
import stripe

from sandbox.testing import running_sandbox, sandbox_config, stripe_client

from .helpers import headers, pay


async def test_state_survives_a_restart(tmp_path: Path) -> None:
    config = sandbox_config(data_file=tmp_path / "sandbox.sqlite3")
    async with running_sandbox(config) as url:
        client = stripe_client(url)
        intent = await pay(client, 4200, idempotency_key="k-persist", transfer_group="c-1")

    async with running_sandbox(config) as url:
        client = stripe_client(url)
        again = await client.v1.payment_intents.retrieve_async(intent.id)
        assert (again.status, again.amount, again.latest_charge) == (
            "succeeded",
            4200,
            intent.latest_charge,
        )
        replayed = await pay(client, 4200, idempotency_key="k-persist", transfer_group="c-1")
        assert replayed.id == intent.id
        assert headers(replayed)["Idempotent-Replayed"] == "true"
        with pytest.raises(stripe.IdempotencyError):
            await pay(client, 4300, idempotency_key="k-persist", transfer_group="c-1")
        events = await client.v1.events.list_async(params={"type": "payment_intent.succeeded"})
        assert [e.data.object.id for e in events.data] == [intent.id]
        newer = await pay(client, 100)
        listed = await client.v1.payment_intents.list_async()
        assert [p.id for p in listed.data] == [newer.id, intent.id]
