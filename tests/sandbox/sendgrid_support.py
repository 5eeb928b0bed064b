"""What the SendGrid sandbox tests share: a verifying Event Webhook receiver, a sandbox of
their own, and the official (synchronous) SDK called off the event loop.

The sandbox and the receiver serve from the test's event loop, so every SDK call goes through
`asyncio.to_thread`; calling the SDK directly would block the loop that has to answer it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from python_http_client.client import Response as SdkResponse
from sendgrid.helpers.eventwebhook import EventWebhook, EventWebhookHeader

from sandbox.testing import (
    TEST_SENDGRID_VERIFICATION_KEY,
    running_sandbox,
    sandbox_config,
    sendgrid_client,
    serve_asgi,
)

from .conftest import eventually

SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class Batch:
    """One verified POST: the events and exactly what arrived."""

    events: list[dict[str, Any]]
    body: bytes
    signature: str
    timestamp: str


@dataclass
class EventReceiver:
    """Verifies every batch as the app must (raw body + both headers + verification key);
    can be told to answer 500 to the next N batches."""

    verification_key: str = TEST_SENDGRID_VERIFICATION_KEY
    batches: list[Batch] = field(default_factory=list)
    rejected: int = 0
    fail_next: int = 0
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()
        verifier = EventWebhook(self.verification_key)

        @app.post("/webhooks/sendgrid")
        async def receive(request: Request) -> Response:
            body = await request.body()
            signature = request.headers.get(EventWebhookHeader.SIGNATURE, "")
            timestamp = request.headers.get(EventWebhookHeader.TIMESTAMP, "")
            if not (signature and timestamp) or not verifier.verify_signature(
                body.decode(), signature, timestamp
            ):
                self.rejected += 1
                return Response(status_code=403)
            if self.fail_next > 0:
                self.fail_next -= 1
                return Response(status_code=500)
            self.batches.append(Batch(json.loads(body), body, signature, timestamp))
            return Response(status_code=200)

        return app

    def clear(self) -> None:
        self.batches.clear()
        self.rejected = 0
        self.fail_next = 0

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for batch in self.batches for event in batch.events]

    def events_for(self, email: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["email"].lower() == email.lower()]

    async def wait_for(
        self, email: str, event: str, matches: Callable[[dict[str, Any]], bool] = lambda _: True
    ) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def arrived() -> bool:
            found[:] = [e for e in self.events_for(email) if e["event"] == event and matches(e)]
            return bool(found)

        await eventually(arrived, f"a {event} event for {email}")
        return found[0]


@dataclass
class SendGridEnv:
    url: str
    receiver: EventReceiver
    control: httpx.AsyncClient
    sdk: Any  # sendgrid.SendGridAPIClient

    async def reset(self) -> None:
        """Wipe the sandbox and the receiver. A batch of the previous test may still be on its
        way (a reset cannot recall a POST already sent), so first let those land."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            data = (await self.control.get("/_sandbox/sendgrid/webhooks")).json()["data"]
            if all(d["status"] not in ("pending", "retrying") for d in data):
                break
            await asyncio.sleep(0.01)
        (await self.control.post("/_sandbox/reset")).raise_for_status()
        self.receiver.clear()

    async def send(self, message: Any, sdk: Any = None) -> SdkResponse:
        """`sg.send(Mail | dict)` off the loop; raises the SDK's HTTPError subclasses."""
        return await asyncio.to_thread((sdk or self.sdk).send, message)

    async def search(self, query: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if query is not None:
            params["query"] = query
        response = await asyncio.to_thread(self.sdk.client.messages.get, query_params=params)
        messages: list[dict[str, Any]] = json.loads(response.body)["messages"]
        return messages

    async def copies(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.control.get("/_sandbox/sendgrid/messages", params=params)
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    async def outbox(self, to: str) -> list[dict[str, Any]]:
        response = await self.control.get("/_sandbox/outbox", params={"to": to})
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()["data"]
        return data


@contextlib.asynccontextmanager
async def sendgrid_env(**config: Any) -> AsyncIterator[SendGridEnv]:
    """A receiver and a sandbox of this module's own (the shared session sandbox is Stripe's)."""
    receiver = EventReceiver()
    async with serve_asgi(receiver.app()) as receiver_url:
        receiver.url = f"{receiver_url}/webhooks/sendgrid"
        settings = sandbox_config(sendgrid_webhook_url=receiver.url, **config)
        async with (
            running_sandbox(settings) as url,
            httpx.AsyncClient(base_url=url) as control,
        ):
            yield SendGridEnv(url, receiver, control, sendgrid_client(url))


def error_body(error: Any) -> dict[str, Any]:
    """The JSON body of a `python_http_client.exceptions.HTTPError`."""
    body: dict[str, Any] = json.loads(error.body)
    return body
