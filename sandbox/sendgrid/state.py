"""Everything the SendGrid sandbox knows, in one object owned by the app."""

from __future__ import annotations

from dataclasses import dataclass

from ..faults import FaultInjector
from ..outbox import Outbox
from ..store import Database, ObjectStore
from .activity import Activity
from .suppressions import Suppressions
from .webhooks import SendGridWebhooks


@dataclass(frozen=True)
class SendGridSettings:
    api_key: str
    # The Event Webhook's ECDSA P-256 private key, base64 of its DER (PKCS#8) encoding; the app
    # holds the public half, as SendGrid's "verification key".
    signing_key: str
    event_webhook_url: str | None
    webhook_retry_delays: tuple[float, ...]


class SendGridSandbox:
    def __init__(
        self, settings: SendGridSettings, db: Database, faults: FaultInjector, outbox: Outbox
    ) -> None:
        self.settings = settings
        self.faults = faults
        self.outbox = outbox
        self.store = ObjectStore(db, "sendgrid")
        self.activity = Activity(self.store)
        self.suppressions = Suppressions(self.store)
        self.webhooks = SendGridWebhooks(
            self.store,
            faults,
            url=settings.event_webhook_url,
            signing_key=settings.signing_key,
            retry_delays=settings.webhook_retry_delays,
        )

    async def start(self) -> None:
        await self.webhooks.start()

    async def stop(self) -> None:
        await self.webhooks.stop()

    def reset(self) -> None:
        self.webhooks.reset()
        self.store.clear()
