"""Store activities against a real PostgreSQL: idempotent ledger writes, the ledger's
invariants enforced by the database itself, forward-only projections, payout waiters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.store import StoreActivities
from core.accounts import create_user
from models.common import Role
from models.contracts import ContractInput, ContractPolicy, ContractStage, MilestoneSpec
from models.jobs import JobCreate, JobPostingState
from models.ledger import LedgerAccount, LedgerTransaction, Posting, TransactionKind
from models.payouts import PayoutAccountState, PayoutAccountStatus
from models.store import PayoutDestinationRequest
from models.tables import CONTRACTS, LEDGER_ENTRIES, LEDGER_TRANSACTIONS, PAYOUT_WAITERS

ENV = ActivityEnvironment()
POLICY = ContractPolicy(
    platform_fee_bps=1000,
    offer_ttl=timedelta(hours=72),
    funding_deadline=timedelta(days=7),
    auto_release_after=timedelta(days=14),
    approval_reminders=[],
    review_window=timedelta(days=7),
    payout_account_reminder_every=timedelta(days=7),
    payout_account_support_after=timedelta(days=90),
)


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def store(engine: AsyncEngine) -> StoreActivities:
    return StoreActivities(engine)


async def a_contract(engine: AsyncEngine, store: StoreActivities) -> ContractInput:
    """Factory: a client, a worker, a job and an offered contract, projected like the workflows do."""
    client = await create_user(
        engine, f"c-{uuid.uuid4().hex}@example.com", "x" * 12, "C", Role.CLIENT
    )
    worker = await create_user(
        engine, f"w-{uuid.uuid4().hex}@example.com", "x" * 12, "W", Role.WORKER
    )
    now = datetime.now(UTC)
    job = JobPostingState(
        job_id=uuid.uuid4(),
        client_id=client.id,
        created_at=now,
        expires_at=now + timedelta(days=30),
        min_verification_level=0,
        version=1,
        **JobCreate(title="Job", description="d", budget_cents=10_000).model_dump(),
    )
    await ENV.run(store.project_job, job, [])
    contract = ContractInput(
        contract_id=uuid.uuid4(),
        job_id=job.job_id,
        application_id=uuid.uuid4(),
        client_id=client.id,
        worker_id=worker.id,
        job_title="Job",
        currency="usd",
        policy=POLICY,
        offered_at=now,
        milestones=[MilestoneSpec(title="M1", amount_cents=10_000)],
    )
    await ENV.run(
        store.project_contract, contract.initial_state().model_copy(update={"version": 1})
    )
    return contract


async def test_a_ledger_transaction_is_written_once_per_step_key(
    engine: AsyncEngine, store: StoreActivities
) -> None:
    c = await a_contract(engine, store)
    funding = LedgerTransaction.funding(
        f"contract-{c.contract_id}:m1:fund", c.contract_id, "usd", 10_000, "pi_1"
    )
    assert await ENV.run(store.record_ledger, funding) is True
    assert await ENV.run(store.record_ledger, funding) is False  # a retry after a crash
    async with engine.connect() as conn:
        count = await conn.execute(
            sa.select(sa.func.count()).where(LEDGER_ENTRIES.c.contract_id == c.contract_id)
        )
        assert count.scalar_one() == 2
    # The same key for a different movement is a bug that must not pass silently.
    refund = LedgerTransaction.refund(funding.key, c.contract_id, "usd", 10_000, "re_1")
    with pytest.raises(ApplicationError) as err:
        await ENV.run(store.record_ledger, refund)
    assert err.value.type == "LedgerConflict"


async def test_the_database_refuses_negative_escrow(
    engine: AsyncEngine, store: StoreActivities
) -> None:
    c = await a_contract(engine, store)
    await ENV.run(
        store.record_ledger,
        LedgerTransaction.funding(
            "k-fund-" + str(c.contract_id), c.contract_id, "usd", 5_000, "pi"
        ),
    )
    overdraw = LedgerTransaction.release(
        "k-rel-" + str(c.contract_id), c.contract_id, "usd", 5_000, 1_000, "tr"
    )
    with pytest.raises(ApplicationError) as err:
        await ENV.run(store.record_ledger, overdraw)
    assert err.value.type == "LedgerInvariantViolated" and err.value.non_retryable
    async with engine.connect() as conn:  # and nothing of it was kept
        keys = await conn.execute(
            sa.select(LEDGER_TRANSACTIONS.c.key).where(
                LEDGER_TRANSACTIONS.c.contract_id == c.contract_id
            )
        )
        assert list(keys.scalars()) == ["k-fund-" + str(c.contract_id)]


async def test_the_database_refuses_unbalanced_or_edited_entries(
    engine: AsyncEngine, store: StoreActivities
) -> None:
    c = await a_contract(engine, store)
    # Bypass the model's own check to prove the database holds the line on its own.
    bad = LedgerTransaction.model_construct(
        key=f"bad-{c.contract_id}",
        contract_id=c.contract_id,
        kind=TransactionKind.FUNDING,
        currency="usd",
        provider_object_id=None,
        postings=[
            Posting(account=LedgerAccount.ESCROW, amount_cents=100),
            Posting(account=LedgerAccount.CLIENT_PAYMENTS, amount_cents=-99),
        ],
    )
    with pytest.raises(ApplicationError) as err:
        await ENV.run(store.record_ledger, bad)
    assert err.value.type == "LedgerInvariantViolated"
    good = LedgerTransaction.funding(f"good-{c.contract_id}", c.contract_id, "usd", 100, "pi")
    await ENV.run(store.record_ledger, good)
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(LEDGER_ENTRIES)
                .where(LEDGER_ENTRIES.c.contract_id == c.contract_id)
                .values(amount_cents=1)
            )


async def test_projections_only_move_forward(engine: AsyncEngine, store: StoreActivities) -> None:
    c = await a_contract(engine, store)
    newer = c.initial_state().model_copy(update={"stage": ContractStage.ACTIVE, "version": 5})
    older = c.initial_state().model_copy(update={"stage": ContractStage.DECLINED, "version": 3})
    await ENV.run(store.project_contract, newer)
    await ENV.run(store.project_contract, older)  # a late retry of an earlier write
    async with engine.connect() as conn:
        row = (
            (await conn.execute(sa.select(CONTRACTS).where(CONTRACTS.c.id == c.contract_id)))
            .mappings()
            .one()
        )
    assert (row["stage"], row["version"]) == ("active", 5)


async def test_a_phantom_projection_is_replaced_by_history_at_the_same_version(
    engine: AsyncEngine, store: StoreActivities
) -> None:
    # A worker wrote version 4 ("completed") in a workflow task that never committed; the run
    # that took over reaches its own version 4 ("active") and that is what must show.
    c = await a_contract(engine, store)
    phantom = c.initial_state().model_copy(update={"stage": ContractStage.COMPLETED, "version": 4})
    committed = c.initial_state().model_copy(update={"stage": ContractStage.ACTIVE, "version": 4})
    await ENV.run(store.project_contract, phantom)
    await ENV.run(store.project_contract, committed)
    async with engine.connect() as conn:
        stage = (
            await conn.execute(sa.select(CONTRACTS.c.stage).where(CONTRACTS.c.id == c.contract_id))
        ).scalar_one()
    assert stage == "active"


async def test_a_contract_waits_for_the_payout_account_then_gets_it(
    engine: AsyncEngine, store: StoreActivities
) -> None:
    c = await a_contract(engine, store)
    ask = PayoutDestinationRequest(worker_id=c.worker_id, contract_id=c.contract_id)
    assert (await ENV.run(store.payout_destination, ask)).account_id is None
    assert await ENV.run(store.waiting_contracts, c.worker_id) == [c.contract_id]

    ready = PayoutAccountState(
        user_id=c.worker_id,
        email="w@x",
        country="US",
        status=PayoutAccountStatus.READY,
        stripe_account_id=f"acct_{c.worker_id.hex[:10]}",
        payouts_enabled=True,
        version=2,
    )
    await ENV.run(store.project_payout_account, ready)
    assert (await ENV.run(store.payout_destination, ask)).account_id == ready.stripe_account_id
    async with engine.connect() as conn:
        left = await conn.execute(
            sa.select(PAYOUT_WAITERS).where(PAYOUT_WAITERS.c.contract_id == c.contract_id)
        )
        assert left.first() is None
