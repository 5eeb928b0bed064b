"""Everything the Twilio sandbox knows, in one object owned by the app."""

from __future__ import annotations

from dataclasses import dataclass

from ..faults import FaultInjector
from ..outbox import Outbox
from ..scheduler import Scheduler
from ..store import Database, ObjectStore
from .carrier import Carrier
from .opt_out import OptOuts
from .webhooks import TwilioWebhooks

API_VERSION = "2010-04-01"


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    auth_token: str
    verify_service_sid: str  # the Verify service the app is configured with (pre-created)
    phone_number: str  # the platform's SMS sender number (E.164)
    inbound_webhook_url: str | None  # where replies (e.g. STOP) to phone_number are POSTed
    public_url: str  # the sandbox's own base address
    webhook_retry_delays: tuple[float, ...]


class TwilioSandbox:
    def __init__(
        self, settings: TwilioSettings, db: Database, faults: FaultInjector, outbox: Outbox
    ) -> None:
        self.settings = settings
        self.faults = faults
        self.outbox = outbox
        self.store = ObjectStore(db, "twilio")
        self.webhooks = TwilioWebhooks(
            self.store,
            faults,
            auth_token=settings.auth_token,
            retry_delays=settings.webhook_retry_delays,
        )
        self.scheduler = Scheduler(self.store)
        self.carrier = Carrier(self.store, self.webhooks, self.scheduler)
        self.opt_outs = OptOuts(self.store)

    async def start(self) -> None:
        await self.webhooks.start()
        self.scheduler.start()

    async def stop(self) -> None:
        self.scheduler.stop()
        await self.webhooks.stop()

    def reset(self) -> None:
        """Wipe messages, verifications, opt-outs and deliveries (the app clears the outbox)."""
        self.scheduler.reset()
        self.webhooks.reset()
        self.store.clear()
