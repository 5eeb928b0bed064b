"""Fault injection shared by every provider sandbox (driven by `POST /_sandbox/faults`).

All randomness comes from one seeded `random.Random`, so a chaos test that sets `seed` sees the
same sequence of failures on every run.

`drop_response_after_commit` simulates a response lost in transit: the request executes and its
result is stored under the idempotency key exactly as on success, but the client is answered with
a 500. A client that retries with the same key must then receive the stored result, which is how
real Stripe behaves when a connection drops after the charge/transfer was made.
"""

from __future__ import annotations

import asyncio
import random
from typing import Literal

from pydantic import BaseModel, Field


class CommitFault(BaseModel):
    """Applies to the next `times` executed POSTs whose path starts with `path_prefix`."""

    path_prefix: str = ""
    times: int = Field(default=1, ge=1)


class HangFault(CommitFault):
    ms: int = Field(ge=0)


class FaultSettings(BaseModel):
    seed: int | None = None
    # Which sandboxes the faults apply to ("stripe", "twilio", "sendgrid", "checks"); all if unset.
    providers: list[str] | None = None
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    rate_limit_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    latency_ms: int = Field(default=0, ge=0)
    drop_response_after_commit: CommitFault | None = None
    hang_after_commit_ms: HangFault | None = None
    # The same two faults at random instead of for the next N calls (chaos runs): the share of
    # executed POSTs whose answer is lost, and the share answered only after `late_answer_ms`.
    drop_response_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    late_answer_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    late_answer_ms: int = Field(default=0, ge=0)
    webhook_drop_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    webhook_duplicate_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    webhook_shuffle: bool = False
    webhook_delay_ms: int = Field(default=0, ge=0)


def _matches(fault: CommitFault, path: str, full_path: str) -> bool:
    # Accept both the provider-relative path ("/v1/transfers") and the server path
    # ("/stripe/v1/transfers") so tests can use whichever they have at hand.
    return path.startswith(fault.path_prefix) or full_path.startswith(fault.path_prefix)


def _provider_of(full_path: str) -> str | None:
    """`/stripe/v1/transfers` → "stripe": every sandbox is mounted under its own name."""
    first = full_path.lstrip("/").split("/", 1)[0]
    return first or None


class FaultInjector:
    def __init__(self) -> None:
        self.settings = FaultSettings()
        self.rng = random.Random()

    def replace(self, settings: FaultSettings) -> None:
        self.settings = settings.model_copy(deep=True)
        if settings.seed is not None:
            self.rng.seed(settings.seed)

    def reset(self) -> None:
        self.replace(FaultSettings())

    def applies_to(self, provider: str | None) -> bool:
        wanted = self.settings.providers
        return provider is None or wanted is None or provider in wanted

    def roll(self, rate: float, provider: str | None = None) -> bool:
        return rate > 0 and self.applies_to(provider) and self.rng.random() < rate

    def request_fault(self, provider: str) -> Literal["rate_limit", "error"] | None:
        """The fault (if any) to answer an API request with *before* it runs; each provider
        renders it in its own error format (Stripe's 429/500 bodies, Twilio's, SendGrid's)."""
        if self.roll(self.settings.rate_limit_rate, provider):
            return "rate_limit"
        if self.roll(self.settings.error_rate, provider):
            return "error"
        return None

    async def latency(self, provider: str) -> None:
        if self.settings.latency_ms and self.applies_to(provider):
            await asyncio.sleep(self.settings.latency_ms / 1000)

    def take_drop_after_commit(self, path: str, full_path: str) -> bool:
        fault = self.settings.drop_response_after_commit
        if fault is None or not _matches(fault, path, full_path):
            return self.roll(self.settings.drop_response_rate, _provider_of(full_path))
        fault.times -= 1
        if fault.times <= 0:
            self.settings.drop_response_after_commit = None
        return True

    def take_hang_after_commit(self, path: str, full_path: str) -> float:
        """Seconds to sleep before answering (0 when no hang applies)."""
        fault = self.settings.hang_after_commit_ms
        if fault is None or not _matches(fault, path, full_path):
            late = self.roll(self.settings.late_answer_rate, _provider_of(full_path))
            return self.settings.late_answer_ms / 1000 if late else 0.0
        fault.times -= 1
        if fault.times <= 0:
            self.settings.hang_after_commit_ms = None
        return fault.ms / 1000
