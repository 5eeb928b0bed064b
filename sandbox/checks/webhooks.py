"""Checkr's webhooks: the event as compact JSON, signed `X-Checkr-Signature: <hex HMAC-SHA256>`.

Checkr keys the HMAC with the account's API key; the sandbox keys it with its own
`webhook_secret` so the app can rotate one without the other (a deliberate difference).
There is no timestamp in the signature, so unlike Stripe's a captured delivery can be
replayed: receivers should deduplicate by event `id`. Queueing, retries (Checkr: every minute
for 10 minutes, then hourly for a day; shrunk here) and delivery faults are the shared
`sandbox.webhooks.WebhookSender`.
"""

from __future__ import annotations

import hashlib
import hmac

from ..faults import FaultInjector
from ..store import JSON, ObjectStore
from ..webhooks import Outgoing, ProviderWebhooks, WebhookSender
from .render import dumps

EVENT = "event"
USER_AGENT = "Checkr-Webhook/1.0 (Tempwork sandbox)"  # Checkr's prefix is `Checkr-Webhook/`


def signature(payload: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


class CheckrWebhooks(ProviderWebhooks):
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
            store, faults, name="checks", render=self._render, retry_delays=retry_delays
        )

    def enqueue(self, event: JSON, created: int) -> None:
        if self.url is not None:
            self.sender.enqueue(event["id"], type=event["type"], created=created)

    def resend(self, event_id: str) -> None:
        if not self.sender.resend(event_id):  # never queued (e.g. dropped before a restart)
            event = self.store.get(EVENT, event_id)
            assert event is not None
            self.sender.enqueue(event_id, type=event["type"], created=event["_created"])

    def deliveries(self) -> list[JSON]:
        return self.sender.deliveries()

    def _render(self, delivery: JSON) -> Outgoing | None:
        event = self.store.get(EVENT, delivery["event_id"])
        if event is None or self.url is None:
            return None
        payload = dumps(event).encode()
        return Outgoing(
            self.url,
            payload,
            {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Checkr-Signature": signature(payload, self._secret),
            },
        )
