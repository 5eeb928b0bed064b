"""One real sandbox (uvicorn on a free port) and one webhook receiver for the whole session.

Tests talk to the sandbox only through the official SDK (plus httpx for `/_sandbox` control
endpoints), and the receiver verifies every webhook with `stripe.Webhook.construct_event`,
exactly as the app will.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest
import stripe
from fastapi import FastAPI, Request, Response

from sandbox.testing import (
    TEST_STRIPE_WEBHOOK_SECRET,
    running_sandbox,
    sandbox_config,
    serve_asgi,
    stripe_client,
)

WAIT_SECONDS = 5.0


@dataclass
class WebhookReceiver:
    """Records verified events; can be told to fail the first N deliveries of an event type."""

    secret: str = TEST_STRIPE_WEBHOOK_SECRET
    events: list[stripe.Event] = field(default_factory=list)
    rejected_signatures: int = 0
    fail_first: dict[str, int] = field(default_factory=dict)
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/webhooks")
        async def receive(request: Request) -> Response:
            payload = await request.body()
            try:
                event = stripe.Webhook.construct_event(
                    payload, request.headers.get("stripe-signature"), self.secret
                )
            except stripe.SignatureVerificationError:
                self.rejected_signatures += 1
                return Response(status_code=400)
            if self.fail_first.get(event.type, 0) > 0:
                self.fail_first[event.type] -= 1
                return Response(status_code=500)
            self.events.append(event)
            return Response(status_code=200)

        return app

    def clear(self) -> None:
        self.events.clear()
        self.fail_first.clear()
        self.rejected_signatures = 0

    def of_type(self, event_type: str) -> list[stripe.Event]:
        return [e for e in self.events if e.type == event_type]

    async def wait_for(
        self,
        event_type: str,
        matches: Callable[[stripe.Event], bool] = lambda _: True,
        *,
        count: int = 1,
    ) -> list[stripe.Event]:
        found: list[stripe.Event] = []

        def ready() -> bool:
            found[:] = [e for e in self.of_type(event_type) if matches(e)]
            return len(found) >= count

        await eventually(ready, f"{count} x {event_type} webhook(s)")
        return found


async def eventually(condition: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    """Wait (briefly) until `condition` holds: webhooks and chargebacks arrive asynchronously."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        outcome = condition()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture(scope="session")
async def receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    async with serve_asgi(receiver.app()) as url:
        receiver.url = f"{url}/webhooks"
        yield receiver


@pytest.fixture(scope="session")
async def sandbox_url(receiver: WebhookReceiver) -> AsyncIterator[str]:
    async with running_sandbox(sandbox_config(stripe_webhook_url=receiver.url)) as url:
        yield url


@pytest.fixture
async def control(sandbox_url: str, receiver: WebhookReceiver) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for `/_sandbox` endpoints; each test starts from a wiped sandbox."""
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        (await client.post("/_sandbox/reset")).raise_for_status()
        receiver.clear()
        yield client


@pytest.fixture
def client(sandbox_url: str, control: httpx.AsyncClient) -> stripe.StripeClient:
    return stripe_client(sandbox_url)
