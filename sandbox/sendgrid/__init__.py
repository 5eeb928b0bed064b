"""SendGrid sandbox (Mail Send, Email Activity, signed Event Webhook): to be built."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter

from ..faults import FaultInjector
from ..outbox import Outbox
from ..store import Database


@dataclass(frozen=True)
class SendGridSettings:
    api_key: str
    # The Event Webhook's ECDSA P-256 private key, base64 of its DER (PKCS#8) encoding; the app
    # holds the public half, as SendGrid's "verification key".
    signing_key: str
    event_webhook_url: str | None
    webhook_retry_delays: tuple[float, ...]


class SendGridSandbox:
    name = "sendgrid"

    def __init__(
        self, settings: SendGridSettings, db: Database, faults: FaultInjector, outbox: Outbox
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


def create_sendgrid_sandbox(
    settings: SendGridSettings, db: Database, faults: FaultInjector, outbox: Outbox
) -> SendGridSandbox:
    return SendGridSandbox(settings, db, faults, outbox)
