"""The one place every address, secret and business setting comes from.

Everything is read from the environment with the ``TEMPWORK_`` prefix (and, for local
development, from ``.data/dev.env`` which ``make dev`` writes with freshly generated secrets).
The same code therefore runs against embedded Postgres/Temporal/sandboxes or against an
external PostgreSQL, a Temporal cluster and real Stripe test mode by setting env vars.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.contracts import ContractPolicy

DEV_ENV_FILE = ".data/dev.env"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TEMPWORK_",
        env_file=(".env", DEV_ENV_FILE),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    environment: str = "dev"

    # --- infrastructure -------------------------------------------------------------------
    database_url: str = "postgresql+asyncpg://tempwork@127.0.0.1:55432/tempwork"
    database_pool_size: int = 10
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "tempwork"
    # Temporal Cloud / a TLS-protected cluster: TEMPWORK_TEMPORAL_TLS=true and an API key.
    temporal_tls: bool = False
    temporal_api_key: SecretStr | None = None
    temporal_ui_url: str = "http://127.0.0.1:8233"
    api_public_url: str = "http://127.0.0.1:8000"

    # --- secrets (no defaults in code: `make dev` generates them into .data/dev.env) -------
    jwt_secret: SecretStr = Field(min_length=32)
    stripe_api_key: SecretStr
    stripe_webhook_secret: SecretStr

    # --- providers ------------------------------------------------------------------------
    # Unset means the real Stripe API; `make dev` and the tests point it at the sandbox.
    stripe_api_base: str | None = None
    stripe_max_network_retries: int = 2
    stripe_timeout_seconds: float = 20.0

    # --- auth -----------------------------------------------------------------------------
    jwt_algorithm: str = "HS256"
    access_token_ttl: timedelta = timedelta(hours=12)

    # --- marketplace rules ----------------------------------------------------------------
    platform_fee_bps: int = Field(default=1000, ge=0, le=10000)  # 10 % of each release
    default_currency: str = "usd"
    min_verification_level_to_apply: int = 0
    job_expiry: timedelta = timedelta(days=30)
    offer_ttl: timedelta = timedelta(hours=72)
    funding_deadline: timedelta = timedelta(days=7)
    auto_release_after: timedelta = timedelta(days=14)
    approval_reminders: tuple[timedelta, ...] = (timedelta(days=5), timedelta(days=13))
    review_window: timedelta = timedelta(days=7)
    payout_account_reminder_every: timedelta = timedelta(days=7)
    payout_account_support_after: timedelta = timedelta(days=90)

    # --- reconciliation -------------------------------------------------------------------
    reconciliation_cron: str = "0 3 * * *"

    # --- local embedded stack (make dev) --------------------------------------------------
    data_dir: str = ".data"
    dev_postgres_port: int = 55432
    dev_temporal_port: int = 7233
    dev_temporal_ui_port: int = 8233
    dev_sandbox_port: int = 8100
    dev_api_port: int = 8000

    def contract_policy(self) -> ContractPolicy:
        """The terms a new contract is created with (captured into the contract for life)."""
        return ContractPolicy(
            platform_fee_bps=self.platform_fee_bps,
            offer_ttl=self.offer_ttl,
            funding_deadline=self.funding_deadline,
            auto_release_after=self.auto_release_after,
            approval_reminders=list(self.approval_reminders),
            review_window=self.review_window,
            payout_account_reminder_every=self.payout_account_reminder_every,
            payout_account_support_after=self.payout_account_support_after,
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()  # secrets come from the environment
