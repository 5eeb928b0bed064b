"""Twilio's webhooks: form-encoded POSTs signed with `X-Twilio-Signature`.

Two kinds go out: status callbacks (to the `StatusCallback` URL a message was created with) and
incoming messages (to the number's messaging webhook, `inbound_webhook_url`). Queueing, retries
and webhook faults are the shared `sandbox.webhooks.WebhookSender`.

Each delivery stores the parameters of the moment it reports (the status a message *had*), not
a pointer to the message, since a `sent` callback must still say `sent` when it is retried
after the message was delivered.

Real Twilio retries a messaging webhook only when its URL asks for it (`#rc=…` connection
overrides); the sandbox retries every failed one on its shrunken schedule, so a handler must be
idempotent — `I-Twilio-Idempotency-Token` is the same on every attempt of one callback.
"""

from __future__ import annotations

from urllib.parse import urlencode

from ..faults import FaultInjector
from ..store import JSON, ObjectStore
from ..webhooks import Outgoing, ProviderWebhooks, WebhookSender, unix_now
from .signing import HEADER, signature

STATUS_CALLBACK = "status_callback"
INCOMING_MESSAGE = "incoming_message"


class TwilioWebhooks(ProviderWebhooks):
    def __init__(
        self,
        store: ObjectStore,
        faults: FaultInjector,
        *,
        auth_token: str,
        retry_delays: tuple[float, ...],
    ) -> None:
        self._auth_token = auth_token
        self.sender = WebhookSender(
            store, faults, name="twilio", render=self._render, retry_delays=retry_delays
        )

    def enqueue(self, delivery_id: str, *, type: str, url: str, params: dict[str, str]) -> JSON:
        return self.sender.enqueue(
            delivery_id, type=type, created=unix_now(), url=url, params=params
        )

    def resend(self, delivery_id: str) -> bool:
        return self.sender.resend(delivery_id)

    def get(self, delivery_id: str) -> JSON | None:
        return self.sender.get(delivery_id)

    def deliveries(self) -> list[JSON]:
        return self.sender.deliveries()

    def _render(self, delivery: JSON) -> Outgoing:
        url: str = delivery["url"]
        params: dict[str, str] = delivery["params"]
        return Outgoing(
            url,
            urlencode(params).encode(),
            {
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                HEADER: signature(self._auth_token, url, params),
                "I-Twilio-Idempotency-Token": delivery["id"],
                "User-Agent": "TwilioProxy/1.1",
            },
        )
