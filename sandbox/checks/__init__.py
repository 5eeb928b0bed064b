"""A local stand-in for the background-check provider, modelled on Checkr's API and spoken to
with httpx (HTTP Basic, the API key as user name), as the app does.

Served at `/checks` (`/checks/v1/...` is Checkr's `https://api.checkr.com/v1/...`), with the
hosted invitation pages at `/checks/invitations/{token}` and control endpoints at
`/_sandbox/checks`. See README.md for what is simulated.
"""

from __future__ import annotations

from fastapi import APIRouter

from ..faults import FaultInjector
from ..provider import MountedProvider
from ..store import Database
from .api import api_router
from .control import control_router
from .hosted import hosted_router
from .jobs import register_jobs
from .state import ChecksSettings, ChecksState

__all__ = ["ChecksSettings", "ChecksState", "create_checks_sandbox"]


def create_checks_sandbox(
    settings: ChecksSettings, db: Database, faults: FaultInjector
) -> MountedProvider:
    """The check provider as the app mounts it (`/checks`, `/_sandbox/checks`)."""
    state = ChecksState(settings, db, faults)
    register_jobs(state)

    def api() -> APIRouter:
        router = APIRouter()
        router.include_router(hosted_router(state))
        router.include_router(api_router(state))
        return router

    return MountedProvider("checks", state, api, lambda: control_router(state))
