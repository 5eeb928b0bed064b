"""Shared test infrastructure: real PostgreSQL, a real Temporal dev server, the Stripe
sandbox, our worker and our API — started once per session on free 127.0.0.1 ports, only
when a test asks for them, and always stopped (also when tests fail)."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from core.db import create_engine
from core.rate_limits import Limit
from core.settings import Settings
from devstack.binaries import temporal_cli
from devstack.postgres import EmbeddedPostgres
from devstack.processes import free_port
from models import search_attributes

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    timeout: float = 15.0,
    interval: float = 0.05,
) -> T:
    """Polls ``probe`` until ``until(result)`` holds; fails with the last result otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout}s; last value: {result!r}")
        await asyncio.sleep(interval)


def placeholder_settings_env() -> dict[str, str]:
    """A value for every setting without a default, for processes that need none of them
    (migrations): the Settings class refuses to load without them."""
    return {
        f"TEMPWORK_{name.upper()}": "x" * 32
        for name, field in Settings.model_fields.items()
        if field.is_required()
    }


def migrate(database_url: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env={**os.environ, **placeholder_settings_env(), "TEMPWORK_DATABASE_URL": database_url},
        check=True,
        capture_output=True,
    )


def sandbox_settings(sandbox_url: str, **overrides: Any) -> Settings:
    """Settings for activity tests: every provider pointed at a sandbox started with
    `sandbox.testing.sandbox_config()`'s test credentials."""
    from sandbox import testing as t

    values: dict[str, Any] = {
        "jwt_secret": SecretStr("x" * 32),
        "verification_code_secret": SecretStr("code-secret-for-tests-only-000000"),
        "stripe_api_key": SecretStr(t.TEST_STRIPE_API_KEY),
        "stripe_webhook_secret": SecretStr(t.TEST_STRIPE_WEBHOOK_SECRET),
        "stripe_api_base": f"{sandbox_url}/stripe",
        "stripe_max_network_retries": 0,  # let Temporal's retry policy do the retrying
        "sendgrid_api_key": SecretStr(t.TEST_SENDGRID_API_KEY),
        "sendgrid_webhook_public_key": t.TEST_SENDGRID_VERIFICATION_KEY,
        "sendgrid_api_base": f"{sandbox_url}/sendgrid",
        "sendgrid_activity_feed_lag": timedelta(0),
        "twilio_account_sid": t.TEST_TWILIO_ACCOUNT_SID,
        "twilio_auth_token": SecretStr(t.TEST_TWILIO_AUTH_TOKEN),
        "twilio_verify_service_sid": t.TEST_TWILIO_VERIFY_SERVICE_SID,
        "twilio_from_number": t.TEST_TWILIO_PHONE_NUMBER,
        "twilio_api_base": f"{sandbox_url}/twilio",
        "checks_api_key": SecretStr(t.TEST_CHECKS_API_KEY),
        "checks_webhook_secret": SecretStr(t.TEST_CHECKS_WEBHOOK_SECRET),
        "checks_api_base": f"{sandbox_url}/checks",
    }
    return Settings(**(values | overrides))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="tempwork-pg-") as tmp:
        pg = EmbeddedPostgres(Path(tmp), free_port(), durable=False)
        try:
            pg.start()
            migrate(pg.url)
            yield pg.url
        finally:
            pg.stop()


async def start_in_three_tries(
    start: Callable[[], Awaitable[WorkflowEnvironment]],
) -> WorkflowEnvironment:
    """A Temporal test environment, started again (up to three times) when its server does
    not answer within the SDK's 5 s: a cold first start on a loaded machine can take longer."""
    for attempt in range(1, 4):
        try:
            return await start()
        except RuntimeError as err:
            if "did not start" not in str(err) or attempt == 3:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    # The SDK gives the dev server 5 s to answer. Its first start after an install reads a
    # 100 MB binary from a cold page cache: 4 s on an idle machine here, and over 5 s once
    # under a test run's load, which failed every test after it. A second start is warm.
    env = await start_in_three_tries(
        lambda: WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(),
            data_converter=pydantic_data_converter,
            search_attributes=search_attributes.ALL,
            dev_server_log_level="error",
        )
    )
    async with env:
        yield env


# Every test's people come from 127.0.0.1: per-address limits would make one test's
# sign-ups another's 429. The throttling tests run their own app with tight limits.
SHARED_ADDRESS_LIMITS: dict[str, Any] = {
    "registrations_per_address": Limit.parse("100000/1h"),
    "login_failures_per_address": Limit.parse("100000/1h"),
}


@dataclass
class Infra:
    """Everything the app runs on, for tests that drive the real app in-process."""

    settings: Settings
    engine: AsyncEngine
    temporal: Client
    sandbox_url: str
    api_url: str
    sandbox_secrets: dict[str, str]  # what the sandboxes sign with (tests forge webhooks)


