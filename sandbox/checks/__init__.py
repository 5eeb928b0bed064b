"""A local stand-in for the background-check provider, modelled on Checkr's API and spoken to
with httpx (HTTP Basic, the API key as user name), as the app does.

Served at `/checks` (`/checks/v1/...` is Checkr's `https://api.checkr.com/v1/...`), with the
hosted invitation pages at `/checks/invitations/{token}` and control endpoints at
`/_sandbox/checks`. See README.md for what is simulated.
"""

from __future__ import annotations

from fastapi import APIRouter

from ..faults import FaultInjector
from ..store import Database
from .api import api_router
from .control import control_router
from .hosted import hosted_router
from .jobs import register_jobs
from .state import ChecksSettings, ChecksState

__all__ = ["ChecksSandbox", "ChecksSettings", "ChecksState", "create_checks_sandbox"]


class ChecksSandbox:
    """The check provider as the app mounts it (`/checks`, `/_sandbox/checks`)."""

    name = "checks"

    def __init__(self, settings: ChecksSettings, db: Database, faults: FaultInjector) -> None:
        self.settings, self.db, self.faults = settings, db, faults
        self.state = ChecksState(settings, db, faults)
        register_jobs(self.state)

    def api_router(self) -> APIRouter:
        router = APIRouter()
        router.include_router(hosted_router(self.state))
        router.include_router(api_router(self.state))
        return router

    def control_router(self) -> APIRouter:
        return control_router(self.state)

    async def start(self) -> None:
        await self.state.start()

    async def stop(self) -> None:
        await self.state.stop()

    def reset(self) -> None:
        self.state.reset()


def create_checks_sandbox(
    settings: ChecksSettings, db: Database, faults: FaultInjector
) -> ChecksSandbox:
    return ChecksSandbox(settings, db, faults)
