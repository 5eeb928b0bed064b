"""The sandbox server: provider APIs under `/<provider>` and control endpoints under `/_sandbox`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from .faults import FaultInjector, FaultSettings
from .store import Database
from .stripe import StripeSettings, control_router, create_stripe_sandbox, stripe_router

DEFAULT_WEBHOOK_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)  # Stripe's 3-day schedule, shrunk


@dataclass(frozen=True)
class SandboxConfig:
    stripe_api_key: str
    stripe_webhook_secret: str
    stripe_webhook_url: str | None = None
    data_file: Path | None = None
    public_url: str = "http://127.0.0.1:8100"
    dispute_delay_seconds: float = 0.5
    webhook_retry_delays: tuple[float, ...] = DEFAULT_WEBHOOK_RETRY_DELAYS

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        return (
            f"SandboxConfig(stripe_webhook_url={self.stripe_webhook_url!r}, "
            f"data_file={self.data_file!r}, public_url={self.public_url!r})"
        )


def create_app(config: SandboxConfig) -> FastAPI:
    db = Database(config.data_file)
    faults = FaultInjector()
    stripe = create_stripe_sandbox(
        StripeSettings(
            api_key=config.stripe_api_key,
            webhook_secret=config.stripe_webhook_secret,
            webhook_url=config.stripe_webhook_url,
            public_url=config.public_url.rstrip("/"),
            dispute_delay_seconds=config.dispute_delay_seconds,
            webhook_retry_delays=config.webhook_retry_delays,
        ),
        db,
        faults,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await stripe.start()
        try:
            yield
        finally:
            await stripe.stop()
            db.close()

    app = FastAPI(title="Tempwork provider sandboxes", lifespan=lifespan)
    app.include_router(stripe_router(stripe), prefix="/stripe")
    app.include_router(control_router(stripe), prefix="/_sandbox/stripe")

    @app.get("/health", tags=["sandbox"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

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
        """Wipe every provider's state and clear faults (between tests)."""
        stripe.reset()
        faults.reset()
        return {"status": "reset"}

    return app
