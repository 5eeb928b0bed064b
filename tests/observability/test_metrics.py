"""After a contract's whole life, the worker's /metrics shows what the SDK measured and what
the business did — the same figures the ledger and the projection hold — and the alert rules
and the dashboard only use metric names that really are exported."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import WorkflowFailureError

from core.settings import Settings
from tests.api.helpers import apply, fund, hire, post_job
from tests.api.test_contracts import connect_payout_account, contract
from tests.conftest import ROOT, Infra, eventually, sign_up
from tests.observability.broken import BuggyWorkflow, FailingActivityWorkflow
from tests.observability.conftest import Observed
from workers.business_metrics import BusinessMetrics
from workers.health import WorkerEndpoint

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "tempwork.json"
Samples = dict[str, list[tuple[dict[str, str], float]]]


SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(page: str) -> Samples:
    """Sample names exactly as Prometheus stores them. (prometheus_client's parser would
    rename the SDK's counters, exported without the ``_total`` suffix, to ``…_total``: names
    an alert rule must not use.)"""
    found: Samples = {}
    for line in page.splitlines():
        match = SAMPLE.match(line)
        if match is None:
            continue  # comments (# HELP, # TYPE) and blank lines
        name, labels, number = match.groups()
        found.setdefault(name, []).append((dict(LABEL.findall(labels or "")), float(number)))
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    matching = [v for got, v in found.get(name, []) if labels.items() <= got.items()]
    assert matching, f"{name}{labels} not exported; have {sorted(found)[:200]}"
    return sum(matching)


@dataclass
class Scraped:
    worker: Samples
    api: Samples
    contract_id: str


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient() as http:
        answer = await http.get(url)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return samples(answer.text)


@pytest.fixture(scope="module")
async def after_a_lifecycle(observed: Observed, infra: Infra) -> AsyncIterator[Scraped]:
    """A job, a hire, an accepted offer, a funded, delivered, approved and released
    milestone; and, on a queue of their own, a workflow with a bug and a failing activity."""
    async with observed.http(infra) as http:
        client = await sign_up(http, "client")
        worker = await sign_up(http, "worker", verified=True)
        await connect_payout_account(http, worker)
        job = await post_job(client)
        application = await apply(worker, job["id"])
        cid = str((await hire(client, job["id"], application["id"], [50_000]))["id"])
        assert (await worker.post(f"/v1/contracts/{cid}/accept")).status_code == 200
        assert (await fund(client, cid, 1)).status_code == 200
        submitted = await worker.post(f"/v1/contracts/{cid}/milestones/1/submit", {"note": "done"})
        assert submitted.status_code == 200, submitted.text
        assert (await client.post(f"/v1/contracts/{cid}/milestones/1/approve")).status_code == 200
        await eventually(lambda: contract(client, cid), lambda c: c["stage"] == "completed")

    failing = await observed.temporal.start_workflow(
        FailingActivityWorkflow.run, id=f"failing-{cid}", task_queue=observed.broken_task_queue
    )
    with pytest.raises(WorkflowFailureError):
        await failing.result()
    buggy = await observed.temporal.start_workflow(
        BuggyWorkflow.run, id=f"buggy-{cid}", task_queue=observed.broken_task_queue
    )
    try:
        worker_metrics = await eventually(
            lambda: scrape(f"{observed.worker_url}/metrics"),
            lambda s: "temporal_workflow_task_execution_failed" in s,
            timeout=30,
        )
    finally:
        await buggy.terminate("the test saw its failure")
    yield Scraped(worker_metrics, await scrape(f"{observed.api_url}/metrics"), cid)


async def test_the_worker_exports_the_sdks_metrics(after_a_lifecycle: Scraped) -> None:
    worker = after_a_lifecycle.worker
    assert value(worker, "tempwork_worker_sdk_metrics_up") == 1
    # The job posting completed when its one position was filled.
    assert value(worker, "temporal_workflow_completed", workflow_type="JobPosting") >= 1
    assert (
        value(
            worker,
            "temporal_activity_execution_latency_count",
            activity_type="payments.transfer_to_worker",
        )
        >= 1
    )
    assert value(worker, "temporal_workflow_task_schedule_to_start_latency_count") >= 1
    # And what failures look like, labelled with what failed.
    assert (
        value(
            worker,
            "temporal_workflow_task_execution_failed",
            workflow_type="ObservabilityBuggyWorkflow",
        )
        >= 1
    )
    assert (
        value(
            worker, "temporal_activity_execution_failed", activity_type="ObservabilityAlwaysFails"
        )
        >= 1
    )
    assert (
        value(worker, "temporal_workflow_failed", workflow_type="ObservabilityFailingActivity") >= 1
    )


FIGURES_IN_SQL = {
    "completed": "SELECT count(*) FROM contracts WHERE stage = 'completed'",
    "escrow": "SELECT coalesce(sum(amount_cents), 0) FROM ledger_entries "
    "WHERE account = 'escrow' AND currency = 'usd'",
    "releases": "SELECT count(*) FROM ledger_transactions WHERE kind = 'release'",
    # Payout + fee of every release: what left escrow.
    "released": "SELECT -coalesce(sum(e.amount_cents), 0) FROM ledger_transactions t "
    "JOIN ledger_entries e ON e.transaction_id = t.id "
    "WHERE t.kind = 'release' AND e.account = 'escrow'",
    "identity_verified": "SELECT count(*) FROM verifications "
    "WHERE state->'identity'->>'status' = 'verified'",
}


async def test_business_metrics_are_the_ledgers_and_the_projections_figures(
    after_a_lifecycle: Scraped, infra: Infra, observed: Observed
) -> None:
    async def both_sides() -> tuple[dict[str, float], dict[str, float], Samples]:
        """The scrape, then the same figures by hand. Other tests' workflows share this
        database and may move between the two reads: compared until they agree."""
        worker = await scrape(f"{observed.worker_url}/metrics")
        exported = {
            "completed": value(worker, "tempwork_contracts", stage="completed"),
            "escrow": value(worker, "tempwork_escrow_held_cents", currency="usd"),
            "releases": value(worker, "tempwork_money_movements_total", kind="release"),
            "released": value(worker, "tempwork_money_moved_cents_total", kind="release"),
            "identity_verified": value(
                worker, "tempwork_verification_steps", step="identity", status="verified"
            ),
        }
        async with infra.engine.connect() as conn:
            counted = {
                k: float((await conn.execute(sa.text(q))).scalar_one())
                for k, q in FIGURES_IN_SQL.items()
            }
        return exported, counted, worker

    exported, counted, worker = await eventually(both_sides, lambda sides: sides[0] == sides[1])
    assert exported == counted
    assert counted["completed"] >= 1 and counted["releases"] >= 1
    assert counted["released"] >= 50_000 and counted["identity_verified"] >= 1
    assert value(worker, "tempwork_business_metrics_up") == 1
    assert value(worker, "tempwork_money_movements_total", kind="funding") >= 1
    assert value(worker, "tempwork_contracts_with_negative_escrow") == 0
    assert "tempwork_needs_support" in worker and "tempwork_escrow_projected_cents" in worker


async def test_webhook_outcomes_are_counted_by_the_api(after_a_lifecycle: Scraped) -> None:
    # The identity check's and the payout account's results arrived as Stripe webhooks.
    assert (
        value(
            after_a_lifecycle.api,
            "tempwork_webhook_events_total",
            provider="stripe",
            outcome="handled",
        )
        >= 1
    )


async def test_health_answers_ready_while_the_worker_polls(observed: Observed) -> None:
    async with httpx.AsyncClient(base_url=observed.worker_url) as http:
        live, ready = await http.get("/health/live"), await http.get("/health/ready")
        missing = await http.get("/nothing-here")
    assert live.status_code == 200
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ok",
        "checks": {"worker": "ok", "temporal": "ok", "postgres": "ok"},
    }
    assert missing.status_code == 404


async def test_health_is_not_ready_without_postgresql(observed: Observed, infra: Infra) -> None:
    # Nothing listens on port 1: the database is "down" for this endpoint only.
    unreachable = create_async_engine("postgresql+psycopg://tempwork@127.0.0.1:1/tempwork")
    endpoint = WorkerEndpoint(
        client=observed.temporal,
        engine=unreachable,
        polling=lambda: True,
        business=BusinessMetrics(unreachable, cache_seconds=0, timeout_seconds=1),
        sdk_metrics_url=None,
    )
    port = await endpoint.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            ready = await http.get("/health/ready")
            live = await http.get("/health/live")
            page = samples((await http.get("/metrics")).text)
    finally:
        await endpoint.stop()
        await unreachable.dispose()
    assert ready.status_code == 503
    assert ready.json()["checks"]["postgres"].startswith("unavailable")
    assert live.status_code == 200  # alive: restarting the worker would not fix the database
    assert value(page, "tempwork_business_metrics_up") == 0
    assert "tempwork_contracts" not in page  # no figures rather than stale ones


METRIC_NAME = re.compile(r"\b(?:temporal|tempwork|process)_[a-z0-9_]+\b")


def referenced_metrics() -> dict[str, set[str]]:
    """Every metric name an alert rule or a dashboard panel uses, and where."""
    where: dict[str, set[str]] = {}
    rules = yaml.safe_load(ALERTS.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            for name in METRIC_NAME.findall(rule["expr"]):
                where.setdefault(name, set()).add(f"alert {rule['alert']}")
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            for name in METRIC_NAME.findall(target["expr"]):
                where.setdefault(name, set()).add(f"panel {panel['title']!r}")
    return where


async def test_alerts_and_dashboard_use_only_exported_metrics(after_a_lifecycle: Scraped) -> None:
    exported = set(after_a_lifecycle.worker) | set(after_a_lifecycle.api)
    used = referenced_metrics()
    assert len(used) >= 15  # the parse found the rules and panels at all
    missing = {name: sorted(places) for name, places in used.items() if name not in exported}
    assert not missing, f"referenced but never exported: {missing}"


def test_settings_default_to_no_tracing_and_json_logs() -> None:
    fields = Settings.model_fields
    assert fields["otel_exporter_otlp_endpoint"].default is None
    assert fields["log_format"].default == "json"
