"""A local stand-in for the Stripe API subset Tempwork uses, spoken to by the official SDK.

Point the SDK at it by changing only the base address::

    stripe.StripeClient(key, base_addresses={"api": f"{url}/stripe", "connect": f"{url}/stripe"},
                        http_client=stripe.HTTPXClient())
"""

from __future__ import annotations

from fastapi import APIRouter

from ..faults import FaultInjector
from ..provider import MountedProvider
from ..store import Database
from .api import api_router
from .control import control_router
from .identity_page import identity_router
from .jobs import register_jobs
from .onboarding import onboarding_router
from .state import API_VERSION, StripeSandbox, StripeSettings

__all__ = [
    "API_VERSION",
    "StripeSandbox",
    "StripeSettings",
    "control_router",
    "create_stripe_sandbox",
    "stripe_provider",
    "stripe_router",
]


def create_stripe_sandbox(
    settings: StripeSettings, db: Database, faults: FaultInjector
) -> StripeSandbox:
    sandbox = StripeSandbox(settings, db, faults)
    register_jobs(sandbox)
    return sandbox


def stripe_router(sandbox: StripeSandbox) -> APIRouter:
    """Everything under `/stripe`: the hosted onboarding and identity pages, then the catch-all
    `/v1` API."""
    router = APIRouter()
    router.include_router(onboarding_router(sandbox))
    router.include_router(identity_router(sandbox))
    router.include_router(api_router(sandbox))
    return router


def stripe_provider(sandbox: StripeSandbox) -> MountedProvider:
    """The Stripe sandbox as the app mounts it (`/stripe`, `/_sandbox/stripe`)."""
    return MountedProvider(
        "stripe", sandbox, lambda: stripe_router(sandbox), lambda: control_router(sandbox)
    )
