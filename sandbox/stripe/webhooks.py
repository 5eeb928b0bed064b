"""Signed webhook delivery, like Stripe's: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256>`.

Events are queued by API calls and delivered by a background task, never inside the request, so
(as with real Stripe) a webhook can reach the app before the API call that caused it returns.
First attempts go out in creation order; an event whose attempt fails (non-2xx or connection
error) is retried on its own schedule so one failing event never holds back the next, as with
real Stripe (which also does not promise ordering across retries). Every attempt is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from typing import Any

import httpx

from ..faults import FaultInjector
from ..store import JSON, ObjectStore
from .render import dumps

log = logging.getLogger(__name__)

DELIVERY = "_webhook_delivery"
ATTEMPT_TIMEOUT_SECONDS = 5.0


def signature_header(payload: str, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.{payload}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookSender:
    def __init__(
        self,
        store: ObjectStore,
        faults: FaultInjector,
        *,
        url: str | None,
        secret: str,
        retry_delays: tuple[float, ...],
    ) -> None:
        self.store = store
        self.faults = faults
        self.url = url
        self._secret = secret
        self.retry_delays = retry_delays
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._retries: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        # Bumped by reset(): an attempt that was in flight must not write its outcome back
        # into the wiped store (it would resurrect the old event and delivery).
        self._generation = 0

    @property
    def enabled(self) -> bool:
        return self.url is not None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._client = httpx.AsyncClient(timeout=ATTEMPT_TIMEOUT_SECONDS)
        self._worker = asyncio.create_task(self._run(), name="stripe-webhooks")
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

    def enqueue(self, event: JSON) -> None:
        if not self.enabled:
            return
        self.store.save(
            DELIVERY,
            {
                "id": event["id"],
                "event_id": event["id"],
                "type": event["type"],
                "status": "pending",
                "attempts": [],
                "last_status": None,
                "created": event["created"],
            },
        )
        self._queue.put_nowait(event["id"])

    def resend(self, event_id: str) -> None:
        delivery = self.store.get(DELIVERY, event_id)
        event = self.store.get("event", event_id)
        if event is None:
            raise KeyError(event_id)
        if delivery is None:
            self.enqueue(event)
            return
        delivery["status"] = "pending"
        self.store.save(DELIVERY, delivery)
        self._queue.put_nowait(event_id)

    def deliveries(self) -> list[JSON]:
        return self.store.all(DELIVERY)

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            delay_ms = self.faults.settings.webhook_delay_ms
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            # Everything queued by now goes out as one batch, which is what `webhook_shuffle`
            # reorders (a delay lets more events pile up, making the shuffle more visible).
            batch = [first]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if self.faults.settings.webhook_shuffle:
                self.faults.rng.shuffle(batch)
            for event_id in batch:
                try:
                    await self._deliver(event_id)
                except Exception:  # a sandbox bug must not stop all later deliveries
                    log.exception("webhook delivery of %s failed unexpectedly", event_id)

    async def _deliver(self, event_id: str) -> None:
        delivery = self.store.get(DELIVERY, event_id)
        if delivery is None:  # wiped by a reset while queued
            return
        if self.faults.roll(self.faults.settings.webhook_drop_rate):
            delivery["status"] = "dropped"
            self.store.save(DELIVERY, delivery)
            return
        if await self._attempt(delivery):
            if self.faults.roll(self.faults.settings.webhook_duplicate_rate):
                await self._attempt(delivery, duplicate=True)
            return
        delivery["status"] = "retrying"
        self.store.save(DELIVERY, delivery)
        task = asyncio.create_task(self._retry(event_id), name=f"stripe-webhook-retry-{event_id}")
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _retry(self, event_id: str) -> None:
        for delay in self.retry_delays:
            await asyncio.sleep(delay)
            delivery = self.store.get(DELIVERY, event_id)
            if delivery is None or delivery["status"] != "retrying":
                return
            if await self._attempt(delivery):
                return
        delivery = self.store.get(DELIVERY, event_id)
        if delivery is not None and delivery["status"] == "retrying":
            delivery["status"] = "failed"
            self.store.save(DELIVERY, delivery)

    async def _attempt(self, delivery: JSON, *, duplicate: bool = False) -> bool:
        event = self.store.get("event", delivery["event_id"])
        if event is None or self.url is None or self._client is None:
            return False
        payload = dumps(event)
        # Each attempt is signed afresh, so its timestamp is inside the receiver's tolerance.
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(payload, self._secret, int(time.time())),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        attempt: dict[str, Any] = {"at": time.time(), "http_status": None, "error": None}
        if duplicate:
            attempt["duplicate"] = True
        ok = False
        generation = self._generation
        try:
            response = await self._client.post(self.url, content=payload.encode(), headers=headers)
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
            event["pending_webhooks"] = 0
            self.store.save("event", event)
        self.store.save(DELIVERY, delivery)
        return ok
