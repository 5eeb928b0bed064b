"""A check-provider sandbox of its own (per test module) and a webhook receiver that verifies
`X-Checkr-Signature` the way the app must: hex HMAC-SHA256 of the raw body."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

from sandbox.testing import (
    TEST_CHECKS_WEBHOOK_SECRET,
    checks_client,
    running_sandbox,
    sandbox_config,
    serve_asgi,
)

from .conftest import eventually

Event = dict[str, Any]


def signature_valid(body: bytes, header: str | None, secret: str) -> bool:
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


@dataclass
class CheckrReceiver:
    secret: str = TEST_CHECKS_WEBHOOK_SECRET
    events: list[Event] = field(default_factory=list)
    # What arrived on the wire, to check signatures against the exact bytes.
    deliveries: list[tuple[bytes, str | None]] = field(default_factory=list)
    rejected_signatures: int = 0
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/webhooks/checkr")
        async def receive(request: Request) -> Response:
            body = await request.body()
            header = request.headers.get("x-checkr-signature")
            self.deliveries.append((body, header))
            if not signature_valid(body, header, self.secret):
                self.rejected_signatures += 1
                return Response(status_code=400)
            self.events.append(json.loads(body))
            return Response(status_code=200)

        return app

    def clear(self) -> None:
        self.events.clear()
        self.deliveries.clear()
        self.rejected_signatures = 0

    def of_type(self, event_type: str) -> list[Event]:
        return [e for e in self.events if e["type"] == event_type]

    async def wait_for(
        self, event_type: str, matches: Callable[[Event], bool] = lambda _: True
    ) -> Event:
        found: list[Event] = []

        def ready() -> bool:
            found[:] = [e for e in self.of_type(event_type) if matches(e)]
            return bool(found)

        await eventually(ready, f"a {event_type} webhook")
        return found[0]


@dataclass
class ChecksEnv:
    url: str
    receiver: CheckrReceiver

    def client(self, api_key: str | None = None) -> httpx.AsyncClient:
        return checks_client(self.url, api_key) if api_key else checks_client(self.url)

    def control(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url)


@contextlib.asynccontextmanager
async def checks_sandbox(**overrides: Any) -> AsyncIterator[ChecksEnv]:
    receiver = CheckrReceiver()
    async with serve_asgi(receiver.app()) as receiver_url:
        receiver.url = f"{receiver_url}/webhooks/checkr"
        config = sandbox_config(checks_webhook_url=receiver.url, **overrides)
        async with running_sandbox(config) as url:
            yield ChecksEnv(url, receiver)


async def candidate(client: httpx.AsyncClient, email: str, **fields: Any) -> Event:
    response = await client.post(
        "/v1/candidates",
        json={"first_name": "Wes", "last_name": "Moss", "email": email, **fields},
    )
    assert response.status_code == 201, response.text
    data: Event = response.json()
    return data


async def invitation(
    client: httpx.AsyncClient, candidate_id: str, package: str = "tasker_standard"
) -> Event:
    response = await client.post(
        "/v1/invitations",
        json={
            "candidate_id": candidate_id,
            "package": package,
            "work_locations": [{"country": "US", "state": "CA", "city": "San Francisco"}],
        },
    )
    assert response.status_code == 201, response.text
    data: Event = response.json()
    return data
