"""The one place every address, secret and business setting comes from.

Everything is read from the environment with the ``TEMPWORK_`` prefix (and, for local
development, from ``.data/dev.env`` which ``make dev`` writes with freshly generated secrets).
The same code therefore runs against embedded Postgres/Temporal/sandboxes or against an
external PostgreSQL, a Temporal cluster and real Stripe test mode by setting env vars.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.rate_limits import Limit
from models.contracts import ContractPolicy
from models.verification import Step, VerificationPolicy

DEV_ENV_FILE = ".data/dev.env"
# Read as written ("10/15m"), not as JSON.
LimitSetting = Annotated[Limit, NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TEMPWORK_",
        env_file=(".env", DEV_ENV_FILE),
        env_file_encoding="utf-8",
        extra="ignore",
        # Fields with an alias (the standard OTEL_* variable) can still be passed by name.
        populate_by_name=True,
    )

    environment: str = "dev"

    # --- infrastructure -------------------------------------------------------------------
    database_url: str = "postgresql+psycopg://tempwork@127.0.0.1:55432/tempwork"
    # Per process. Keep (API processes + worker processes) x (pool + overflow) under the
    # database's connection limit, or put PgBouncer in front (deploy/SCALING.md).
    database_pool_size: int = 10
    database_max_overflow: int = 10
    # Ping each connection as it leaves the pool (one more round trip per checkout); see
    # core/db.py for what happens without it after a PostgreSQL restart.
    database_pool_pre_ping: bool = False
    # psycopg prepares a statement on the server after its 5th run (fewer bytes to parse).
    # Turn off behind PgBouncer in transaction mode: a prepared statement belongs to one
    # server connection (deploy/SCALING.md).
    database_prepared_statements: bool = True
    # Search has its own small pool (a burst of searches never takes the connections that
    # commands and webhooks need) whose statements are never prepared (search/postgres.py
    # says why) and give up after the timeout instead of holding a connection.
    search_pool_size: int = Field(default=5, ge=1, le=100)
    search_statement_timeout_ms: int = Field(default=3_000, ge=100, le=600_000)
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "tempwork"
    # Worker capacity per process (deploy/SCALING.md says how make bench chose them).
    # Workflow tasks are CPU on one event loop: more in flight than cores only queues.
    worker_max_concurrent_workflow_tasks: int = 100
    worker_max_concurrent_activities: int = 100
    worker_max_concurrent_local_activities: int = 100
    # The sticky cache: workflows kept in memory between tasks. Beyond it a workflow's next
    # task replays its history first (CPU), so it bounds memory at the cost of replays.
    worker_max_cached_workflows: int = 1000
    # The worker's event loop: uvloop (libuv) rather than asyncio's (make bench measures it).
    worker_uvloop: bool = True
    # Temporal Cloud / a TLS-protected cluster: TEMPWORK_TEMPORAL_TLS=true and an API key.
    temporal_tls: bool = False
    temporal_api_key: SecretStr | None = None
    temporal_ui_url: str = "http://127.0.0.1:8233"
    api_public_url: str = "http://127.0.0.1:8000"

    # --- observability (deploy/RUNBOOK.md "Metrics, traces and logs") -----------------------
    # One line of JSON per record (containers, log shippers) or plain text; `make dev`
    # chooses text because people read its log files with `tail`.
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The worker's one HTTP port: /health/live, /health/ready and /metrics (the Temporal SDK's
    # metrics and ours in one scrape). Loopback by default; containers bind 0.0.0.0.
    # Port 0 means "any free port" (a second worker on one machine; the log says which).
    worker_health_host: str = "127.0.0.1"
    worker_health_port: int = Field(default=9464, ge=0, le=65535)
    # Business metrics are read from PostgreSQL when scraped; a scrape within this many
    # seconds of the last one reuses its figures (two Prometheus replicas, several workers).
    business_metrics_cache_seconds: float = Field(default=30.0, ge=0, le=3600)
    business_metrics_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # Traces: exported by OTLP/HTTP (e.g. http://otel-collector:4318) when set; unset means no
    # tracer provider and no tracing interceptor at all. The standard variable works too.
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "TEMPWORK_OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"
        ),
    )

    # --- secrets (no defaults in code: `make dev` generates them into .data/dev.env) -------
    jwt_secret: SecretStr = Field(min_length=32)
    stripe_api_key: SecretStr
    stripe_webhook_secret: SecretStr
    sendgrid_api_key: SecretStr
    twilio_auth_token: SecretStr
    checks_api_key: SecretStr
    checks_webhook_secret: SecretStr
    # HMAC key of the email verification codes: derives them and digests what people type.
    verification_code_secret: SecretStr = Field(min_length=32)

    # --- providers ------------------------------------------------------------------------
    # Unset means the real Stripe API; `make dev` and the tests point it at the sandbox.
    stripe_api_base: str | None = None
    stripe_max_network_retries: int = 2
    stripe_timeout_seconds: float = 20.0

    # Email by SendGrid. Unset base: the real API. The webhook key is SendGrid's public
    # "verification key" of the signed Event Webhook (base64 DER), not a secret.
    sendgrid_api_base: str | None = None
    sendgrid_webhook_public_key: str
    sendgrid_from_email: str = "no-reply@tempwork.example"
    sendgrid_from_name: str = "Tempwork"
    # Dynamic templates (SendGrid > Email API > Dynamic Templates): the code email gets
    # {code, name, expires_at, subject}; every other email {subject, body, name}.
    sendgrid_code_template_id: str = "d-7e3c1a0b5f4d4e2a9c8b6a5d4c3b2a10"
    sendgrid_notice_template_id: str = "d-2b4d6f8a0c1e4a6b8d0f2a4c6e8b0d21"
    # How long SendGrid's Email Activity feed may take to show a message: after a crash
    # mid-send we wait this long before concluding "not sent" and sending again.
    sendgrid_activity_feed_lag: timedelta = timedelta(minutes=3)
    sendgrid_timeout_seconds: float = 20.0

    # SMS by Twilio (Messages, Verify). Unset base: the real API.
    twilio_api_base: str | None = None
    twilio_account_sid: str
    twilio_verify_service_sid: str
    twilio_from_number: str
    twilio_timeout_seconds: float = 20.0
    # Where Twilio reaches our webhook: requests are signed over this exact URL. Default:
    # <api_public_url>/webhooks/twilio (set it when Twilio reaches the API by another name,
    # e.g. http://api:8000/… between containers).
    twilio_webhook_url: str | None = None

    # Background checks (Checkr-style API over httpx).
    checks_api_base: str = "https://api.checkr.com"
    checks_timeout_seconds: float = 20.0

    # --- auth -----------------------------------------------------------------------------
    jwt_algorithm: str = "HS256"
    access_token_ttl: timedelta = timedelta(hours=12)

    # --- marketplace rules ----------------------------------------------------------------
    platform_fee_bps: int = Field(default=1000, ge=0, le=10000)  # 10 % of each release
    default_currency: str = "usd"
    # What a worker must have verified to apply; on-site jobs (in people's homes) add more.
    verifications_required_to_apply: tuple[Step, ...] = (Step.EMAIL, Step.PHONE, Step.IDENTITY)
    verifications_required_on_site: tuple[Step, ...] = (Step.BACKGROUND,)
    job_expiry: timedelta = timedelta(days=30)
    offer_ttl: timedelta = timedelta(hours=72)
    funding_deadline: timedelta = timedelta(days=7)
    auto_release_after: timedelta = timedelta(days=14)
    approval_reminders: tuple[timedelta, ...] = (timedelta(days=5), timedelta(days=13))
    review_window: timedelta = timedelta(days=7)
    payout_account_reminder_every: timedelta = timedelta(days=7)
    payout_account_support_after: timedelta = timedelta(days=90)

    # --- verification rules ---------------------------------------------------------------
    verification_code_ttl: timedelta = timedelta(minutes=10)
    verification_max_wrong_codes: int = Field(default=5, ge=1)
    verification_resend_cooldown: timedelta = timedelta(seconds=30)
    verification_max_sends_per_hour: int = Field(default=5, ge=1)
    identity_reminders: tuple[timedelta, ...] = (timedelta(days=1), timedelta(days=3))
    identity_deadline: timedelta = timedelta(days=7)
    background_support_after: timedelta = timedelta(days=14)
    background_check_package: str = "tasker_standard"

    # --- request bounds: bigger bodies answer 413, slower ones 408 -------------------------
    # The largest valid body (a 20,000-character description, every character JSON-escaped as
    # a surrogate pair) is ~240 KiB.
    max_request_body_bytes: int = Field(default=512 * 1024, ge=1024)
    max_webhook_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    request_body_deadline_seconds: float = Field(default=30.0, gt=0)

    # --- abuse limits: "count/period" (units s, m, h, d), shared by every API process ------
    login_failures_per_account: LimitSetting = Limit.parse("10/15m")
    login_failures_per_address: LimitSetting = Limit.parse(
        "50/15m"
    )  # offices and phones share NATs
    registrations_per_address: LimitSetting = Limit.parse("20/1h")
    # Code sends and confirmations per person (each code also locks after its wrong tries).
    verification_requests_per_user: LimitSetting = Limit.parse("30/10m")
    # Per provider and sending address: providers retry a 429 later, so a burst costs nothing.
    webhooks_per_address: LimitSetting = Limit.parse("1200/1m")

    # --- reconciliation -------------------------------------------------------------------
    reconciliation_cron: str = "0 3 * * *"

    # --- local embedded stack (make dev) --------------------------------------------------
    data_dir: str = ".data"
    dev_postgres_port: int = 55432
    dev_temporal_port: int = 7233
    dev_temporal_ui_port: int = 8233
    dev_sandbox_port: int = 8100
    dev_api_port: int = 8000
    dev_worker_health_port: int = 9464

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

    def verification_policy(self) -> VerificationPolicy:
        """The limits a person's verification runs under (captured when it starts)."""
        return VerificationPolicy(
            code_ttl=self.verification_code_ttl,
            max_wrong_codes=self.verification_max_wrong_codes,
            resend_cooldown=self.verification_resend_cooldown,
            max_sends_per_hour=self.verification_max_sends_per_hour,
            identity_reminders=list(self.identity_reminders),
            identity_deadline=self.identity_deadline,
            background_support_after=self.background_support_after,
            background_package=self.background_check_package,
        )

    @property
    def twilio_callback_url(self) -> str:
        return self.twilio_webhook_url or f"{self.api_public_url.rstrip('/')}/webhooks/twilio"

    def verifications_required(self, *, on_site: bool) -> list[Step]:
        extra = self.verifications_required_on_site if on_site else ()
        return list(dict.fromkeys((*self.verifications_required_to_apply, *extra)))


@lru_cache
def get_settings() -> Settings:
    return Settings()  # secrets come from the environment
