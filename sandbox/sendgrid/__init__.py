"""A local stand-in for the SendGrid v3 API subset Tempwork uses: Mail Send, Email Activity and
the signed Event Webhook, spoken to by the official SDK with only its host changed::

    sendgrid.SendGridAPIClient(api_key, host=f"{sandbox_url}/sendgrid")

See README.md beside this file for what is simulated, the test addresses and control endpoints.
"""

from __future__ import annotations

from fastapi import APIRouter

from ..faults import FaultInjector
from ..outbox import Outbox
from ..store import Database
from .api import api_router
from .control import control_router
from .state import SendGridSandbox, SendGridSettings

__all__ = ["SendGridProvider", "SendGridSandbox", "SendGridSettings", "create_sendgrid_sandbox"]


class SendGridProvider:
    """The SendGrid sandbox as the app mounts it (`/sendgrid`, `/_sandbox/sendgrid`)."""

    name = "sendgrid"

    def __init__(self, sandbox: SendGridSandbox) -> None:
        self.sandbox = sandbox

    def api_router(self) -> APIRouter:
        return api_router(self.sandbox)

    def control_router(self) -> APIRouter:
        return control_router(self.sandbox)

    async def start(self) -> None:
        await self.sandbox.start()

    async def stop(self) -> None:
        await self.sandbox.stop()

    def reset(self) -> None:
        self.sandbox.reset()


def create_sendgrid_sandbox(
    settings: SendGridSettings, db: Database, faults: FaultInjector, outbox: Outbox
) -> SendGridProvider:
    return SendGridProvider(SendGridSandbox(settings, db, faults, outbox))
