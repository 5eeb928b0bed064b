"""Signed webhook delivery, like Stripe's: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256>`.

Queueing, retries and faults are the shared `sandbox.webhooks.WebhookSender`; this module adds
what is Stripe's own: the event as payload, the signature scheme, and `pending_webhooks`
dropping to 0 once the event was delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from ..faults import FaultInjector
from ..store import JSON, ObjectStore
from ..webhooks import Outgoing, ProviderWebhooks, WebhookSender
from .render import dumps


def signature_header(payload: str, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.{payload}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class StripeWebhooks(ProviderWebhooks):
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
        self.url = url
        self._secret = secret
        self.sender = WebhookSender(
            store,
            faults,
            name="stripe",
            render=self._render,
            retry_delays=retry_delays,
            on_delivered=self._delivered,
        )

    @property
    def enabled(self) -> bool:
        return self.url is not None

    def enqueue(self, event: JSON) -> None:
        if self.enabled:
            self.sender.enqueue(event["id"], type=event["type"], created=event["created"])

    def resend(self, event_id: str) -> None:
        if self.store.get("event", event_id) is None:
            raise KeyError(event_id)
        if not self.sender.resend(event_id):
            event = self.store.get("event", event_id)
            assert event is not None
            self.enqueue(event)

    def deliveries(self) -> list[JSON]:
        return self.sender.deliveries()

    def _render(self, delivery: JSON) -> Outgoing | None:
        event = self.store.get("event", delivery["event_id"])
        if event is None or self.url is None:
            return None
        payload = dumps(event)
        # Each attempt is signed afresh, so its timestamp is inside the receiver's tolerance.
        return Outgoing(
            self.url,
            payload.encode(),
            {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": signature_header(payload, self._secret, int(time.time())),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
        )

    def _delivered(self, delivery: JSON) -> None:
        event = self.store.get("event", delivery["event_id"])
        if event is not None:
            event["pending_webhooks"] = 0
            self.store.save("event", event)
