"""A Twilio sandbox per test module, and a webhook receiver that checks every request with the
SDK's `RequestValidator`, exactly as the app will.

The receiver serves `/status` (status callbacks; tests add a query string to prove it is
signed too) and `/inbound` (the number's messaging webhook).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qsl

import httpx
from fastapi import FastAPI, Request, Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client as TwilioClient

from core.twilio_http import TwilioHttpClient
from sandbox.testing import (
    TEST_TWILIO_AUTH_TOKEN,
    running_sandbox,
    sandbox_config,
    serve_asgi,
    twilio_client,
)

from .conftest import eventually

PERSON = "+15551230001"  # an ordinary mobile number: accepted and delivered
OTHER_PERSON = "+15551230002"


@dataclass(frozen=True)
class Webhook:
    """One request the receiver accepted (its signature was valid)."""

    kind: str  # "status" or "inbound"
    url: str
    params: dict[str, str]
    signature: str
    idempotency_token: str | None


@dataclass
class TwilioReceiver:
    auth_token: str = TEST_TWILIO_AUTH_TOKEN
    received: list[Webhook] = field(default_factory=list)
    rejected_signatures: int = 0
    # Fail the first N requests reporting a status (`MessageStatus`/`SmsStatus`, e.g. "sent").
    fail_first: dict[str, int] = field(default_factory=dict)
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{kind}")
        async def receive(kind: str, request: Request) -> Response:
            params = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
            signature = request.headers.get("x-twilio-signature", "")
            if not RequestValidator(self.auth_token).validate(str(request.url), params, signature):
                self.rejected_signatures += 1
                return Response(status_code=403)
            status = params.get("MessageStatus") or params.get("SmsStatus") or ""
            if self.fail_first.get(status, 0) > 0:
                self.fail_first[status] -= 1
                return Response(status_code=500)
            self.received.append(
                Webhook(
                    kind,
                    str(request.url),
                    params,
                    signature,
                    request.headers.get("i-twilio-idempotency-token"),
                )
            )
            # What an app answers Twilio with: empty TwiML.
            return Response("<Response/>", media_type="application/xml")

        return app

    def clear(self) -> None:
        self.received.clear()
        self.fail_first.clear()
        self.rejected_signatures = 0

    @property
    def status_url(self) -> str:
        return f"{self.url}/status"

    @property
    def inbound_url(self) -> str:
        return f"{self.url}/inbound"

    async def wait_for(
        self, kind: str, matches: Callable[[Webhook], bool] = lambda _: True, *, count: int = 1
    ) -> list[Webhook]:
        found: list[Webhook] = []

        def ready() -> bool:
            found[:] = [w for w in self.received if w.kind == kind and matches(w)]
            return len(found) >= count

        await eventually(ready, f"{count} {kind} webhook(s)")
        return found

    async def callbacks_for(self, sid: str, *, count: int) -> list[str]:
        """The statuses reported for message `sid`, in arrival order, once `count` arrived."""
        found = await self.wait_for("status", lambda w: w.params["MessageSid"] == sid, count=count)
        return [w.params["MessageStatus"] for w in found]


@dataclass
class TwilioEnv:
    url: str
    client: TwilioClient
    control: httpx.AsyncClient
    receiver: TwilioReceiver

    async def reset(self) -> None:
        (await self.control.post("/_sandbox/reset")).raise_for_status()
        self.receiver.clear()

    async def get(self, path: str, **params: str) -> list[dict[str, Any]]:
        response = await self.control.get(path, params=params)
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    async def outbox(self, to: str | None = None) -> list[dict[str, Any]]:
        return await self.get("/_sandbox/outbox", **({"to": to} if to else {}))

    async def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        return await self.get("/_sandbox/twilio/messages", **({"to": to} if to else {}))

    async def deliveries(self) -> list[dict[str, Any]]:
        return await self.get("/_sandbox/twilio/webhooks")

    async def set_faults(self, **faults: Any) -> None:
        response = await self.control.post("/_sandbox/faults", json=faults)
        response.raise_for_status()

    async def clear_faults(self) -> None:
        (await self.control.delete("/_sandbox/faults")).raise_for_status()


@contextlib.asynccontextmanager
async def sdk_client(url: str, **credentials: str) -> AsyncIterator[TwilioClient]:
    """`sandbox.testing.twilio_client`, closed afterwards."""
    client = twilio_client(url, **credentials)
    try:
        yield client
    finally:
        await cast(TwilioHttpClient, client.http_client).close()


@contextlib.asynccontextmanager
async def serve_receiver() -> AsyncIterator[TwilioReceiver]:
    receiver = TwilioReceiver()
    async with serve_asgi(receiver.app()) as url:
        receiver.url = url
        yield receiver


@contextlib.asynccontextmanager
async def sandbox_env(receiver: TwilioReceiver, **config: Any) -> AsyncIterator[TwilioEnv]:
    """A running sandbox whose number's webhook is `receiver`; `config` overrides fields."""
    sandbox = running_sandbox(sandbox_config(twilio_webhook_url=receiver.inbound_url, **config))
    async with (
        sandbox as url,
        httpx.AsyncClient(base_url=url) as control,
        sdk_client(url) as client,
    ):
        yield TwilioEnv(url, client, control, receiver)


@contextlib.asynccontextmanager
async def twilio_environment(**config: Any) -> AsyncIterator[TwilioEnv]:
    async with serve_receiver() as receiver, sandbox_env(receiver, **config) as env:
        yield env
