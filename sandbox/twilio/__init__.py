"""Twilio sandbox (Messages, Verify, inbound messages): to be built — see sandbox/README.md."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter

from ..faults import FaultInjector
from ..outbox import Outbox
from ..store import Database


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    auth_token: str
    verify_service_sid: str  # the Verify service the app is configured with (pre-created)
    phone_number: str  # the platform's SMS sender number (E.164)
    inbound_webhook_url: str | None  # where replies (e.g. STOP) to phone_number are POSTed
    public_url: str  # the sandbox's own base address
    webhook_retry_delays: tuple[float, ...]


class TwilioSandbox:
    name = "twilio"

    def __init__(
        self, settings: TwilioSettings, db: Database, faults: FaultInjector, outbox: Outbox
    ) -> None:
        self.settings, self.db, self.faults, self.outbox = settings, db, faults, outbox

    def api_router(self) -> APIRouter:
        return APIRouter()

    def control_router(self) -> APIRouter:
        return APIRouter()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def reset(self) -> None:
        pass


def create_twilio_sandbox(
    settings: TwilioSettings, db: Database, faults: FaultInjector, outbox: Outbox
) -> TwilioSandbox:
    return TwilioSandbox(settings, db, faults, outbox)
