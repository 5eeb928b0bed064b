"""PostgreSQL tables (SQLModel). Workflow code never imports this module.

Projection tables (jobs, applications, contracts, payout_accounts) are written only by
activities and carry the workflow's ``version`` so that a late retry never overwrites newer
state. The schema itself is created by Alembic (migrations/); a test checks the two agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlmodel import Field, SQLModel


def _ts(**kw: Any) -> Any:
    return Field(sa_column=sa.Column(sa.DateTime(timezone=True), **kw))


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: UUID = Field(primary_key=True)
    email: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    password_hash: str
    display_name: str
    role: str
    verification_level: int = 0
    created_at: datetime = _ts(nullable=False, server_default=sa.func.now())


class Job(SQLModel, table=True):
    __tablename__ = "jobs"

    id: UUID = Field(primary_key=True)
    client_id: UUID = Field(foreign_key="users.id")
    title: str
    description: str
    skills: list[str] = Field(sa_column=sa.Column(pg.ARRAY(sa.Text), nullable=False))
    budget_cents: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    currency: str
    positions: int
    hired_count: int
    status: str
    close_reason: str | None = None
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
    closed_at: datetime | None = _ts(nullable=True)
    version: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    # `search` is a generated tsvector column maintained by PostgreSQL (see the migration).


class JobApplication(SQLModel, table=True):
    __tablename__ = "applications"

    id: UUID = Field(primary_key=True)
    job_id: UUID = Field(foreign_key="jobs.id")
    worker_id: UUID = Field(foreign_key="users.id")
    cover_letter: str
    status: str
    contract_id: UUID | None = None
    applied_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)
    version: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class Contract(SQLModel, table=True):
    __tablename__ = "contracts"

    id: UUID = Field(primary_key=True)
    job_id: UUID = Field(foreign_key="jobs.id")
    client_id: UUID = Field(foreign_key="users.id")
    worker_id: UUID = Field(foreign_key="users.id")
    stage: str
    total_cents: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    currency: str
    needs_support: bool = False
    # The full ContractState as the workflow last reported it (milestones, reviews, policy).
    state: dict[str, Any] = Field(sa_column=sa.Column(pg.JSONB, nullable=False))
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)
    version: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class Review(SQLModel, table=True):
    __tablename__ = "reviews"

    contract_id: UUID = Field(primary_key=True, foreign_key="contracts.id")
    author_id: UUID = Field(primary_key=True, foreign_key="users.id")
    subject_id: UUID = Field(foreign_key="users.id")
    author_role: str
    rating: int
    comment: str
    submitted_at: datetime = _ts(nullable=False)
    revealed_at: datetime | None = _ts(nullable=True)


class PayoutAccount(SQLModel, table=True):
    __tablename__ = "payout_accounts"

    user_id: UUID = Field(primary_key=True, foreign_key="users.id")
    stripe_account_id: str | None = None
    status: str
    payouts_enabled: bool = False
    updated_at: datetime = _ts(nullable=False)
    version: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class PayoutWaiter(SQLModel, table=True):
    """A contract whose release waits for this worker's payout account to become ready."""

    __tablename__ = "payout_waiters"

    user_id: UUID = Field(primary_key=True, foreign_key="users.id")
    contract_id: UUID = Field(primary_key=True, foreign_key="contracts.id")
    created_at: datetime = _ts(nullable=False, server_default=sa.func.now())


class LedgerTransactionRow(SQLModel, table=True):
    __tablename__ = "ledger_transactions"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    contract_id: UUID = Field(foreign_key="contracts.id")
    kind: str
    currency: str
    provider_object_id: str | None = None
    created_at: datetime = _ts(nullable=False, server_default=sa.func.now())


class LedgerEntryRow(SQLModel, table=True):
    __tablename__ = "ledger_entries"

    id: int | None = Field(default=None, primary_key=True)
    transaction_id: int = Field(foreign_key="ledger_transactions.id")
    contract_id: UUID = Field(foreign_key="contracts.id")
    account: str
    currency: str
    amount_cents: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class IdempotencyRecord(SQLModel, table=True):
    """`Idempotency-Key` on API POSTs: the first result is stored and replayed."""

    __tablename__ = "idempotency_keys"

    user_id: UUID = Field(primary_key=True, foreign_key="users.id")
    key: str = Field(primary_key=True)
    request_fingerprint: str
    status_code: int | None = None
    response_body: Any | None = Field(default=None, sa_column=sa.Column(pg.JSONB, nullable=True))
    created_at: datetime = _ts(nullable=False, server_default=sa.func.now())


class WebhookEvent(SQLModel, table=True):
    __tablename__ = "webhook_events"

    provider: str = Field(primary_key=True)
    event_id: str = Field(primary_key=True)
    type: str
    payload: dict[str, Any] = Field(sa_column=sa.Column(pg.JSONB, nullable=False))
    received_at: datetime = _ts(nullable=False, server_default=sa.func.now())
    processed_at: datetime | None = _ts(nullable=True)


class Notification(SQLModel, table=True):
    """In-app notices (reminders, offers): the durable record of what we told whom."""

    __tablename__ = "notifications"

    id: UUID = Field(primary_key=True)
    user_id: UUID = Field(foreign_key="users.id")
    kind: str
    subject: str
    body: str
    dedupe_key: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    created_at: datetime = _ts(nullable=False, server_default=sa.func.now())


def table(model: type[SQLModel]) -> sa.Table:
    """The Core table behind a model, typed for SQLAlchemy expressions (SQLModel sets it)."""
    return cast(sa.Table, model.__table__)  # type: ignore[attr-defined]


USERS = table(User)
JOBS = table(Job)
APPLICATIONS = table(JobApplication)
CONTRACTS = table(Contract)
REVIEWS = table(Review)
PAYOUT_ACCOUNTS = table(PayoutAccount)
PAYOUT_WAITERS = table(PayoutWaiter)
LEDGER_TRANSACTIONS = table(LedgerTransactionRow)
LEDGER_ENTRIES = table(LedgerEntryRow)
IDEMPOTENCY_KEYS = table(IdempotencyRecord)
WEBHOOK_EVENTS = table(WebhookEvent)
NOTIFICATIONS = table(Notification)
