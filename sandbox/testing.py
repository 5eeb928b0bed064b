"""Run the sandbox inside tests: on a free port, always shut down, even when a test fails.

    async with running_sandbox(SandboxConfig(stripe_api_key=..., stripe_webhook_secret=...,
                                             stripe_webhook_url=...)) as url:
        client = stripe_client(url, api_key)

`running_sandbox` serves from the current event loop (for async tests); use
`running_sandbox_in_thread` from synchronous code. Both set `public_url` to the address they
actually serve, so onboarding links point at the running sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import sendgrid
import stripe
import uvicorn
from twilio.rest import Client as TwilioClient

from core.twilio_http import TwilioHttpClient

from .app import SandboxConfig, create_app
from .sendgrid.keys import new_signing_key, public_key_of

LOCALHOST = "127.0.0.1"
# Sandbox-only credentials: the sandbox accepts whatever key it is configured with.
TEST_STRIPE_API_KEY = "sk_test_tempwork_sandbox_0000"
TEST_STRIPE_WEBHOOK_SECRET = "whsec_tempwork_sandbox_0000"  # noqa: S105
TEST_TWILIO_ACCOUNT_SID = "AC" + "0" * 31 + "1"
TEST_TWILIO_AUTH_TOKEN = "tempwork_sandbox_twilio_token_00"  # noqa: S105
TEST_TWILIO_VERIFY_SERVICE_SID = "VA" + "0" * 31 + "1"
TEST_TWILIO_PHONE_NUMBER = "+15005550006"
TEST_SENDGRID_API_KEY = "SG.tempwork_sandbox.0000"
TEST_SENDGRID_SIGNING_KEY = new_signing_key()[0]  # fresh per test run; never a real key
TEST_SENDGRID_VERIFICATION_KEY = public_key_of(TEST_SENDGRID_SIGNING_KEY)
TEST_CHECKS_API_KEY = "checks_test_tempwork_sandbox_0000"
TEST_CHECKS_WEBHOOK_SECRET = "checks_whsec_tempwork_sandbox_0000"  # noqa: S105
STARTUP_TIMEOUT_SECONDS = 10.0
SHUTDOWN_TIMEOUT_SECONDS = 5.0


def free_port(host: str = LOCALHOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def sandbox_config(**overrides: Any) -> SandboxConfig:
    """A config with the test keys above; pass any `SandboxConfig` field to override it."""
    values: dict[str, Any] = {
        "stripe_api_key": TEST_STRIPE_API_KEY,
        "stripe_webhook_secret": TEST_STRIPE_WEBHOOK_SECRET,
        "twilio_account_sid": TEST_TWILIO_ACCOUNT_SID,
        "twilio_auth_token": TEST_TWILIO_AUTH_TOKEN,
        "twilio_verify_service_sid": TEST_TWILIO_VERIFY_SERVICE_SID,
        "twilio_phone_number": TEST_TWILIO_PHONE_NUMBER,
        "sendgrid_api_key": TEST_SENDGRID_API_KEY,
        "sendgrid_signing_key": TEST_SENDGRID_SIGNING_KEY,
        "checks_api_key": TEST_CHECKS_API_KEY,
        "checks_webhook_secret": TEST_CHECKS_WEBHOOK_SECRET,
        "checks_report_delay_seconds": 0.05,
        "dispute_delay_seconds": 0.05,
        "webhook_retry_delays": (0.05, 0.1, 0.2),
    }
    values.update(overrides)
    return SandboxConfig(**values)


def stripe_client(
    sandbox_url: str,
    api_key: str = TEST_STRIPE_API_KEY,
    *,
    http_client: stripe.HTTPClient | None = None,
    **options: Any,
) -> stripe.StripeClient:
    """The official SDK with only its base address changed, as the app builds it.

    Async calls by default; pass `http_client=stripe.HTTPXClient(allow_sync_methods=True)`
    for synchronous ones. Other keyword arguments go to `stripe.StripeClient`.
    """
    options.setdefault("max_network_retries", 0)
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": f"{sandbox_url}/stripe", "connect": f"{sandbox_url}/stripe"},
        http_client=http_client or stripe.HTTPXClient(),
        **options,
    )


def twilio_client(
    sandbox_url: str,
    account_sid: str = TEST_TWILIO_ACCOUNT_SID,
    auth_token: str = TEST_TWILIO_AUTH_TOKEN,
) -> TwilioClient:
    """The official Twilio SDK (async calls: `create_async`, `list_async`, …) with every
    Twilio host sent to the sandbox, as the app builds it."""
    return TwilioClient(
        account_sid, auth_token, http_client=TwilioHttpClient(api_base=f"{sandbox_url}/twilio")
    )


def sendgrid_client(sandbox_url: str, api_key: str = TEST_SENDGRID_API_KEY) -> Any:
    """The official SendGrid SDK (synchronous, like the real one) pointed at the sandbox."""
    return sendgrid.SendGridAPIClient(api_key, host=f"{sandbox_url}/sendgrid")


def checks_client(sandbox_url: str, api_key: str = TEST_CHECKS_API_KEY) -> httpx.AsyncClient:
    """httpx as the app uses it for the check provider: HTTP Basic with the key as user name."""
    return httpx.AsyncClient(base_url=f"{sandbox_url}/checks", auth=(api_key, ""))


def _server(app: Any, port: int) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=LOCALHOST,
            port=port,
            log_level="warning",
            lifespan="on",
            # A request held by a `hang_after_commit_ms` fault must not block shutdown.
            timeout_graceful_shutdown=1,
        )
    )


@contextlib.asynccontextmanager
async def serve_asgi(app: Any, *, port: int | None = None) -> AsyncIterator[str]:
    """Serve any ASGI app (a sandbox, a test webhook receiver) from the running event loop."""
    port = port or free_port()
    server = _server(app, port)
    task = asyncio.create_task(server.serve())
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if task.done():
                await task  # surfaces the startup error
                raise RuntimeError(f"server on port {port} stopped during startup")
            if time.monotonic() > deadline:
                raise TimeoutError(f"server on port {port} did not start")
            await asyncio.sleep(0.01)
        yield f"http://{LOCALHOST}:{port}"
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), SHUTDOWN_TIMEOUT_SECONDS)
        except (TimeoutError, SystemExit):
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, SystemExit):
                await task


@contextlib.asynccontextmanager
async def running_sandbox(
    config: SandboxConfig | None = None, *, port: int | None = None
) -> AsyncIterator[str]:
    """Run the sandbox in this event loop; yields its base URL (e.g. `http://127.0.0.1:5123`)."""
    port = port or free_port()
    config = dataclasses.replace(
        config or sandbox_config(), public_url=f"http://{LOCALHOST}:{port}"
    )
    async with serve_asgi(create_app(config), port=port) as url:
        yield url


@contextlib.contextmanager
def running_sandbox_in_thread(
    config: SandboxConfig | None = None, *, port: int | None = None
) -> Iterator[str]:
    """Run the sandbox on its own thread and event loop (for synchronous tests)."""
    port = port or free_port()
    config = dataclasses.replace(
        config or sandbox_config(), public_url=f"http://{LOCALHOST}:{port}"
    )
    server = _server(create_app(config), port)
    thread = threading.Thread(target=server.run, name=f"sandbox-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"sandbox on port {port} stopped during startup")
            if time.monotonic() > deadline:
                raise TimeoutError(f"sandbox on port {port} did not start")
            time.sleep(0.01)
        yield f"http://{LOCALHOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT_SECONDS)
        if thread.is_alive():
            server.force_exit = True
            thread.join(SHUTDOWN_TIMEOUT_SECONDS)
