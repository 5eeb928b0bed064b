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


def _int_fact() -> Any:
    return Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))


def _generated(type_: Any, expression: str) -> Any:
    """A column PostgreSQL computes (STORED); its SQL is the migration's, quoted here."""
    return Field(default=None, sa_column=sa.Column(type_, sa.Computed(expression, persisted=True)))


def _text() -> Any:
    """Unbounded text (free text and hashes), not VARCHAR."""
    return Field(sa_column=sa.Column(sa.Text, nullable=False))


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: UUID = Field(primary_key=True)
    email: str = _text()
    password_hash: str = _text()
    display_name: str = _text()
    role: str = _text()
    verification_level: int = 0
    # Written by the Verification workflow's projection only.
    verified_steps: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
    )
    phone_number: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    email_notifications: bool = Field(
        default=True, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.true())
    )
    sms_notifications: bool = Field(
        default=True, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.true())
    )
    # From revealed reviews, kept by the database (refresh_member_facts, migration 0005).
    rating_count: int = _int_fact()
    rating_sum: int = _int_fact()
    created_at: datetime = _ts(nullable=False, server_default=sa.func.now())


class Job(SQLModel, table=True):
    __tablename__ = "jobs"

    id: UUID = Field(primary_key=True)
    client_id: UUID = Field(foreign_key="users.id")
    title: str = _text()
    description: str = _text()
    skills: list[str] = Field(sa_column=sa.Column(pg.ARRAY(sa.Text), nullable=False))
    budget_cents: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    currency: str
    positions: int
    hired_count: int
    on_site: bool = Field(
        default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false())
    )
    status: str
    close_reason: str | None = None
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
    closed_at: datetime | None = _ts(nullable=True)
    version: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    # Where on-site work happens (both or neither).
    city: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    latitude: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))
    longitude: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))


class WorkerProfile(SQLModel, table=True):
    """A worker's public profile. The worker writes the first block (PUT /v1/me/profile);
    the facts are the database's copy of what workflows established (refresh_member_facts)."""

    __tablename__ = "worker_profiles"

    user_id: UUID = Field(primary_key=True, foreign_key="users.id")
    headline: str = _text()
    bio: str = _text()
    skills: list[str] = Field(sa_column=sa.Column(pg.ARRAY(sa.Text), nullable=False))
    hourly_rate_cents: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    currency: str = _text()
    city: str = _text()
    latitude: float = Field(sa_column=sa.Column(sa.Double, nullable=False))
    longitude: float = Field(sa_column=sa.Column(sa.Double, nullable=False))
    service_radius_km: int
    availability: str = _text()
    verified_steps: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
    )
    rating_count: int = _int_fact()
    rating_sum: int = _int_fact()
    completed_contracts: int = _int_fact()
    response_minutes: int | None = None
    active_at: datetime = _ts(nullable=False, server_default=sa.func.now())
    created_at: datetime = _ts(nullable=False, server_default=sa.func.now())
    updated_at: datetime = _ts(nullable=False, server_default=sa.func.now())
    search: str | None = _generated(
        pg.TSVECTOR,
        "search_document(headline, skills, bio) || profile_facets(latitude, longitude,"
        " verified_steps, rating_count, rating_sum, hourly_rate_cents)",
    )
    geo_cell: int | None = _generated(sa.Integer, "geo_cell(latitude, longitude)")
    rating_milli: int | None = _generated(sa.Integer, "rating_milli(rating_count, rating_sum)")
    rank_base: int | None = _generated(
        sa.BigInteger,
        "member_standing(verified_steps, rating_count, rating_sum)::bigint * 8640000"
        " + epoch_ms(active_at)",
    )


class JobSearchRow(SQLModel, table=True):
    """A job as search matches and ranks it (docs/search.md), written from the ``jobs``
    projection by the search queue's refresher (search/freshness.py), never by workflows."""

    __tablename__ = "job_search"

    job_id: UUID = Field(primary_key=True, foreign_key="jobs.id")
    client_id: UUID
    status: str = _text()
    budget_cents: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    created_at: datetime = _ts(nullable=False)
    latitude: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))
    longitude: float | None = Field(default=None, sa_column=sa.Column(sa.Double, nullable=True))
    client_standing: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    search: str = Field(sa_column=sa.Column(pg.TSVECTOR, nullable=False))
    geo_cell: int | None = _generated(sa.Integer, "geo_cell(latitude, longitude)")
    rank_base: int | None = _generated(
        sa.BigInteger, "client_standing::bigint * 864000 + epoch_ms(created_at)"
    )


