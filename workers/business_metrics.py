"""Business metrics read from PostgreSQL when Prometheus scrapes the worker.

Why read them from the tables instead of counting in activities: an activity that is retried
(a crash after the write, a timeout that fired after the work was done) runs its body again,
so a counter incremented there counts one release twice; and counters start at zero after
every deploy. The ledger and the projection are the source of truth — written exactly once
per step key — so figures read from them are exact, the same on every worker replica, and
survive restarts. (Webhook outcomes are the exception: they are counters in the API,
api/webhooks/events.py, because a webhook request is handled once per delivery and the
counter's labels say whether it was handled, a duplicate, ignored or forged.)

Because every worker replica exports the same figures, dashboards and alerts take ``max``
over replicas, never ``sum``.

The queries run in one REPEATABLE READ transaction so that escrow according to the ledger and
according to the projection come from the same snapshot, under a statement timeout; a scrape
within ``business_metrics_cache_seconds`` of the last one reuses its figures. The ledger sums
read every entry: at tens of millions of rows, raise the cache time or keep running totals
in a table the ledger writes maintain.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from models.contracts import ContractStage, MilestoneStatus
from models.ledger import LedgerAccount
from models.verification import STEP_ORDER

log = logging.getLogger("tempwork.worker.metrics")

CONTRACTS_BY_STAGE = sa.text("SELECT stage, count(*) FROM contracts GROUP BY stage")
NEEDS_SUPPORT = sa.text(
    "SELECT 'contract', count(*) FILTER (WHERE needs_support) FROM contracts "
    "UNION ALL SELECT 'verification', count(*) FILTER (WHERE needs_support) FROM verifications"
)
# Per kind of movement: how many, and how much (the positive side of the balanced postings:
# the charge for a funding, payout + fee for a release, the refund, the bank's claw-back).
MONEY_MOVEMENTS = sa.text(
    "SELECT t.kind, t.currency, count(DISTINCT t.id), "
    "       coalesce(sum(e.amount_cents) FILTER (WHERE e.amount_cents > 0), 0) "
    "FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id "
    "GROUP BY t.kind, t.currency"
)
ESCROW_HELD = sa.text(
    "SELECT currency, coalesce(sum(amount_cents), 0) FROM ledger_entries "
    "WHERE account = :escrow GROUP BY currency"
).bindparams(escrow=LedgerAccount.ESCROW.value)
# What the contracts say they hold (models/contracts.py Milestone.escrow_cents, in SQL).
# Completed contracts (most of them, in time) have settled every milestone, and offers never
# held money: their milestones are not unpacked. Cancelled ones are, since a cancelled
# contract still holding escrow is a refund that did not happen.
ESCROW_PROJECTED = sa.text(
    "SELECT c.currency, coalesce(sum((m->>'amount_cents')::bigint "
    "                                - coalesce((m->>'refunded_cents')::bigint, 0)), 0) "
    "FROM contracts c CROSS JOIN LATERAL jsonb_array_elements(c.state->'milestones') m "
    "WHERE c.stage <> ALL(:no_escrow) AND m->>'status' = ANY(:in_escrow) GROUP BY c.currency"
).bindparams(
    no_escrow=[
        ContractStage.OFFERED.value,
        ContractStage.DECLINED.value,
        ContractStage.EXPIRED.value,
        ContractStage.COMPLETED.value,
    ],
    in_escrow=[s.value for s in MilestoneStatus if s.in_escrow],
)
NEGATIVE_ESCROW = sa.text(
    "SELECT count(*) FROM (SELECT contract_id FROM ledger_entries WHERE account = :escrow "
    "GROUP BY contract_id HAVING sum(amount_cents) < 0) AS overdrawn"
).bindparams(escrow=LedgerAccount.ESCROW.value)
VERIFICATION_STEPS = sa.text(
    "SELECT s.step, coalesce(v.state->s.step->>'status', 'not_started'), count(*) "
    "FROM verifications v CROSS JOIN unnest(CAST(:steps AS text[])) AS s(step) "
    "GROUP BY 1, 2"
).bindparams(steps=[s.value for s in STEP_ORDER])


@dataclass
class Figures:
    contracts_by_stage: dict[str, int] = field(default_factory=dict)
    needs_support: dict[str, int] = field(default_factory=dict)
    movements: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    escrow_held: dict[str, int] = field(default_factory=dict)
    escrow_projected: dict[str, int] = field(default_factory=dict)
    contracts_with_negative_escrow: int = 0
    verification_steps: dict[tuple[str, str], int] = field(default_factory=dict)


async def read_figures(engine: AsyncEngine, timeout_seconds: float) -> Figures:
    figures = Figures()
    consistent = engine.execution_options(isolation_level="REPEATABLE READ")
    async with consistent.begin() as conn:
        # SET LOCAL: the timeout ends with this transaction, the pooled connection keeps none.
        await conn.execute(sa.text(f"SET LOCAL statement_timeout = {int(timeout_seconds * 1000)}"))
        figures.contracts_by_stage = {s: n for s, n in await conn.execute(CONTRACTS_BY_STAGE)}
        figures.needs_support = {p: n for p, n in await conn.execute(NEEDS_SUPPORT)}
        figures.movements = {
            (kind, cur): (n, cents) for kind, cur, n, cents in await conn.execute(MONEY_MOVEMENTS)
        }
        figures.escrow_held = {cur: int(c) for cur, c in await conn.execute(ESCROW_HELD)}
        figures.escrow_projected = {cur: int(c) for cur, c in await conn.execute(ESCROW_PROJECTED)}
        figures.contracts_with_negative_escrow = int(
            (await conn.execute(NEGATIVE_ESCROW)).scalar() or 0
        )
        figures.verification_steps = {
            (step, status): n for step, status, n in await conn.execute(VERIFICATION_STEPS)
        }
    return figures


class BusinessMetrics(Collector):
    """A prometheus_client collector over the last figures read; ``refresh`` (async, called by
    the /metrics handler before it renders) reads new ones when the cached ones are stale."""

    def __init__(self, engine: AsyncEngine, *, cache_seconds: float, timeout_seconds: float):
        self.engine = engine
        self.cache_seconds = cache_seconds
        self.timeout_seconds = timeout_seconds
        self.figures: Figures | None = None
        self.read_at = float("-inf")
        self.read_seconds = 0.0
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:  # concurrent scrapes share one read
            if time.monotonic() - self.read_at < self.cache_seconds:
                return
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.timeout_seconds + 1):
                    self.figures = await read_figures(self.engine, self.timeout_seconds)
            except Exception as err:
                # No figures rather than stale ones: a gap in a graph is honest, a flat line
                # that is really "the database was down" is not. tempwork_business_metrics_up
                # says which.
                log.warning("business metrics unavailable: %s", type(err).__name__)
                self.figures = None
            self.read_at = time.monotonic()
            self.read_seconds = self.read_at - started

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        up = GaugeMetricFamily(
            "tempwork_business_metrics_up",
            "1 when the business figures below were read from PostgreSQL at the last refresh",
        )
        up.add_metric([], 1 if self.figures else 0)
        yield up
        took = GaugeMetricFamily(
            "tempwork_business_metrics_read_seconds", "How long the last read of them took"
        )
        took.add_metric([], self.read_seconds)
        yield took
        if self.figures is None:
            return
        f = self.figures

        stages = GaugeMetricFamily(
            "tempwork_contracts", "Contracts by stage (the projection)", labels=["stage"]
        )
        for stage, n in sorted(f.contracts_by_stage.items()):
            stages.add_metric([stage], n)
        yield stages

        support = GaugeMetricFamily(
            "tempwork_needs_support",
            "Processes waiting for a person from support (NeedsSupport)",
            labels=["process"],
        )
        for process, n in sorted(f.needs_support.items()):
            support.add_metric([process], n)
        yield support

        # Counters: the ledger is append-only, so these only ever grow (rate() works).
        count = CounterMetricFamily(
            "tempwork_money_movements",
            "Ledger transactions by kind (funding, release, refund, chargeback_lost)",
            labels=["kind", "currency"],
        )
        cents = CounterMetricFamily(
            "tempwork_money_moved_cents",
            "Money moved by kind, in minor units of the currency",
            labels=["kind", "currency"],
        )
        for (kind, currency), (n, moved) in sorted(f.movements.items()):
            count.add_metric([kind, currency], n)
            cents.add_metric([kind, currency], moved)
        yield count
        yield cents

        held = GaugeMetricFamily(
            "tempwork_escrow_held_cents",
            "Escrow the platform holds according to the ledger, in minor units",
            labels=["currency"],
        )
        for currency, amount in sorted(f.escrow_held.items()):
            held.add_metric([currency], amount)
        yield held
        projected = GaugeMetricFamily(
            "tempwork_escrow_projected_cents",
            "Escrow the contracts' milestones say they hold (funded, not yet released or "
            "refunded); differs from the ledger only while a step is between its two writes",
            labels=["currency"],
        )
        for currency in sorted(set(f.escrow_projected) | set(f.escrow_held)):
            projected.add_metric([currency], f.escrow_projected.get(currency, 0))
        yield projected

        overdrawn = GaugeMetricFamily(
            "tempwork_contracts_with_negative_escrow",
            "Contracts whose escrow balance in the ledger is below zero (must stay 0)",
        )
        overdrawn.add_metric([], f.contracts_with_negative_escrow)
        yield overdrawn

        steps = GaugeMetricFamily(
            "tempwork_verification_steps",
            "People by verification step and its status (verified, rejected, gave_up…)",
            labels=["step", "status"],
        )
        for (step, status), n in sorted(f.verification_steps.items()):
            steps.add_metric([step, status], n)
        yield steps
