"""Reconciliation against the real sandbox and ledger: agreement reports nothing; a refund made
behind the ledger's back is reported and its contract flagged for support."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from temporalio.client import WorkflowHandle

from models.contracts import ContractState
from models.reconciliation import ReconciliationInput, ReconciliationReport
from models.tables import CONTRACTS, RECONCILIATION_REPORTS
from sandbox.testing import stripe_client
from tests.api.helpers import contract_offer, fund, staff
from tests.api.test_contracts import connect_payout_account, contract
from tests.conftest import ApiClient, Infra, eventually
from workflows.reconciliation import ReconciliationWorkflow


async def reconcile(infra: Infra) -> ReconciliationReport:
    return await infra.temporal.execute_workflow(
        ReconciliationWorkflow.run,
        ReconciliationInput(
            lookback=timedelta(hours=1), until=datetime.now(UTC) + timedelta(seconds=5)
        ),
        id=f"reconciliation-test-{uuid.uuid4()}",
        task_queue=infra.settings.temporal_task_queue,
    )


async def test_agreement_then_a_refund_behind_the_ledgers_back(
    http: ApiClient, infra: Infra
) -> None:
    client, worker, cid = await contract_offer(http, [40_000, 10_000])
    await connect_payout_account(http, worker)
    await worker.post(f"/v1/contracts/{cid}/accept")
    await fund(client, cid, 1)
    await fund(client, cid, 2)
    await worker.post(f"/v1/contracts/{cid}/milestones/1/submit")
    await client.post(f"/v1/contracts/{cid}/milestones/1/approve")
    await eventually(
        lambda: contract(client, cid), lambda c: c["milestones"][0]["status"] == "released"
    )
    other_client, other_worker, other = await contract_offer(http, [25_000])
    await other_worker.post(f"/v1/contracts/{other}/accept")
    await fund(other_client, other, 1)

    report = await reconcile(infra)
    ours = [m for m in report.mismatches if str(m.contract_id) in (cid, other)]
    assert ours == [] and report.checked["provider_movements"] >= 4

    # Someone refunds in the Stripe dashboard: the money moved, the ledger does not know.
    intent = (await contract(other_client, other))["milestones"][0]
    state = await infra.temporal.get_workflow_handle(f"contract-{other}").query(
        "state", result_type=ContractState
    )
    assert intent["status"] == "funded" and state.milestones[0].payment_intent_id
    sdk = stripe_client(infra.sandbox_url, infra.settings.stripe_api_key.get_secret_value())
    rogue = await sdk.v1.refunds.create_async(
        params={
            "payment_intent": state.milestones[0].payment_intent_id,
            "amount": 5_000,
            "metadata": {"contract_id": other},
        }
    )

    report = await reconcile(infra)
    found = [m for m in report.mismatches if str(m.contract_id) == other]
    assert [(m.kind, m.provider_object_id) for m in found] == [("missing_in_ledger", rogue.id)]
    assert not [m for m in report.mismatches if str(m.contract_id) == cid]
    handle: WorkflowHandle[object, object] = infra.temporal.get_workflow_handle(f"contract-{other}")
    flagged = await eventually(
        lambda: handle.query("state", result_type=ContractState), lambda s: s.needs_support
    )
    assert flagged.support_reason and rogue.id in flagged.support_reason
    async with infra.engine.connect() as conn:
        needs = await conn.execute(
            sa.select(CONTRACTS.c.needs_support).where(CONTRACTS.c.id == other)
        )
        assert needs.scalar_one() is True
        saved = await conn.execute(
            sa.select(RECONCILIATION_REPORTS.c.mismatch_count).where(
                RECONCILIATION_REPORTS.c.run_id == report.run_id
            )
        )
        assert saved.scalar_one() == len(report.mismatches)
    # Support finds it in the list of contracts that need help; the healthy one is not there.
    support = await staff(http, infra)
    listed = (
        await support.get("/v1/contracts", params={"needs_support": "true", "limit": 100})
    ).json()["items"]
    assert other in [c["id"] for c in listed] and cid not in [c["id"] for c in listed]