class JobApplication(SQLModel, table=True):
    __tablename__ = "applications"

    id: UUID = Field(primary_key=True)
    job_id: UUID = Field(foreign_key="jobs.id")
    worker_id: UUID = Field(foreign_key="users.id")
    cover_letter: str = _text()
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


class Verification(SQLModel, table=True):
    """The Verification workflow's state as it last reported it (one row per person)."""

    __tablename__ = "verifications"

    user_id: UUID = Field(primary_key=True, foreign_key="users.id")
    state: dict[str, Any] = Field(sa_column=sa.Column(pg.JSONB, nullable=False))
    needs_support: bool = False
    identity_session_id: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    background_candidate_id: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    updated_at: datetime = _ts(nullable=False)
    version: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class Delivery(SQLModel, table=True):
    """One email or SMS of one notification: the send's idempotency record and its fate."""

    __tablename__ = "deliveries"

    dedupe_key: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    channel: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    user_id: UUID = Field(foreign_key="users.id")
    kind: str = _text()
    destination: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    status: str = _text()
    detail: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    provider_message_id: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    attempts: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    created_at: datetime = _ts(nullable=False, server_default=sa.func.now())
    updated_at: datetime = _ts(nullable=False, server_default=sa.func.now())


class ReconciliationReportRow(SQLModel, table=True):
    __tablename__ = "reconciliation_reports"

    run_id: str = Field(primary_key=True)
    since: datetime = _ts(nullable=False)
    until: datetime = _ts(nullable=False)
    checked: dict[str, int] = Field(sa_column=sa.Column(pg.JSONB, nullable=False))
    mismatch_count: int
    mismatches: list[dict[str, Any]] = Field(sa_column=sa.Column(pg.JSONB, nullable=False))
    created_at: datetime = _ts(nullable=False, server_default=sa.func.now())


class SupportActionRow(SQLModel, table=True):
    """What support did to a contract, who and why (models/support.py). Written by the
    contract's workflow, keyed by its update (``id`` derives from workflow + update id).
    No foreign keys: an audit row must never hold the action up (the actor is whoever the
    command named, e.g. typed in the `temporal` CLI; a contract may not be projected yet)."""

    __tablename__ = "support_actions"

    id: UUID = Field(primary_key=True)
    workflow_id: str = _text()
    update_id: str = _text()
    contract_id: UUID
    action: str = _text()
    actor_id: UUID
    reason: str = _text()
    details: dict[str, Any] = Field(sa_column=sa.Column(pg.JSONB, nullable=False))
    created_at: datetime = _ts(nullable=False)


def table(model: type[SQLModel]) -> sa.Table:
    """The Core table behind a model, typed for SQLAlchemy expressions (SQLModel sets it)."""
    return cast(sa.Table, model.__table__)  # type: ignore[attr-defined]


USERS = table(User)
JOBS = table(Job)
WORKER_PROFILES = table(WorkerProfile)
JOB_SEARCH = table(JobSearchRow)
JOB_COLUMNS = tuple(JOBS.c)
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
RECONCILIATION_REPORTS = table(ReconciliationReportRow)
VERIFICATIONS = table(Verification)
DELIVERIES = table(Delivery)
SUPPORT_ACTIONS = table(SupportActionRow)


class RateLimitRow(SQLModel, table=True):
    """A rate-limited key's bucket (core/rate_limits.py): its theoretical arrival time."""

    __tablename__ = "rate_limits"

    key: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    tat: datetime = _ts(nullable=False)


RATE_LIMITS = table(RateLimitRow)


class SearchQueueRow(SQLModel, table=True):
    """A person whose facts changed (their profile and open jobs wait for a refresh), or a job
    search has yet to (re)index: search/freshness.py. Written by triggers in the projection
    writes (migration 0005)."""

    __tablename__ = "search_queue"

    kind: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))  # person | job
    id: UUID = Field(primary_key=True)
    queued_at: datetime = _ts(nullable=False, server_default=sa.func.now())


SEARCH_QUEUE = table(SearchQueueRow)
