"""End to end: the whole stack as separate processes (PostgreSQL, Temporal dev server,
sandbox, worker, API) on free ports — the same code `make dev` runs — driven only over HTTP."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import stripe
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from devstack.stack import Ports, Stack, new_secrets
from tests.conftest import ApiClient
from tests.e2e.chromium import ensure_chromium, kept_screenshots


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="tempwork-e2e-") as tmp:
        # With the Temporal Web UI (its own free port, 127.0.0.1 only) for the browser test; it
        # runs inside the dev server's process, so no other process is started for it.
        running = Stack(Path(tmp), Ports.free(ui=True), new_secrets(), durable=False)
        try:
            running.start()
            yield running
        finally:
            running.stop()


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[ApiClient]:
    async with ApiClient(stack.api_url, stack.sandbox_url) as client:
        yield client


@pytest.fixture
def stripe_sdk(stack: Stack) -> stripe.StripeClient:
    """The official SDK pointed at the sandbox, to audit what really happened at 'Stripe'."""
    return stripe.StripeClient(
        stack.secrets["TEMPWORK_STRIPE_API_KEY"],
        base_addresses={"api": f"{stack.sandbox_url}/stripe"},
        http_client=stripe.HTTPXClient(),
    )


@pytest.fixture
async def db(stack: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(stack.database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def temporal(stack: Stack) -> Client:
    return await Client.connect(stack.temporal_address, data_converter=pydantic_data_converter)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, installed by apt on first use (once per session): the README's two
    commands must still set up everything, and the browser test never skips."""
    return ensure_chromium()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Where the browser test's screenshots are, also when everything passed."""
    if kept_screenshots:
        terminalreporter.section("Temporal UI screenshots")
        for path in kept_screenshots:
            terminalreporter.write_line(str(path))
