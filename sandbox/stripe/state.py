"""Everything the Stripe sandbox knows, in one object owned by the app."""

from __future__ import annotations

from dataclasses import dataclass

from ..faults import FaultInjector
from ..scheduler import Scheduler
from ..store import Database, ObjectStore
from .idempotency import stripe_idempotency_keys
from .webhooks import StripeWebhooks

# The API version the installed SDK pins; events carry it like a real account's default.
API_VERSION = "2026-10-28.endive"


@dataclass(frozen=True)
class StripeSettings:
    api_key: str
    webhook_secret: str
    webhook_url: str | None
    public_url: str
    dispute_delay_seconds: float
    webhook_retry_delays: tuple[float, ...]
    # From a submitted identity document to its verdict (Stripe: "most checks take under a
    # minute"); also how long a redaction stays `processing`.
    identity_delay_seconds: float = 0.2


class StripeSandbox:
    def __init__(self, settings: StripeSettings, db: Database, faults: FaultInjector) -> None:
        self.settings = settings
        self.faults = faults
        self.store = ObjectStore(db, "stripe")
        self.idempotency = stripe_idempotency_keys(self.store)
        self.scheduler = Scheduler(self.store)
        self.webhooks = StripeWebhooks(
            self.store,
            faults,
            url=settings.webhook_url,
            secret=settings.webhook_secret,
            retry_delays=settings.webhook_retry_delays,
        )

    async def start(self) -> None:
        await self.webhooks.start()
        self.scheduler.start()

    async def stop(self) -> None:
        self.scheduler.stop()
        await self.webhooks.stop()

    def reset(self) -> None:
        self.webhooks.reset()
        self.scheduler.reset()
        self.idempotency.reset()
        self.store.clear()
