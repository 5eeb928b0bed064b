"""`sandbox.testing` for synchronous callers: the sandbox on its own thread."""

from __future__ import annotations

import httpx
import pytest
import stripe

from sandbox.testing import running_sandbox_in_thread, stripe_client


def test_sandbox_in_a_thread_serves_synchronous_sdk_calls() -> None:
    with running_sandbox_in_thread() as url:
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        client = stripe_client(url, http_client=stripe.HTTPXClient(allow_sync_methods=True))
        balance = client.v1.balance.retrieve()
        assert balance.livemode is False
    with pytest.raises(httpx.ConnectError):  # stopped, as promised
        httpx.get(f"{url}/health", timeout=0.5)
