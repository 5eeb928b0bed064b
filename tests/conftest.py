"""Shared test infrastructure: real PostgreSQL, a real Temporal dev server, the Stripe
sandbox, our worker and our API — started once per session on free 127.0.0.1 ports, only
when a test asks for them, and always stopped (also when tests fail)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
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


def migrate(database_url: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env={
            **os.environ,
            "TEMPWORK_DATABASE_URL": database_url,
            "TEMPWORK_JWT_SECRET": "x" * 32,
            "TEMPWORK_STRIPE_API_KEY": "unused",
            "TEMPWORK_STRIPE_WEBHOOK_SECRET": "unused",
        },
        check=True,
        capture_output=True,
    )


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


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    ) as env:
        yield env


@dataclass
class Infra:
    """Everything the app runs on, for tests that drive the real app in-process."""

    settings: Settings
    engine: AsyncEngine
    temporal: Client
    sandbox_url: str
    api_url: str


@pytest.fixture(scope="session")
async def infra(database_url: str, temporal_env: WorkflowEnvironment) -> AsyncIterator[Infra]:
    # Imported here: only tests that need the full app pay for it.
    from api.main import create_app
    from sandbox.testing import TEST_STRIPE_API_KEY, running_sandbox, sandbox_config, serve_asgi
    from workers.main import build_worker

    api_port = free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    webhook_secret = f"whsec_{secrets.token_hex(16)}"
    config = sandbox_config(
        stripe_webhook_url=f"{api_url}/webhooks/stripe", stripe_webhook_secret=webhook_secret
    )
    async with running_sandbox(config) as sandbox_url:
        settings = Settings(
            database_url=database_url,
            temporal_address=temporal_env.client.service_client.config.target_host,
            temporal_task_queue=f"tempwork-test-{uuid.uuid4().hex[:8]}",
            api_public_url=api_url,
            jwt_secret=SecretStr(secrets.token_urlsafe(48)),
            stripe_api_key=SecretStr(TEST_STRIPE_API_KEY),
            stripe_webhook_secret=SecretStr(webhook_secret),
            stripe_api_base=f"{sandbox_url}/stripe",
            stripe_max_network_retries=0,
        )
        engine = create_engine(settings)
        worker = build_worker(temporal_env.client, settings, engine)
        try:
            async with worker, serve_asgi(create_app(settings), port=api_port):
                yield Infra(settings, engine, temporal_env.client, sandbox_url, api_url)
        finally:
            await engine.dispose()


@pytest.fixture
async def http(infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=infra.api_url, timeout=30) as client:
        yield client


class Person:
    """A registered, logged-in user of the API."""

    def __init__(self, http: httpx.AsyncClient, user: dict[str, Any], token: str) -> None:
        self.http, self.user, self.token = http, user, token

    @property
    def id(self) -> str:
        return str(self.user["id"])

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.post(
            path, json=json, headers={**self.auth, **kw.pop("headers", {})}, **kw
        )

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(path, headers=self.auth, **kw)


async def sign_up(http: httpx.AsyncClient, role: str, name: str | None = None) -> Person:
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    password = "correct horse battery staple"
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
    return Person(http, registered.json(), token.json()["access_token"])


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Asserts an RFC 9457 problem answer with this status; returns its body."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"].startswith("/problems/") and body["title"]
    return body
