"""The signed Event Webhook: batches of events POSTed as one JSON array.

The body is written the way SendGrid writes it — compact JSON with sorted keys, ending in
`\\r\\n` — and signed at every attempt (a fresh `X-Twilio-Email-Event-Webhook-Timestamp`), so a
receiver must verify the raw bytes it got, exactly as with SendGrid:

    EventWebhook(verification_key).verify_signature(raw_body.decode(), signature, timestamp)

Queueing, retries and delivery faults are the shared `sandbox.webhooks.WebhookSender`.
"""

from __future__ import annotations

import json
import time

from ..faults import FaultInjector
from ..store import JSON, ObjectStore
from ..webhooks import Outgoing, ProviderWebhooks, WebhookSender
from . import keys
from .ids import new_delivery_id

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


def batch_body(events: list[JSON]) -> str:
    return json.dumps(events, sort_keys=True, separators=(",", ":")) + "\r\n"


class SendGridWebhooks(ProviderWebhooks):
    def __init__(
        self,
        store: ObjectStore,
        faults: FaultInjector,
        *,
        url: str | None,
        signing_key: str,
        retry_delays: tuple[float, ...],
    ) -> None:
        self.url = url
        self._signing_key = signing_key
        keys.load_private_key(signing_key)  # a bad key fails at start-up, not at first send
        self.sender = WebhookSender(
            store, faults, name="sendgrid", render=self._render, retry_delays=retry_delays
        )

    def enqueue(self, events: list[JSON]) -> JSON | None:
        """Queue one batch; nothing is sent (or kept) when no webhook URL is configured."""
        if self.url is None or not events:
            return None
        types = list(dict.fromkeys(e["event"] for e in events))
        return self.sender.enqueue(
            new_delivery_id(),
            type=",".join(types),
            created=int(time.time()),
            events=events,
            msg_ids=sorted({e["sg_message_id"] for e in events}),
        )

    def resend(self, delivery_id: str) -> bool:
        return self.sender.resend(delivery_id)

    def deliveries(self) -> list[JSON]:
        return self.sender.deliveries()

    def _render(self, delivery: JSON) -> Outgoing | None:
        if self.url is None:
            return None
        payload = batch_body(delivery["events"])
        timestamp = str(int(time.time()))
        return Outgoing(
            self.url,
            payload.encode(),
            {
                "Content-Type": "application/json",
                "User-Agent": "SendGrid Event API",
                SIGNATURE_HEADER: keys.sign(self._signing_key, timestamp, payload),
                TIMESTAMP_HEADER: timestamp,
            },
        )
