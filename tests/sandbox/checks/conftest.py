"""The check provider's tests: each module gets its own sandbox with a webhook receiver that
verifies `X-Checkr-Signature`; every test starts from a wiped sandbox. (`client` and `control`
here are the check provider's, not the Stripe ones of the parent conftest.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from ..checks_support import ChecksEnv, checks_sandbox


@pytest.fixture(scope="module")
async def checks_env() -> AsyncIterator[ChecksEnv]:
    async with checks_sandbox() as env:
        yield env


@pytest.fixture
async def env(checks_env: ChecksEnv) -> AsyncIterator[ChecksEnv]:
    async with checks_env.control() as control:
        (await control.post("/_sandbox/reset")).raise_for_status()
    checks_env.receiver.clear()
    yield checks_env


@pytest.fixture
async def client(env: ChecksEnv) -> AsyncIterator[httpx.AsyncClient]:
    async with env.client() as client:
        yield client


@pytest.fixture
async def control(env: ChecksEnv) -> AsyncIterator[httpx.AsyncClient]:
    async with env.control() as control:
        yield control
