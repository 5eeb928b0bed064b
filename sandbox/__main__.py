"""`python -m sandbox`: serve the provider sandboxes until Ctrl-C.

Every flag falls back to an environment variable, e.g. `--stripe-api-key` to
TEMPWORK_SANDBOX_STRIPE_API_KEY and `--data-file` to TEMPWORK_SANDBOX_DATA_FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import uvicorn
from pydantic_settings import BaseSettings, SettingsConfigDict

from .app import DEFAULT_TWILIO_PHONE_NUMBER, SandboxConfig, create_app


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TEMPWORK_SANDBOX_")

    host: str = "127.0.0.1"
    port: int = 8100
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_webhook_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_verify_service_sid: str | None = None
    twilio_phone_number: str = DEFAULT_TWILIO_PHONE_NUMBER
    twilio_webhook_url: str | None = None
    sendgrid_api_key: str | None = None
    sendgrid_signing_key: str | None = None
    sendgrid_webhook_url: str | None = None
    checks_api_key: str | None = None
    checks_webhook_secret: str | None = None
    checks_webhook_url: str | None = None
    checks_report_delay_seconds: float = 0.5
    data_file: Path | None = None
    public_url: str | None = None
    dispute_delay_seconds: float = 0.5
    log_level: str = "warning"


def _parse(argv: list[str] | None) -> SandboxSettings:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    for name, field in SandboxSettings.model_fields.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            default=None,
            help=f"env TEMPWORK_SANDBOX_{name.upper()} (default: {field.default})",
        )
    given = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    settings = SandboxSettings(**given)
    missing = [n for n in ("stripe_api_key", "stripe_webhook_secret") if not getattr(settings, n)]
    if missing:
        flags = ", ".join(f"--{n.replace('_', '-')}" for n in missing)
        parser.error(f"{flags} required (or the TEMPWORK_SANDBOX_* environment variables)")
    return settings


async def _serve(settings: SandboxSettings) -> None:
    shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host  # noqa: S104
    base_url = f"http://{shown_host}:{settings.port}"
    assert settings.stripe_api_key is not None and settings.stripe_webhook_secret is not None
    config = SandboxConfig(
        **settings.model_dump(exclude={"host", "port", "log_level", "public_url"}),
        public_url=settings.public_url or base_url,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            timeout_graceful_shutdown=2,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():  # noqa: ASYNC110  (uvicorn exposes a flag)
        await asyncio.sleep(0.05)
    if server.started:
        mounted = ", ".join(f"{base_url}/{p}" for p in _providers(settings))
        print(f"sandbox ready at {base_url} ({mounted}; outbox at /_sandbox/outbox)", flush=True)
    await task


def _providers(settings: SandboxSettings) -> list[str]:
    configured = {
        "stripe": True,
        "twilio": settings.twilio_account_sid
        and settings.twilio_auth_token
        and settings.twilio_verify_service_sid,
        "sendgrid": settings.sendgrid_api_key and settings.sendgrid_signing_key,
        "checks": settings.checks_api_key and settings.checks_webhook_secret,
    }
    return [name for name, on in configured.items() if on]


def main(argv: list[str] | None = None) -> None:
    settings = _parse(argv)
    try:
        asyncio.run(_serve(settings))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
