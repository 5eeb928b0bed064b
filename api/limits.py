"""Request bounds, as pure ASGI middleware (it sees the body as it streams in): a body larger
than the limit answers 413 — before any of it is read when Content-Length says so — and a
body that takes longer than the deadline to arrive answers 408, so a slow client cannot hold
a server slot for ever. Headers are bounded by uvicorn (h11 refuses oversized ones) and, in
production, by the ingress in front (deploy/).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import TempworkError, problem


class BodyLimits:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        webhook_max_bytes: int,
        deadline_seconds: float,
    ) -> None:
        self.app = app
        self.max_bytes, self.webhook_max_bytes = max_bytes, webhook_max_bytes
        self.deadline_seconds = deadline_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        # Providers batch events (SendGrid posts up to thousands at once).
        limit = self.webhook_max_bytes if path.startswith("/webhooks/") else self.max_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer(scope, receive, send, _too_large(limit))
            return
        received = 0
        deadline = time.monotonic() + self.deadline_seconds
        # Frameworks turn any error while reading the body into their own answer (FastAPI: 400
        # "error parsing the body"), so the verdict is kept here and replaces that answer.
        verdict: TempworkError | None = None

        async def bounded_receive() -> Message:
            nonlocal received, verdict
            left = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(left, 0.001))
            except TimeoutError:
                verdict = TempworkError(
                    "request-timeout",
                    f"the request body did not arrive within {self.deadline_seconds:g} s",
                )
                raise verdict from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    verdict = _too_large(limit)
                    raise verdict
            return message

        async def answer_with_verdict(message: Message) -> None:
            if verdict is None:
                await send(message)
            elif message["type"] == "http.response.start":
                if verdict.slug == "payload-too-large":
                    await _discard_rest(receive)
                await _answer(scope, receive, send, verdict)
            # else: the rest of the framework's own answer is dropped

        await self.app(scope, bounded_receive, answer_with_verdict)


def _too_large(limit: int) -> TempworkError:
    return TempworkError("payload-too-large", f"the body may be at most {limit} bytes")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


# Lingering close, as nginx does it: closing a socket with unread data in it resets the
# connection, and a client still sending its body then loses the 413 before it reads it
# (uvicorn's httptools protocol closes at once). A bounded amount is read and dropped first.
LINGER_BYTES = 1 << 20
LINGER_SECONDS = 1.0


async def _discard_rest(receive: Receive) -> None:
    deadline, read = time.monotonic() + LINGER_SECONDS, 0
    while read < LINGER_BYTES:
        try:
            message = await asyncio.wait_for(receive(), timeout=deadline - time.monotonic())
        except TimeoutError:
            return
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        read += len(message.get("body", b""))


async def _answer(scope: Scope, receive: Receive, send: Send, error: TempworkError) -> None:
    response: Any = problem(error.slug, error.detail, scope["path"])
    response.headers["Connection"] = "close"  # the unread body is not worth waiting for
    await response(scope, receive, send)
