"""A local stand-in for the Twilio APIs Tempwork uses (Messages, Verify, inbound texts), spoken
to by the official SDK with only the host changed (see sandbox/twilio/README.md)::

    Client(account_sid, auth_token,
           http_client=core.twilio_http.TwilioHttpClient(api_base=f"{url}/twilio"))
"""

from __future__ import annotations

from fastapi import APIRouter

from ..faults import FaultInjector
from ..outbox import Outbox
from ..store import Database
from .api import api_router
from .control import control_router
from .state import API_VERSION, TwilioSandbox, TwilioSettings

__all__ = [
    "API_VERSION",
    "TwilioProvider",
    "TwilioSandbox",
    "TwilioSettings",
    "create_twilio_sandbox",
]


class TwilioProvider:
    """The Twilio sandbox as the app mounts it (`/twilio`, `/_sandbox/twilio`)."""

    name = "twilio"

    def __init__(self, sandbox: TwilioSandbox) -> None:
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


def create_twilio_sandbox(
    settings: TwilioSettings, db: Database, faults: FaultInjector, outbox: Outbox
) -> TwilioProvider:
    return TwilioProvider(TwilioSandbox(settings, db, faults, outbox))