@pytest.fixture(scope="session")
async def infra(database_url: str, temporal_env: WorkflowEnvironment) -> AsyncIterator[Infra]:
    # Imported here: only tests that need the full app pay for it.
    from api.main import create_app
    from devstack.stack import DEV_TWILIO_FROM_NUMBER, new_secrets
    from sandbox.testing import running_sandbox, sandbox_config, serve_asgi
    from search.freshness import keep_fresh
    from workers.main import build_worker

    api_port = free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    keys = new_secrets()  # fresh credentials, shared by the app and the sandboxes
    config = sandbox_config(
        stripe_api_key=keys["TEMPWORK_STRIPE_API_KEY"],
        stripe_webhook_secret=keys["TEMPWORK_STRIPE_WEBHOOK_SECRET"],
        stripe_webhook_url=f"{api_url}/webhooks/stripe",
        twilio_account_sid=keys["TEMPWORK_TWILIO_ACCOUNT_SID"],
        twilio_auth_token=keys["TEMPWORK_TWILIO_AUTH_TOKEN"],
        twilio_verify_service_sid=keys["TEMPWORK_TWILIO_VERIFY_SERVICE_SID"],
        twilio_phone_number=DEV_TWILIO_FROM_NUMBER,
        twilio_webhook_url=f"{api_url}/webhooks/twilio",
        sendgrid_api_key=keys["TEMPWORK_SENDGRID_API_KEY"],
        sendgrid_signing_key=keys["TEMPWORK_SANDBOX_SENDGRID_SIGNING_KEY"],
        sendgrid_webhook_url=f"{api_url}/webhooks/sendgrid",
        checks_api_key=keys["TEMPWORK_CHECKS_API_KEY"],
        checks_webhook_secret=keys["TEMPWORK_CHECKS_WEBHOOK_SECRET"],
        checks_webhook_url=f"{api_url}/webhooks/checks",
    )
    async with running_sandbox(config) as sandbox_url:
        settings = Settings(
            database_url=database_url,
            temporal_address=temporal_env.client.service_client.config.target_host,
            temporal_task_queue=f"tempwork-test-{uuid.uuid4().hex[:8]}",
            api_public_url=api_url,
            jwt_secret=SecretStr(keys["TEMPWORK_JWT_SECRET"]),
            verification_code_secret=SecretStr(keys["TEMPWORK_VERIFICATION_CODE_SECRET"]),
            stripe_api_key=SecretStr(keys["TEMPWORK_STRIPE_API_KEY"]),
            stripe_webhook_secret=SecretStr(keys["TEMPWORK_STRIPE_WEBHOOK_SECRET"]),
            stripe_api_base=f"{sandbox_url}/stripe",
            stripe_max_network_retries=0,
            sendgrid_api_key=SecretStr(keys["TEMPWORK_SENDGRID_API_KEY"]),
            sendgrid_webhook_public_key=keys["TEMPWORK_SENDGRID_WEBHOOK_PUBLIC_KEY"],
            sendgrid_api_base=f"{sandbox_url}/sendgrid",
            sendgrid_activity_feed_lag=timedelta(0),
            twilio_account_sid=keys["TEMPWORK_TWILIO_ACCOUNT_SID"],
            twilio_auth_token=SecretStr(keys["TEMPWORK_TWILIO_AUTH_TOKEN"]),
            twilio_verify_service_sid=keys["TEMPWORK_TWILIO_VERIFY_SERVICE_SID"],
            twilio_from_number=DEV_TWILIO_FROM_NUMBER,
            twilio_api_base=f"{sandbox_url}/twilio",
            checks_api_key=SecretStr(keys["TEMPWORK_CHECKS_API_KEY"]),
            checks_webhook_secret=SecretStr(keys["TEMPWORK_CHECKS_WEBHOOK_SECRET"]),
            checks_api_base=f"{sandbox_url}/checks",
            **SHARED_ADDRESS_LIMITS,
        )
        engine = create_engine(settings)
        worker = build_worker(temporal_env.client, settings, engine)
        stop = asyncio.Event()
        try:
            async with worker, serve_asgi(create_app(settings), port=api_port):
                # As in every worker process: search facts the workflows' writes queue.
                fresh = asyncio.create_task(keep_fresh(engine, stop))
                try:
                    yield Infra(settings, engine, temporal_env.client, sandbox_url, api_url, keys)
                finally:
                    stop.set()
                    await fresh
        finally:
            await engine.dispose()


class ApiClient(httpx.AsyncClient):
    """The API over HTTP, and the provider sandboxes behind it: a test reads the code it was
    "sent" from the sandbox outbox and finishes hosted checks there, as a person would with
    their inbox, their phone and the provider's web page."""

    def __init__(self, api_url: str, sandbox_url: str) -> None:
        super().__init__(base_url=api_url, timeout=30)
        self.sandbox_url = sandbox_url


