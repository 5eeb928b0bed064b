"""Activity I/O for the Postgres projection, reviews and notifications."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from models.common import Role


class ReviewRecord(BaseModel):
    contract_id: UUID
    author_id: UUID
    subject_id: UUID
    author_role: Role
    rating: int
    comment: str
    submitted_at: datetime


class RevealReviews(BaseModel):
    contract_id: UUID
    revealed_at: datetime


class NotificationRequest(BaseModel):
    """A notice to a person; ``dedupe_key`` makes retries and replays deliver it once."""

    user_id: UUID
    kind: str
    subject: str
    body: str
    dedupe_key: str


class PayoutDestinationRequest(BaseModel):
    worker_id: UUID
    contract_id: UUID


class PayoutDestination(BaseModel):
    account_id: str | None  # None: not ready yet; the contract is now registered as waiting
