"""The proofs a chaos run ends with, computed from what was observed: pure functions, no I/O
(``tests/test_chaos_proofs.py`` feeds them synthetic data).

Duplicates are counted at the provider (the Stripe sandbox), never in our own tables: two
money objects created under one idempotency key, or more than one succeeded charge, refund or
transfer for one milestone, is a duplicate whatever our ledger says.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from chaos.plan import OUTCOME, AtProvider, Kind, Money, Plan

MONEY_KINDS = ("charge", "refund", "transfer")


@dataclass(frozen=True)
class Observed:
    """A lifecycle's contract as the API shows it at the end (support's view)."""

    contract_id: str | None
    stage: str | None = None
    milestones: tuple[str, ...] = ()
    money: Money | None = None
    reviews_revealed: bool = False
    error: str | None = None  # why the lifecycle's script could not finish


@dataclass
class Row:
    check: str
    expected: int | str
    actual: int | str
    duplicates: int | str = "-"
    mismatches: int = 0

    @property
    def ok(self) -> bool:
        return self.mismatches == 0 and self.duplicates in ("-", 0)


@dataclass
class Report:
    rows: list[Row]
    problems: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)


def at_provider(rows: Iterable[Mapping[str, Any]]) -> dict[str, AtProvider]:
    """Succeeded charges, refunds and transfers per contract, from the sandbox's money rows."""
    amounts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row["object"] in MONEY_KINDS and _moved(row) and row["contract_id"]:
            amounts[row["contract_id"]][row["object"]].append(int(row["amount"]))
    return {
        contract: AtProvider(
            tuple(sorted(kinds["charge"])),
            tuple(sorted(kinds["refund"])),
            tuple(sorted(kinds["transfer"])),
        )
        for contract, kinds in amounts.items()
    }


def _moved(row: Mapping[str, Any]) -> bool:
    """Money actually moved: a failed (declined) charge or a failed refund moved nothing."""
    return row["object"] == "transfer" or row["status"] in ("succeeded", "pending")


def duplicates(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Extra money objects per kind: more than one created under one idempotency key, or more
    than one that moved money for one (contract, milestone)."""
    per_key: Counter[tuple[str, str]] = Counter()
    per_milestone: Counter[tuple[str, str, str]] = Counter()
    for row in rows:
        kind = row["object"]
        if kind not in MONEY_KINDS:
            continue
        for key in set(row.get("idempotency_keys") or []):
            per_key[(kind, key)] += 1
        if _moved(row) and row["contract_id"] and row.get("milestone"):
            per_milestone[(kind, row["contract_id"], str(row["milestone"]))] += 1
    extra = dict.fromkeys(MONEY_KINDS, 0)
    for (kind, _), n in per_key.items():
        extra[kind] += n - 1
    for (kind, _, _), n in per_milestone.items():
        extra[kind] += n - 1
    return extra


def judge(plan: Plan, seen: Observed, provider: AtProvider) -> list[str]:
    """What is wrong with one lifecycle's end state (empty: it is exactly as planned)."""
    if seen.error:
        return [seen.error]
    want = plan.expected()
    wrong = []
    if seen.stage != want.stage:
        wrong.append(f"stage {seen.stage} (want {want.stage})")
    if seen.milestones != want.milestones:
        wrong.append(f"milestones {list(seen.milestones)} (want {list(want.milestones)})")
    if seen.money != want.money:
        wrong.append(f"ledger money {seen.money} (want {want.money})")
    if provider != want.at_provider:
        wrong.append(f"at Stripe {provider} (want {want.at_provider})")
    if want.reviews_revealed and not seen.reviews_revealed:
        wrong.append("reviews not revealed")
    return wrong


def build_report(
    plans: Sequence[Plan],
    observed: Mapping[int, Observed],
    money_rows: Sequence[Mapping[str, Any]],
    *,
    ledger_transactions: int,
    unbalanced_transactions: Sequence[str],
    reconcile_mismatches: int | None,
    reconcile_checked: int | None,
    projection_versions: Mapping[str, tuple[int | None, int | None]],
) -> Report:
    """Rows of the final table. ``projection_versions`` maps a contract id to (version in
    Postgres, version the workflow's ``state`` query answers)."""
    ours = {o.contract_id for o in observed.values() if o.contract_id}
    rows_ours = [r for r in money_rows if r.get("contract_id") in ours]
    provider = at_provider(rows_ours)
    report = Report(rows=[])

    for kind in Kind:
        mine = [p for p in plans if p.kind is kind]
        bad = 0
        for p in mine:
            seen = observed.get(p.index, Observed(None, error="never started"))
            wrong = judge(p, seen, provider.get(seen.contract_id or "", AtProvider()))
            if wrong:
                bad += 1
                report.problems.append(
                    f"#{p.index} {kind} contract={seen.contract_id}: {'; '.join(wrong)}"
                )
        report.rows.append(
            Row(f"{kind}: {OUTCOME[kind]}", len(mine), len(mine) - bad, mismatches=bad)
        )

    extra = duplicates(rows_ours)
    for money_kind in MONEY_KINDS:
        want = sum(len(getattr(p.expected().at_provider, f"{money_kind}s")) for p in plans)
        got = sum(len(getattr(a, f"{money_kind}s")) for a in provider.values())
        report.rows.append(
            Row(
                f"Stripe {money_kind}s (per key + per milestone)",
                want,
                got,
                duplicates=extra[money_kind],
                mismatches=abs(want - got),
            )
        )

    report.rows.append(
        Row(
            "ledger transactions summing to zero",
            ledger_transactions,
            ledger_transactions - len(unbalanced_transactions),
            mismatches=len(unbalanced_transactions),
        )
    )
    report.problems += [
        f"ledger transaction does not sum to zero: {t}" for t in unbalanced_transactions
    ]

    if reconcile_mismatches is None:
        report.rows.append(Row("ops reconcile", "0 mismatches", "did not run", mismatches=1))
    else:
        report.rows.append(
            Row(
                f"ops reconcile ({reconcile_checked} movements checked)",
                0,
                reconcile_mismatches,
                mismatches=reconcile_mismatches,
            )
        )

    lagging = []
    for contract, (projected, workflow) in sorted(projection_versions.items()):
        if projected is None or workflow is None or projected != workflow:
            lagging.append(contract)
            report.problems.append(
                f"projection of contract {contract} at version {projected}, "
                f"its workflow at {workflow}"
            )
    missing = len(ours - set(projection_versions))
    report.rows.append(
        Row(
            "projections at their workflow's version",
            len(ours),
            len(ours) - len(lagging) - missing,
            mismatches=len(lagging) + missing,
        )
    )
    return report


COLUMNS = ("check", "expected", "actual", "duplicates", "mismatches")


def render(report: Report) -> str:
    cells = [
        [str(getattr(r, c)) for c in COLUMNS] + ["ok" if r.ok else "FAIL"] for r in report.rows
    ]
    header = [*COLUMNS, ""]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]

    def line(values: list[str]) -> str:
        first = values[0].ljust(widths[0])
        rest = [v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True)]
        return "| " + " | ".join([first, *rest]) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(c) for c in cells)])


def results_json(report: Report, started_at: datetime) -> str:
    return json.dumps(
        {
            "date": started_at.isoformat(timespec="seconds"),
            "ok": report.ok,
            "rows": [asdict(r) | {"ok": r.ok} for r in report.rows],
            "facts": report.facts,
            "problems": report.problems[:200],
        },
        indent=2,
        default=str,
    )
