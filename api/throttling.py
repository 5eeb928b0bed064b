"""Abuse limits at the door, answered 429 problem+json with ``Retry-After``. The counting is
in PostgreSQL (core/rate_limits.py), so the limits hold however many API processes run.

Addresses are the peer address uvicorn reports: behind a proxy, run uvicorn with
``--proxy-headers --forwarded-allow-ips=<the proxy>`` so it is the client's, not the proxy's.
Keys never hold an email address in clear (a digest of it), only ids and addresses.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import Depends, Request

from api.deps import CurrentUser, SettingsDep
from api.errors import TempworkError
from core.rate_limits import Limit, RateLimits


def rate_limits(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def too_many(what: str, wait: int) -> TempworkError:
    return TempworkError(
        "too-many-requests", f"too many {what}; try again in {wait} s", retry_after_seconds=wait
    )


def account_key(email: str) -> str:
    return "login:account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


async def refuse_if_exhausted(limits: RateLimits, what: str, *buckets: tuple[str, Limit]) -> None:
    """Answers 429 when any bucket has nothing left, without spending from it."""
    for key, limit in buckets:
        wait = await limits.wait(key, limit)
        if wait:
            raise too_many(what, wait)


async def spend(limits: RateLimits, what: str, key: str, limit: Limit) -> None:
    wait = await limits.take(key, limit)
    if wait:
        raise too_many(what, wait)


async def _registration(request: Request, settings: SettingsDep) -> None:
    key = f"register:address:{client_address(request)}"
    await spend(rate_limits(request), "registrations", key, settings.registrations_per_address)


async def _verification_request(request: Request, user: CurrentUser, settings: SettingsDep) -> None:
    key = f"verification:user:{user.id}"
    limit = settings.verification_requests_per_user
    await spend(rate_limits(request), "verification requests", key, limit)


async def _webhook(request: Request, settings: SettingsDep) -> None:
    # /webhooks/<provider>/…: each provider's burst is its own.
    provider = request.url.path.removeprefix("/webhooks/").split("/", 1)[0]
    key = f"webhooks:{provider}:{client_address(request)}"
    await spend(rate_limits(request), "webhook requests", key, settings.webhooks_per_address)


REGISTRATION_LIMIT: Any = Depends(_registration)
VERIFICATION_LIMIT: Any = Depends(_verification_request)
WEBHOOK_LIMIT: Any = Depends(_webhook)
