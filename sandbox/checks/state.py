"""Everything the check provider sandbox knows, in one object owned by the app."""

from __future__ import annotations

from dataclasses import dataclass

from ..faults import FaultInjector
from ..idempotency import MAX_KEY_LENGTH, IdempotencyKeys
from ..scheduler import Scheduler
from ..store import Database, ObjectStore
from .errors import CheckrError, bad_request
from .ids import stable_id
from .webhooks import CheckrWebhooks


@dataclass(frozen=True)
class ChecksSettings:
    api_key: str
    webhook_secret: str  # HMAC-SHA256 key of the `X-Checkr-Signature` header
    webhook_url: str | None
    public_url: str  # the sandbox's own base address (hosted invitation pages)
    report_delay_seconds: float  # from a completed invitation to the finished report
    webhook_retry_delays: tuple[float, ...]


def _key_too_long(_: str) -> CheckrError:
    return bad_request(f"Idempotency-Key can be at most {MAX_KEY_LENGTH} characters long")


def _key_in_use(key: str) -> CheckrError:
    # Checkr: "409 ... when another request with the same idempotency key is still being
    # processed. Wait for the other request to complete".
    return CheckrError(409, f"Another request with Idempotency-Key {key} is still being processed")


class ChecksState:
    def __init__(self, settings: ChecksSettings, db: Database, faults: FaultInjector) -> None:
        self.settings = settings
        self.faults = faults
        self.store = ObjectStore(db, "checks")
        self.idempotency = IdempotencyKeys(
            self.store, key_too_long=_key_too_long, key_in_use=_key_in_use
        )
        self.scheduler = Scheduler(self.store)
        self.webhooks = CheckrWebhooks(
            self.store,
            faults,
            url=settings.webhook_url,
            secret=settings.webhook_secret,
            retry_delays=settings.webhook_retry_delays,
        )
        # Events name the account; one API key is one account here.
        self.account_id = stable_id("account", settings.api_key)

    @property
    def base_url(self) -> str:
        """Where the API is served (Checkr's `https://api.checkr.com`), for list hrefs."""
        return f"{self.settings.public_url}/checks"

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
