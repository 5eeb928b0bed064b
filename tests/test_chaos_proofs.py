"""The chaos run's proofs on synthetic data: a run where everything went right passes, and
each kind of damage (a duplicate transfer, a charge twice under one key, an unbalanced
ledger transaction, a lagging projection, a wrong end state) fails the run."""

from __future__ import annotations

from typing import Any

from chaos.plan import MIX, Kind, Plan, make_plans
from chaos.proofs import Observed, Report, build_report, duplicates, render


def _rows_for(plan: Plan, contract_id: str) -> list[dict[str, Any]]:
    """The money objects Stripe would hold if the plan went exactly right."""
    at = plan.expected().at_provider
    rows = []
    for kind, amounts in (
        ("charge", at.charges),
        ("refund", at.refunds),
        ("transfer", at.transfers),
    ):
        for n, amount in enumerate(amounts, 1):
            key = f"contract-{contract_id}:m{n}:{kind}"
            rows.append(
                {
                    "object": kind,
                    "id": f"{kind}_{contract_id}_{n}",
                    "amount": amount,
                    "status": None if kind == "transfer" else "succeeded",
                    "contract_id": contract_id,
                    "milestone": str(n),
                    "step": key,
                    "idempotency_keys": [key],
                }
            )
    return rows


def _perfect(plans: list[Plan]) -> tuple[dict[int, Observed], list[dict[str, Any]]]:
    observed, rows = {}, []
    for p in plans:
        cid = f"c{p.index}"
        want = p.expected()
        observed[p.index] = Observed(
            cid, want.stage, want.milestones, want.money, reviews_revealed=want.reviews_revealed
        )
        rows += _rows_for(p, cid)
    return observed, rows


def _report(
    plans: list[Plan],
    observed: dict[int, Observed],
    rows: list[dict[str, Any]],
    **overrides: Any,
) -> Report:
    args: dict[str, Any] = {
        "ledger_transactions": 10,
        "unbalanced_transactions": [],
        "reconcile_mismatches": 0,
        "reconcile_checked": 10,
        "projection_versions": {o.contract_id: (7, 7) for o in observed.values()},
    } | overrides
    return build_report(plans, observed, rows, **args)


def test_every_kind_is_planned_and_a_perfect_run_passes() -> None:
    plans = make_plans(40, seed=1)
    assert {p.kind for p in plans} == set(MIX)
    observed, rows = _perfect(plans)
    report = _report(plans, observed, rows)
    assert report.ok, report.problems
    assert "FAIL" not in render(report)


def test_a_second_transfer_for_a_milestone_is_a_duplicate_and_fails() -> None:
    plans = [Plan(0, Kind.HAPPY, (10_000, 20_000))]
    observed, rows = _perfect(plans)
    again = dict(next(r for r in rows if r["object"] == "transfer"))
    again |= {"id": "tr_again", "idempotency_keys": ["another-key"]}
    rows.append(again)
    assert duplicates(rows)["transfer"] == 1
    report = _report(plans, observed, rows)
    assert not report.ok
    row = next(r for r in report.rows if "transfers" in r.check)
    assert row.duplicates == 1 and not row.ok
    assert "FAIL" in render(report)


def test_two_charges_under_one_idempotency_key_are_a_duplicate() -> None:
    rows = [
        {"object": "charge", "id": f"ch_{i}", "amount": 500, "status": "succeeded",
         "contract_id": f"c{i}", "milestone": "1", "idempotency_keys": ["same-key"]}
        for i in range(2)
    ]  # fmt: skip
    assert duplicates(rows) == {"charge": 1, "refund": 0, "transfer": 0}


def test_a_declined_charge_beside_the_good_one_is_not_a_duplicate() -> None:
    plans = [Plan(0, Kind.DECLINED_THEN_PAID, (12_345,))]
    observed, rows = _perfect(plans)
    rows.append(
        {"object": "charge", "id": "ch_declined", "amount": 12_345, "status": "failed",
         "contract_id": "c0", "milestone": "1", "idempotency_keys": ["declined-key"]}
    )  # fmt: skip
    assert _report(plans, observed, rows).ok


def test_unbalanced_ledger_lagging_projection_and_wrong_end_state_each_fail() -> None:
    plans = [Plan(0, Kind.CANCEL_REFUND, (30_000,)), Plan(1, Kind.CHARGEBACK_LOST, (8_000,))]
    observed, rows = _perfect(plans)
    assert not _report(plans, observed, rows, unbalanced_transactions=["k (sum 1)"]).ok
    assert not _report(plans, observed, rows, projection_versions={"c0": (5, 6), "c1": (3, 3)}).ok
    assert not _report(plans, observed, rows, reconcile_mismatches=2).ok
    assert not _report(plans, observed, rows, reconcile_mismatches=None).ok
    observed[1] = Observed("c1", "active", ("funded",), observed[1].money)
    report = _report(plans, observed, rows)
    assert not report.ok
    assert any("#1 chargeback_lost" in p and "stage active" in p for p in report.problems)


def test_a_split_dispute_expects_the_refund_and_the_release_net_of_fee() -> None:
    plan = Plan(0, Kind.DISPUTE_SPLIT, (10_000,), release_cents=6_000)
    want = plan.expected()
    assert want.money.refunded_cents == 4_000
    assert want.money.released_cents == 5_400 and want.money.fee_cents == 600
    assert want.at_provider.transfers == (5_400,) and want.at_provider.refunds == (4_000,)
