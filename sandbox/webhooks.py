"""Webhook delivery shared by every provider sandbox: queued, signed per attempt, retried.

Deliveries are queued by API calls and sent by a background task, never inside the request,
so (as with the real providers) a webhook can reach the app before the API call that caused it
returns. First attempts go out in queue order; a failed attempt (non-2xx or connection error)
is retried on its own schedule so one failing delivery never holds back the next. Every attempt
is recorded, and the fault injector can drop, duplicate, delay and reorder deliveries.

Each provider says how a delivery becomes an HTTP request with a `render` function: it is
called at every attempt, so signatures carry a fresh timestamp (Stripe, SendGrid) and the
payload is read as it is stored now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from .faults import FaultInjector
from .store import JSON, ObjectStore

log = logging.getLogger(__name__)

DELIVERY = "_webhook_delivery"
ATTEMPT_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Outgoing:
    """One signed HTTP request, ready to send."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


Render = Callable[[JSON], Outgoing | None]  # None: nothing to send any more (e.g. wiped)
Delivered = Callable[[JSON], None]


class WebhookSender:
    def __init__(
        self,
        store: ObjectStore,
        faults: FaultInjector,
        *,
        name: str,
        render: Render,
        retry_delays: tuple[float, ...],
        on_delivered: Delivered | None = None,
    ) -> None:
        self.store = store
        self.faults = faults
        self.name = name
        self.retry_delays = retry_delays
        self._render = render
        self._on_delivered = on_delivered
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._retries: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        # Bumped by reset(): an attempt that was in flight must not write its outcome back
        # into the wiped store (it would resurrect the old delivery).
        self._generation = 0

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._client = httpx.AsyncClient(timeout=ATTEMPT_TIMEOUT_SECONDS)
        self._worker = asyncio.create_task(self._run(), name=f"{self.name}-webhooks")
        # After a restart, deliver what was still owed before the sandbox stopped.
        for delivery in self.store.all(DELIVERY):
            if delivery["status"] in ("pending", "retrying"):
                self._queue.put_nowait(delivery["id"])

    async def stop(self) -> None:
        tasks = [t for t in (self._worker, *self._retries) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._worker = None
        self._retries.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def reset(self) -> None:
        self._generation += 1
        for task in self._retries:
            task.cancel()
        self._retries.clear()
        while not self._queue.empty():
            self._queue.get_nowait()

    def enqueue(self, delivery_id: str, *, type: str, created: int, **fields: Any) -> JSON:
        """Queue one delivery; `fields` are kept on it for `render` (e.g. the target url)."""
        delivery = self.store.save(
            DELIVERY,
            {
                "id": delivery_id,
                "event_id": delivery_id,
                "type": type,
                "status": "pending",
                "attempts": [],
                "last_status": None,
                "created": created,
                **fields,
            },
        )
        self._queue.put_nowait(delivery_id)
        return delivery

    def resend(self, delivery_id: str) -> bool:
        """Deliver again (a manual resend, as in a provider's dashboard); False if unknown."""
        delivery = self.store.get(DELIVERY, delivery_id)
        if delivery is None:
            return False
        delivery["status"] = "pending"
        self.store.save(DELIVERY, delivery)
        self._queue.put_nowait(delivery_id)
        return True

    def get(self, delivery_id: str) -> JSON | None:
        return self.store.get(DELIVERY, delivery_id)

    def deliveries(self) -> list[JSON]:
        return self.store.all(DELIVERY)

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            delay_ms = self.faults.settings.webhook_delay_ms
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            # Everything queued by now goes out as one batch, which is what `webhook_shuffle`
            # reorders (a delay lets more deliveries pile up, making the shuffle more visible).
            batch = [first]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if self.faults.settings.webhook_shuffle:
                self.faults.rng.shuffle(batch)
            for delivery_id in batch:
                try:
                    await self._deliver(delivery_id)
                except Exception:  # a sandbox bug must not stop all later deliveries
                    log.exception("%s webhook delivery of %s failed", self.name, delivery_id)

    async def _deliver(self, delivery_id: str) -> None:
        delivery = self.store.get(DELIVERY, delivery_id)
        if delivery is None:  # wiped by a reset while queued
            return
        if self.faults.roll(self.faults.settings.webhook_drop_rate, self.name):
            delivery["status"] = "dropped"
            self.store.save(DELIVERY, delivery)
            return
        if await self._attempt(delivery):
            if self.faults.roll(self.faults.settings.webhook_duplicate_rate, self.name):
                await self._attempt(delivery, duplicate=True)
            return
        delivery["status"] = "retrying"
        self.store.save(DELIVERY, delivery)
        task = asyncio.create_task(
            self._retry(delivery_id), name=f"{self.name}-webhook-retry-{delivery_id}"
        )
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _retry(self, delivery_id: str) -> None:
        for delay in self.retry_delays:
            await asyncio.sleep(delay)
            delivery = self.store.get(DELIVERY, delivery_id)
            if delivery is None or delivery["status"] != "retrying":
                return
            if await self._attempt(delivery):
                return
        delivery = self.store.get(DELIVERY, delivery_id)
        if delivery is not None and delivery["status"] == "retrying":
            delivery["status"] = "failed"
            self.store.save(DELIVERY, delivery)

    async def _attempt(self, delivery: JSON, *, duplicate: bool = False) -> bool:
        outgoing = self._render(delivery)
        if outgoing is None or self._client is None:
            return False
        attempt: dict[str, Any] = {"at": time.time(), "http_status": None, "error": None}
        if duplicate:
            attempt["duplicate"] = True
        ok = False
        generation = self._generation
        try:
            response = await self._client.post(
                outgoing.url, content=outgoing.body, headers=outgoing.headers
            )
            attempt["http_status"] = response.status_code
            ok = 200 <= response.status_code < 300
        except httpx.HTTPError as exc:
            attempt["error"] = type(exc).__name__
        if generation != self._generation:
            return True  # the sandbox was reset meanwhile; nothing left to record or retry
        delivery["attempts"].append(attempt)
        delivery["last_status"] = attempt["http_status"]
        if ok:
            delivery["status"] = "delivered"
            if self._on_delivered is not None:
                self._on_delivered(delivery)
        self.store.save(DELIVERY, delivery)
        return ok


def unix_now() -> int:
    return int(time.time())


class ProviderWebhooks:
    """Base of each provider's webhooks: its `sender` runs with the provider's lifecycle."""

    sender: WebhookSender

    async def start(self) -> None:
        await self.sender.start()

    async def stop(self) -> None:
        await self.sender.stop()

    def reset(self) -> None:
        self.sender.reset()