@pytest.fixture
async def http(infra: Infra) -> AsyncIterator[ApiClient]:
    async with ApiClient(infra.api_url, infra.sandbox_url) as client:
        yield client


class Person:
    """A registered, logged-in user of the API."""

    def __init__(self, http: ApiClient, user: dict[str, Any], token: str) -> None:
        self.http, self.user, self.token = http, user, token
        self.phone: str | None = None

    @property
    def id(self) -> str:
        return str(self.user["id"])

    @property
    def email(self) -> str:
        return str(self.user["email"])

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.post(
            path, json=json, headers={**self.auth, **kw.pop("headers", {})}, **kw
        )

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(path, headers=self.auth, **kw)

    async def put(self, path: str, json: Any = None) -> httpx.Response:
        return await self.http.put(path, json=json, headers=self.auth)


PASSWORD = "correct horse battery staple"  # every test person's (staff: helpers.STAFF_PASSWORD)


async def sign_up(
    http: ApiClient, role: str, name: str | None = None, *, verified: bool = False
) -> Person:
    """Registers and logs in; ``verified`` also walks email, phone and identity verification
    through the sandboxes (what a worker must do before applying)."""
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    password = PASSWORD
    registered = await http.post(
        "/v1/auth/register",
        json={
            "email": email,
            "password": password,
            "display_name": name or role.title(),
            "role": role,
        },
    )
    assert registered.status_code == 201, registered.text
    token = await http.post("/v1/auth/token", data={"username": email, "password": password})
    assert token.status_code == 200, token.text
    person = Person(http, registered.json(), token.json()["access_token"])
    if verified:
        await verify(person)
    return person


_phone_numbers = itertools.count(int.from_bytes(os.urandom(2), "big") * 10)


def new_phone_number() -> str:
    """A distinct US number per person in this run (never one of Twilio's magic numbers)."""
    return f"+1415{next(_phone_numbers) % 10_000_000:07d}"


async def sent_to(http: ApiClient, to: str, **params: Any) -> list[dict[str, Any]]:
    """What the sandboxes delivered to this address or number, newest first."""
    async with httpx.AsyncClient(base_url=http.sandbox_url) as sandbox:
        response = await sandbox.get("/_sandbox/outbox", params={"to": to, **params})
    response.raise_for_status()
    return list(response.json()["data"])


async def latest_code(http: ApiClient, to: str) -> str:
    """The newest verification code sent to an email address or phone number."""

    async def codes() -> list[dict[str, Any]]:
        return [m for m in await sent_to(http, to) if m.get("code")]

    found = await eventually(codes, bool)
    return str(found[0]["code"])


async def step_status(person: Person, step: str) -> str:
    view = (await person.get("/v1/verifications")).json()
    return str(next(s["status"] for s in view["steps"] if s["step"] == step))


async def verify(person: Person, *, background: bool = False) -> None:
    """Email, phone and identity (and the background check) the way a person does it."""
    assert (await person.post("/v1/verifications/email")).status_code == 200
    code = await latest_code(person.http, person.email)
    confirmed = await person.post("/v1/verifications/email/confirm", {"code": code})
    assert confirmed.status_code == 200, confirmed.text

    person.phone = new_phone_number()
    sent = await person.post("/v1/verifications/phone", {"phone_number": person.phone})
    assert sent.status_code == 200, sent.text
    code = await latest_code(person.http, person.phone)
    confirmed = await person.post("/v1/verifications/phone/confirm", {"code": code})
    assert confirmed.status_code == 200, confirmed.text

    started = await person.post("/v1/verifications/identity")
    assert started.status_code == 200, started.text
    url = next(s["url"] for s in started.json()["steps"] if s["step"] == "identity")
    submitted = await person.http.get(url, params={"outcome": "verified"})
    assert submitted.status_code in (200, 303), submitted.text
    await eventually(lambda: step_status(person, "identity"), lambda s: s == "verified")

    if background:
        await pass_background_check(person, "clear")


async def pass_background_check(person: Person, result: str) -> dict[str, Any]:
    """Starts the check and fills in the provider's form; answers the started step."""
    started = await person.post(
        "/v1/verifications/background",
        {"first_name": "Wes", "last_name": "Baker", "work_state": "CA", "work_city": "Oakland"},
    )
    assert started.status_code == 200, started.text
    step = next(s for s in started.json()["steps"] if s["step"] == "background")
    form = await person.http.get(step["url"], params={"complete": "1", "result": result})
    assert form.status_code < 400, form.text
    expected = "verified" if result == "clear" else "needs_review"
    await eventually(lambda: step_status(person, "background"), lambda s: s == expected)
    return dict(step)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Asserts an RFC 9457 problem answer with this status; returns its body."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"].startswith("/problems/") and body["title"]
    return body
