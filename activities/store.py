"""Postgres writes made on behalf of workflows: projections, the ledger, reviews, notices.

Every write here is idempotent, because Temporal may run an activity more than once:
projections only move forward (``version`` guard), ledger transactions and notifications are
keyed by the workflow step, reviews by (contract, author).
"""

from __future__ import annotations

import functools
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.db import autocommit
from models.contracts import ContractState
from models.jobs import JobPostingState
from models.ledger import LedgerAccount, LedgerTransaction
from models.payouts import PayoutAccountState, PayoutAccountStatus
from models.reconciliation import (
    LedgerMovement,
    LedgerMovementsRequest,
    MovementKind,
    ReconciliationReport,
)
from models.store import (
    NotificationRequest,
    PayoutDestination,
    PayoutDestinationRequest,
    RevealReviews,
    ReviewRecord,
)
from models.support import SentNotice, SentNoticeQuery, SupportActionRecord
from models.tables import (
    APPLICATIONS,
    CONTRACTS,
    JOBS,
    LEDGER_ENTRIES,
    LEDGER_TRANSACTIONS,
    NOTIFICATIONS,
    PAYOUT_ACCOUNTS,
    PAYOUT_WAITERS,
    RECONCILIATION_REPORTS,
    REVIEWS,
    SUPPORT_ACTIONS,
    USERS,
    VERIFICATIONS,
)
from models.verification import StepStatus, VerificationState

CHECK_VIOLATION = "23514"  # SQLSTATE raised by the ledger's invariant trigger


# Which posting of a transaction is the money that crossed the provider boundary.
_PROVIDER_SIDE = {
    MovementKind.FUNDING: LedgerAccount.ESCROW,
    MovementKind.RELEASE: LedgerAccount.WORKER_PAYOUTS,
    MovementKind.REFUND: LedgerAccount.CLIENT_REFUNDS,
    MovementKind.CHARGEBACK_LOST: LedgerAccount.CHARGEBACK_LOSSES,
}


def _upsert_newer(table: sa.Table, values: dict[str, Any], key: str) -> tuple[Any, dict[str, Any]]:
    """INSERT … ON CONFLICT DO UPDATE unless the stored version is newer, as the statement and
    its parameters (``conn.execute(*_upsert_newer(…))``); ``updated_at`` is set to now().

    An *equal* version is overwritten on purpose. Projections are written by local activities
    inside a workflow task, so a task that never commits (its worker killed after the write)
    leaves a "phantom" row at version N that history does not know. The run that takes over
    replays to N-1 and, at its own version N, must replace the phantom — committed history
    has exactly one state per version, so an equal version is never a step back (make chaos
    found a phantom approval that a strict `<` kept for good)."""
    return _upsert_statement(table, tuple(sorted(values)), key), values


@functools.cache
def _upsert_statement(table: sa.Table, columns: tuple[str, ...], key: str) -> Any:
    # Built once per table and column set, values passed as parameters: with the values
    # inside the statement SQLAlchemy walked them (the whole state JSON) to key its compiled
    # cache on every write — 13 % of the worker's CPU under make bench's command load.
    stmt = insert(table)
    stamped = ("updated_at",) if "updated_at" in table.c else ()
    if stamped:
        stmt = stmt.values(updated_at=sa.func.now())
    updates = {c: stmt.excluded[c] for c in (*columns, *stamped) if c != key}
    return stmt.on_conflict_do_update(
        index_elements=[key], set_=updates, where=table.c.version <= stmt.excluded.version
    )


# Statements built once, values passed as parameters (see _upsert_statement for why).
_INSERT_NOTICE = insert(NOTIFICATIONS).on_conflict_do_nothing(index_elements=["dedupe_key"])
_INSERT_SUPPORT_ACTION = insert(SUPPORT_ACTIONS).on_conflict_do_nothing(index_elements=["id"])
_INSERT_TRANSACTION = (
    insert(LEDGER_TRANSACTIONS)
    .on_conflict_do_nothing(index_elements=["key"])
    .returning(LEDGER_TRANSACTIONS.c.id)
)


class StoreActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @activity.defn(name="store.project_job")
    async def project_job(self, state: JobPostingState, application_ids: list[str]) -> None:
        job = state.model_dump(
            include={
                "client_id",
                "title",
                "description",
                "skills",
                "budget_cents",
                "currency",
                "positions",
                "on_site",
                "hired_count",
                "status",
                "close_reason",
                "created_at",
                "expires_at",
                "closed_at",
                "version",
            }
        )
        location = state.location
        job |= {
            "city": location.city if location else None,
            "latitude": location.latitude if location else None,
            "longitude": location.longitude if location else None,
        }
        applications = [
            state.applications[a].model_dump(exclude={"application_id"})
            | {"id": state.applications[a].application_id, "version": state.version}
            for a in application_ids
        ]
        # Several rows land together in a transaction; the job alone is one statement.
        async with self._engine.begin() if applications else autocommit(self._engine) as conn:
            await conn.execute(*_upsert_newer(JOBS, job | {"id": state.job_id}, "id"))
            for row in applications:
                await conn.execute(*_upsert_newer(APPLICATIONS, row, "id"))

    @activity.defn(name="store.project_contract")
    async def project_contract(self, state: ContractState) -> None:
        row = {
            "id": state.contract_id,
            "job_id": state.job_id,
            "client_id": state.client_id,
            "worker_id": state.worker_id,
            "stage": state.stage.value,
            "total_cents": state.total_cents,
            "currency": state.currency,
            "needs_support": state.needs_support,
            "state": state.model_dump(mode="json"),
            "created_at": state.offered_at,
            "version": state.version,
        }
        async with autocommit(self._engine) as conn:  # one statement
            await conn.execute(*_upsert_newer(CONTRACTS, row, "id"))

    @activity.defn(name="store.project_payout_account")
    async def project_payout_account(self, state: PayoutAccountState) -> None:
        row = {
            "user_id": state.user_id,
            "stripe_account_id": state.stripe_account_id,
            "status": state.status.value,
            "payouts_enabled": state.payouts_enabled,
            "version": state.version,
        }
        async with autocommit(self._engine) as conn:  # one statement
            await conn.execute(*_upsert_newer(PAYOUT_ACCOUNTS, row, "user_id"))

    @activity.defn(name="store.project_verification")
    async def project_verification(self, state: VerificationState) -> None:
        """The person's verification row, and on their user row (in the same transaction,
        only when the row moved forward) what applying is gated on."""
        row = {
            "user_id": state.user_id,
            "state": state.model_dump(mode="json"),
            "needs_support": state.needs_support,
            "identity_session_id": state.identity.session_id,
            "background_candidate_id": state.background.candidate_id,
            "version": state.version,
        }
        user: dict[str, Any] = {
            "verified_steps": [step.value for step in state.verified_steps],
            "verification_level": state.level,
        }
        if state.phone.status is StepStatus.VERIFIED:
            user["phone_number"] = state.phone.destination
        upsert, params = _upsert_newer(VERIFICATIONS, row, "user_id")
        async with self._engine.begin() as conn:
            moved = (await conn.execute(upsert.returning(VERIFICATIONS.c.version), params)).first()
            if moved is not None:
                await conn.execute(
                    sa.update(USERS).where(USERS.c.id == state.user_id).values(**user)
                )

    @activity.defn(name="store.record_ledger")
    async def record_ledger(self, tx: LedgerTransaction) -> bool:
        """Writes one balanced transaction once per key; True if this call wrote it."""
        try:
            async with self._engine.begin() as conn:  # deferred invariant triggers run at commit
                return await self._insert_transaction(conn, tx)
        except DBAPIError as err:
            if getattr(err.orig, "sqlstate", None) != CHECK_VIOLATION:
                raise
            # An unbalanced transaction or negative escrow is a bug, never retried blindly:
            # the workflow flags the contract for support.
            raise ApplicationError(
                f"ledger invariant violated for {tx.key}: {err.orig}",
                type="LedgerInvariantViolated",
                non_retryable=True,
            ) from None

    @staticmethod
    async def _insert_transaction(conn: AsyncConnection, tx: LedgerTransaction) -> bool:
        tx_id = (
            await conn.execute(
                _INSERT_TRANSACTION,
                {
                    "key": tx.key,
                    "contract_id": tx.contract_id,
                    "kind": tx.kind.value,
                    "currency": tx.currency,
                    "provider_object_id": tx.provider_object_id,
                },
            )
        ).scalar_one_or_none()
        if tx_id is None:
            existing = (
                await conn.execute(
                    sa.select(LEDGER_TRANSACTIONS.c.kind, LEDGER_TRANSACTIONS.c.contract_id).where(
                        LEDGER_TRANSACTIONS.c.key == tx.key
                    )
                )
            ).one()
            if (existing.kind, existing.contract_id) != (tx.kind.value, tx.contract_id):
                raise ApplicationError(
                    f"ledger key {tx.key} already used for a different movement",
                    type="LedgerConflict",
                    non_retryable=True,
                )
            return False
        await conn.execute(
            sa.insert(LEDGER_ENTRIES),
            [
                {
                    "transaction_id": tx_id,
                    "contract_id": tx.contract_id,
                    "account": p.account.value,
                    "currency": tx.currency,
                    "amount_cents": p.amount_cents,
                }
                for p in tx.postings
            ],
        )
        return True

    @activity.defn(name="store.save_review")
    async def save_review(self, review: ReviewRecord) -> None:
        async with autocommit(self._engine) as conn:  # one statement
            await conn.execute(
                insert(REVIEWS)
                .values(**review.model_dump())
                .on_conflict_do_nothing(index_elements=["contract_id", "author_id"])
            )

    @activity.defn(name="store.reveal_reviews")
    async def reveal_reviews(self, req: RevealReviews) -> int:
        async with autocommit(self._engine) as conn:  # one statement
            result = await conn.execute(
                sa.update(REVIEWS)
                .where(REVIEWS.c.contract_id == req.contract_id, REVIEWS.c.revealed_at.is_(None))
                .values(revealed_at=req.revealed_at)
            )
            return result.rowcount

    @activity.defn(name="store.notify")
    async def notify(self, notice: NotificationRequest) -> None:
        async with autocommit(self._engine) as conn:  # one statement
            await conn.execute(_INSERT_NOTICE, {"id": uuid4(), **notice.model_dump()})
        activity.logger.info("notified %s (%s)", notice.user_id, notice.kind)

    @activity.defn(name="store.record_support_action")
    async def record_support_action(self, record: SupportActionRecord) -> bool:
        """Who did what to a contract and why; the id is the update's, so once per action."""
        async with autocommit(self._engine) as conn:  # one statement
            inserted = await conn.execute(
                _INSERT_SUPPORT_ACTION, record.model_dump(mode="json") | {"id": record.id}
            )
        return bool(inserted.rowcount)

    @activity.defn(name="store.sent_notice")
    async def sent_notice(self, query: SentNoticeQuery) -> SentNotice | None:
        """A notice this workflow sent, by its dedupe key or (the latest) by its kind."""
        n = NOTIFICATIONS
        own = n.c.dedupe_key.startswith(f"{query.workflow_id}:", autoescape=True)
        # Per recipient (notifications_user_idx), never a scan of everyone's notices.
        select = sa.select(n.c.user_id, n.c.dedupe_key, n.c.kind, n.c.subject, n.c.body).where(
            n.c.user_id.in_(query.recipients),
            own,
            (n.c.dedupe_key == query.notice) | (n.c.kind == query.notice),
        )
        async with autocommit(self._engine) as conn:
            row = (
                await conn.execute(select.order_by(n.c.created_at.desc(), n.c.id).limit(1))
            ).first()
        return None if row is None else SentNotice.model_validate(row._asdict())

    @activity.defn(name="store.payout_destination")
    async def payout_destination(self, req: PayoutDestinationRequest) -> PayoutDestination:
        """The worker's ready payout account, or None after registering the contract as waiting.

        The waiter row is committed *before* the status is read, and the PayoutAccount
        workflow marks the account ready *before* it reads the waiters, so whichever way the
        two interleave, the contract is either told here or signalled by the account.
        """
        waiter = (PAYOUT_WAITERS.c.user_id == req.worker_id) & (
            PAYOUT_WAITERS.c.contract_id == req.contract_id
        )
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(PAYOUT_WAITERS)
                .values(user_id=req.worker_id, contract_id=req.contract_id)
                .on_conflict_do_nothing()
            )
        async with self._engine.begin() as conn:
            account = (
                await conn.execute(
                    sa.select(PAYOUT_ACCOUNTS.c.stripe_account_id).where(
                        PAYOUT_ACCOUNTS.c.user_id == req.worker_id,
                        PAYOUT_ACCOUNTS.c.status == PayoutAccountStatus.READY.value,
                    )
                )
            ).scalar_one_or_none()
            if account is not None:
                await conn.execute(sa.delete(PAYOUT_WAITERS).where(waiter))
        return PayoutDestination(account_id=account)

    @activity.defn(name="store.waiting_contracts")
    async def waiting_contracts(self, user_id: UUID) -> list[UUID]:
        async with autocommit(self._engine) as conn:
            rows = await conn.execute(
                sa.select(PAYOUT_WAITERS.c.contract_id).where(PAYOUT_WAITERS.c.user_id == user_id)
            )
            return list(rows.scalars())

    @activity.defn(name="store.ledger_movements")
    async def ledger_movements(self, req: LedgerMovementsRequest) -> list[LedgerMovement]:
        """Ledger transactions made in the window, or pointing at one of ``provider_ids``,
        each with the amount that went to / came from the provider."""
        tx, entry = LEDGER_TRANSACTIONS, LEDGER_ENTRIES
        provider_side = sa.case(
            *(
                (tx.c.kind == kind.value, entry.c.account == account.value)
                for kind, account in _PROVIDER_SIDE.items()
            ),
            else_=sa.false(),
        )
        conditions = []
        if req.since and req.until:
            conditions.append(tx.c.created_at.between(req.since, req.until))
        if req.provider_ids:
            conditions.append(tx.c.provider_object_id.in_(req.provider_ids))
        if not conditions:
            return []
        query = (
            sa.select(
                tx.c.key,
                tx.c.contract_id,
                tx.c.kind,
                tx.c.provider_object_id,
                tx.c.currency,
                sa.func.abs(sa.func.sum(entry.c.amount_cents)).label("amount"),
            )
            .join(entry, entry.c.transaction_id == tx.c.id)
            .where(sa.or_(*conditions), provider_side)
            .group_by(tx.c.id)
        )
        async with autocommit(self._engine) as conn:
            rows = (await conn.execute(query)).mappings()
            return [
                LedgerMovement(
                    key=r["key"],
                    contract_id=r["contract_id"],
                    kind=MovementKind(r["kind"]),
                    provider_object_id=r["provider_object_id"],
                    amount_cents=int(r["amount"]),
                    currency=r["currency"],
                )
                for r in rows
            ]

    @activity.defn(name="store.save_reconciliation")
    async def save_reconciliation(self, report: ReconciliationReport) -> None:
        values = {
            "run_id": report.run_id,
            "since": report.since,
            "until": report.until,
            "checked": report.checked,
            "mismatch_count": len(report.mismatches),
            "mismatches": [m.model_dump(mode="json") for m in report.mismatches],
        }
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(RECONCILIATION_REPORTS)
                .values(**values)
                .on_conflict_do_update(
                    index_elements=["run_id"],
                    set_={k: v for k, v in values.items() if k != "run_id"},
                )
            )
            # Flag in the projection too: a finished contract workflow cannot be signalled.
            flagged = report.contracts_to_flag
            if flagged:
                await conn.execute(
                    sa.update(CONTRACTS)
                    .where(CONTRACTS.c.id.in_(flagged))
                    .values(needs_support=True)
                )

    def all(self) -> list[Any]:
        return [
            self.project_job,
            self.project_contract,
            self.project_payout_account,
            self.project_verification,
            self.record_ledger,
            self.save_review,
            self.reveal_reviews,
            self.notify,
            self.record_support_action,
            self.sent_notice,
            self.payout_destination,
            self.waiting_contracts,
            self.ledger_movements,
            self.save_reconciliation,
        ]
