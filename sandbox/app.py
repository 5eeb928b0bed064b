"""The sandbox server: each provider's API under `/<provider>`, control endpoints under
`/_sandbox`, and the shared outbox of everything "delivered" at `GET /_sandbox/outbox`.

A provider is mounted when its credentials are configured (Stripe always is).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Query

from .checks import ChecksSettings, create_checks_sandbox
from .faults import FaultInjector, FaultSettings
from .outbox import Outbox
from .provider import ProviderSandbox
from .sendgrid import SendGridSettings, create_sendgrid_sandbox
from .store import Database
from .stripe import StripeSettings, create_stripe_sandbox, stripe_provider
from .twilio import TwilioSettings, create_twilio_sandbox

DEFAULT_WEBHOOK_RETRY_DELAYS = (
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
)  # the providers' day-long schedules, shrunk
# Twilio's "magic" sender number for test credentials; any E.164 number works here.
DEFAULT_TWILIO_PHONE_NUMBER = "+15005550006"


@dataclass(frozen=True)
class SandboxConfig:
    stripe_api_key: str
    stripe_webhook_secret: str
    stripe_webhook_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_verify_service_sid: str | None = None
    twilio_phone_number: str = DEFAULT_TWILIO_PHONE_NUMBER
    twilio_webhook_url: str | None = None  # inbound messages (STOP replies) to our number
    sendgrid_api_key: str | None = None
    sendgrid_signing_key: str | None = None
    sendgrid_webhook_url: str | None = None
    checks_api_key: str | None = None
    checks_webhook_secret: str | None = None
    checks_webhook_url: str | None = None
    checks_report_delay_seconds: float = 0.5
    data_file: Path | None = None
    public_url: str = "http://127.0.0.1:8100"
    dispute_delay_seconds: float = 0.5
    webhook_retry_delays: tuple[float, ...] = DEFAULT_WEBHOOK_RETRY_DELAYS

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        return (
            f"SandboxConfig(stripe_webhook_url={self.stripe_webhook_url!r}, "
            f"twilio_webhook_url={self.twilio_webhook_url!r}, "
            f"sendgrid_webhook_url={self.sendgrid_webhook_url!r}, "
            f"checks_webhook_url={self.checks_webhook_url!r}, "
            f"data_file={self.data_file!r}, public_url={self.public_url!r})"
        )


def build_providers(
    config: SandboxConfig, db: Database, faults: FaultInjector, outbox: Outbox
) -> list[ProviderSandbox]:
    public_url = config.public_url.rstrip("/")
    providers: list[ProviderSandbox] = [
        stripe_provider(
            create_stripe_sandbox(
                StripeSettings(
                    api_key=config.stripe_api_key,
                    webhook_secret=config.stripe_webhook_secret,
                    webhook_url=config.stripe_webhook_url,
                    public_url=public_url,
                    dispute_delay_seconds=config.dispute_delay_seconds,
                    webhook_retry_delays=config.webhook_retry_delays,
                ),
                db,
                faults,
            )
        )
    ]
    if config.twilio_account_sid and config.twilio_auth_token and config.twilio_verify_service_sid:
        twilio = TwilioSettings(
            account_sid=config.twilio_account_sid,
            auth_token=config.twilio_auth_token,
            verify_service_sid=config.twilio_verify_service_sid,
            phone_number=config.twilio_phone_number,
            inbound_webhook_url=config.twilio_webhook_url,
            public_url=public_url,
            webhook_retry_delays=config.webhook_retry_delays,
        )
        providers.append(create_twilio_sandbox(twilio, db, faults, outbox))
    if config.sendgrid_api_key and config.sendgrid_signing_key:
        sendgrid = SendGridSettings(
            api_key=config.sendgrid_api_key,
            signing_key=config.sendgrid_signing_key,
            event_webhook_url=config.sendgrid_webhook_url,
            webhook_retry_delays=config.webhook_retry_delays,
        )
        providers.append(create_sendgrid_sandbox(sendgrid, db, faults, outbox))
    if config.checks_api_key and config.checks_webhook_secret:
        checks = ChecksSettings(
            api_key=config.checks_api_key,
            webhook_secret=config.checks_webhook_secret,
            webhook_url=config.checks_webhook_url,
            public_url=public_url,
            report_delay_seconds=config.checks_report_delay_seconds,
            webhook_retry_delays=config.webhook_retry_delays,
        )
        providers.append(create_checks_sandbox(checks, db, faults))
    return providers


def create_app(config: SandboxConfig) -> FastAPI:
    db = Database(config.data_file)
    faults = FaultInjector()
    outbox = Outbox(db)
    providers = build_providers(config, db, faults, outbox)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for provider in providers:
            await provider.start()
        try:
            yield
        finally:
            for provider in reversed(providers):
                await provider.stop()
            db.close()

    app = FastAPI(title="Tempwork provider sandboxes", lifespan=lifespan)
    for provider in providers:
        app.include_router(provider.api_router(), prefix=f"/{provider.name}")
        app.include_router(provider.control_router(), prefix=f"/_sandbox/{provider.name}")

    @app.get("/health", tags=["sandbox"])
    async def health() -> dict[str, Any]:
        return {"status": "ok", "providers": [p.name for p in providers]}

    @app.get("/_sandbox/outbox", tags=["sandbox"])
    async def read_outbox(
        to: str | None = Query(default=None, description="An email address or phone number"),
        channel: Literal["email", "sms"] | None = None,
        limit: int = Query(default=50, ge=1, le=500),
    ) -> dict[str, Any]:
        """What the sandboxes "delivered", newest first (verification codes included)."""
        return {"data": outbox.messages(to=to, channel=channel, limit=limit)}

    @app.get("/_sandbox/faults", tags=["sandbox"])
    async def get_faults() -> FaultSettings:
        return faults.settings

    @app.post("/_sandbox/faults", tags=["sandbox"])
    async def set_faults(settings: FaultSettings) -> FaultSettings:
        """Replace all fault settings (omitted fields go back to 'no fault')."""
        faults.replace(settings)
        return faults.settings

    @app.delete("/_sandbox/faults", tags=["sandbox"])
    async def clear_faults() -> FaultSettings:
        faults.reset()
        return faults.settings

    @app.post("/_sandbox/reset", tags=["sandbox"])
    async def reset() -> dict[str, Any]:
        """Wipe every provider's state, the outbox, and clear faults (between tests)."""
        for provider in providers:
            provider.reset()
        outbox.clear()
        faults.reset()
        return {"status": "reset"}

    return app
