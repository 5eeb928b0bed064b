"""Guessers and floods are slowed down: 429 problem+json with `Retry-After`, counted in
PostgreSQL so it holds across API processes (tests/e2e/test_throttling_across_processes.py
proves that with two real processes)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from core.rate_limits import Limit, RateLimits
from tests.api.helpers import app_with
from tests.conftest import ApiClient, Infra, problem, sign_up

PASSWORD = "correct horse battery staple"


def test_limits_are_written_count_slash_period() -> None:
    assert Limit.parse("10/15m") == Limit(10, Limit.parse("1/900s").period)
    assert Limit.parse("5/h").period.total_seconds() == 3600
    for bad in ("", "10", "0/1m", "10/15x", "ten/1m"):
        with pytest.raises(ValueError, match="looks like"):
            Limit.parse(bad)


async def test_a_bucket_lets_a_burst_through_then_says_exactly_how_long_to_wait(
    infra: Infra,
) -> None:
    limits, key = RateLimits(infra.engine), f"test:{uuid.uuid4()}"
    limit = Limit.parse("3/1m")  # one request every 20 s, bursts of 3
    assert [await limits.take(key, limit) for _ in range(3)] == [None, None, None]
    wait = await limits.take(key, limit)
    assert wait is not None and 18 <= wait <= 20
    assert await limits.wait(key, limit) == wait  # peeking spends nothing
    assert await limits.wait(f"test:{uuid.uuid4()}", limit) is None


async def test_concurrent_requests_cannot_overspend_a_bucket(infra: Infra) -> None:
    limits, key = RateLimits(infra.engine), f"test:{uuid.uuid4()}"
    answers = await asyncio.gather(*(limits.take(key, Limit.parse("5/1h")) for _ in range(25)))
    assert answers.count(None) == 5


@pytest.fixture
async def strict(infra: Infra) -> AsyncIterator[ApiClient]:
    """The real app with production-like limits (the shared test app's are loosened)."""
    async with app_with(
        infra,
        login_failures_per_account=Limit.parse("10/15m"),
        login_failures_per_address=Limit.parse("25/15m"),
        registrations_per_address=Limit.parse("3/1h"),
        verification_requests_per_user=Limit.parse("4/10m"),
        webhooks_per_address=Limit.parse("5/1m"),
    ) as client:
        yield client


async def _clear_address_buckets(infra: Infra) -> None:
    # The strict app's address buckets are shared by every test here (all from 127.0.0.1).
    async with infra.engine.begin() as conn:
        await conn.execute(
            sa.text("DELETE FROM rate_limits WHERE key LIKE :by_address OR key LIKE :webhooks"),
            {"by_address": "%:address:%", "webhooks": "webhooks:%"},
        )


async def _login(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await http.post("/v1/auth/token", data={"username": email, "password": password})


async def test_wrong_passwords_for_one_account_are_refused_429_after_ten(
    http: ApiClient, strict: ApiClient, infra: Infra
) -> None:
    await _clear_address_buckets(infra)
    person = await sign_up(http, "client")
    answers = [await _login(strict, person.email, f"guess-{i}-wrong") for i in range(12)]
    assert [a.status_code for a in answers[:10]] == [401] * 10
    limited = problem(answers[10], 429)
    assert limited["type"] == "/problems/too-many-requests"
    assert 1 <= int(answers[10].headers["retry-after"]) == limited["retry_after_seconds"] <= 90
    # Now even the right password waits: a guesser learns nothing from the answers.
    problem(await _login(strict, person.email, PASSWORD), 429)
    # Other accounts are not locked by it.
    other = await sign_up(http, "client")
    assert (await _login(strict, other.email, PASSWORD)).status_code == 200


async def test_one_address_guessing_many_accounts_is_limited_too(
    strict: ApiClient, infra: Infra
) -> None:
    await _clear_address_buckets(infra)
    answers = [
        await _login(strict, f"nobody-{uuid.uuid4().hex[:8]}@example.com", "wrong-password")
        for _ in range(27)
    ]
    codes = [a.status_code for a in answers]
    assert codes[:25] == [401] * 25 and codes[25:] == [429, 429]


async def test_registrations_from_one_address_are_limited(strict: ApiClient, infra: Infra) -> None:
    await _clear_address_buckets(infra)

    async def register() -> httpx.Response:
        return await strict.post(
            "/v1/auth/register",
            json={
                "email": f"new-{uuid.uuid4().hex[:8]}@example.com",
                "password": PASSWORD,
                "display_name": "New",
                "role": "client",
            },
        )

    codes = [(await register()).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]


async def test_verification_requests_per_person_are_limited(
    http: ApiClient, strict: ApiClient
) -> None:
    person = await sign_up(http, "worker")
    codes = []
    for _ in range(5):
        response = await strict.post(
            "/v1/verifications/email/confirm", json={"code": "000000"}, headers=person.auth
        )
        codes.append(response.status_code)
    # Four tries reach the workflow (wrong code or no code sent yet), the fifth waits.
    assert all(c in (409, 422) for c in codes[:4]), codes
    assert codes[4] == 429


async def test_a_webhook_burst_from_one_address_is_answered_429(
    strict: ApiClient, infra: Infra
) -> None:
    await _clear_address_buckets(infra)
    answers = [
        await strict.post("/webhooks/checks", content=b"{}", headers={"x-checkr-signature": "x"})
        for _ in range(6)
    ]
    assert [a.status_code for a in answers] == [400] * 5 + [429]  # forged, then throttled
    assert int(answers[5].headers["retry-after"]) >= 1
