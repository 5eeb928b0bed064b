"""Background-check provider sandbox (Checkr-style): to be built."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter

from ..faults import FaultInjector
from ..store import Database


@dataclass(frozen=True)
class ChecksSettings:
    api_key: str
    webhook_secret: str  # HMAC-SHA256 key of the `X-Checkr-Signature` header
    webhook_url: str | None
    public_url: str  # the sandbox's own base address (hosted invitation pages)
    report_delay_seconds: float  # from a completed invitation to the finished report
    webhook_retry_delays: tuple[float, ...]


class ChecksSandbox:
    name = "checks"

    def __init__(self, settings: ChecksSettings, db: Database, faults: FaultInjector) -> None:
        self.settings, self.db, self.faults = settings, db, faults

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


def create_checks_sandbox(
    settings: ChecksSettings, db: Database, faults: FaultInjector
) -> ChecksSandbox:
    return ChecksSandbox(settings, db, faults)
