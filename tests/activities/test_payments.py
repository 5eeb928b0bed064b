"""Payment activities against the Stripe sandbox, through the official SDK: each provider call
is deduplicated by its step key, errors are classified the way the workflows rely on."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.payments import PaymentActivities, stripe_client
from models.errors import Rejection
from models.payments import (
    ConfirmPaymentRequest,
    ConnectedAccountRequest,
    EscrowIntentRequest,
    OnboardingLinkRequest,
    RefundRequest,
    TransferRequest,
)
from sandbox.testing import running_sandbox
from tests.conftest import sandbox_settings


@pytest.fixture(scope="module")
async def sandbox() -> AsyncIterator[str]:
    async with running_sandbox() as url:
        yield url


@pytest.fixture
async def payments(sandbox: str) -> AsyncIterator[PaymentActivities]:
    settings = sandbox_settings(sandbox)
    yield PaymentActivities(stripe_client(settings))
    async with httpx.AsyncClient() as http:
        await http.delete(f"{sandbox}/_sandbox/faults")


ENV = ActivityEnvironment()


async def run(fn: Any, arg: Any) -> Any:
    return await ENV.run(fn, arg)


async def objects(sandbox: str, kind: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        return list(
            (await http.get(f"{sandbox}/_sandbox/stripe/objects", params={"type": kind})).json()[
                "data"
            ]
        )


def intent_request(key: str, amount: int = 12_345) -> EscrowIntentRequest:
    contract_id = uuid.uuid4()
    return EscrowIntentRequest(
        idempotency_key=key,
        contract_id=contract_id,
        milestone=1,
        client_id=uuid.uuid4(),
        amount_cents=amount,
        currency="usd",
        transfer_group=f"contract-{contract_id}",
        description="M1",
    )


async def funded(payments: PaymentActivities, key: str, amount: int = 12_345) -> tuple[str, str]:
    pi = await run(payments.create_escrow_intent, intent_request(f"{key}:intent", amount))
    result = await run(
        payments.confirm_escrow_payment,
        ConfirmPaymentRequest(
            idempotency_key=f"{key}:confirm:1", payment_intent_id=pi, payment_method="pm_card_visa"
        ),
    )
    return pi, result.charge_id


async def ready_account(payments: PaymentActivities, sandbox: str) -> str:
    account = await run(
        payments.create_connected_account,
        ConnectedAccountRequest(
            idempotency_key=str(uuid.uuid4()),
            user_id=uuid.uuid4(),
            email="w@example.com",
            country="US",
        ),
    )
    async with httpx.AsyncClient() as http:
        done = await http.post(
            f"{sandbox}/_sandbox/stripe/accounts/{account.account_id}/complete_onboarding"
        )
        assert done.status_code == 200
    return str(account.account_id)


async def test_one_payment_intent_per_key_and_one_charge_however_often_confirmed(
    payments: PaymentActivities, sandbox: str
) -> None:
    key = f"contract-{uuid.uuid4()}:m1"
    request = intent_request(f"{key}:intent")
    first = await run(payments.create_escrow_intent, request)
    assert await run(payments.create_escrow_intent, request) == first  # retried after a "crash"

    declined = ConfirmPaymentRequest(
        idempotency_key=f"{key}:confirm:1",
        payment_intent_id=first,
        payment_method="pm_card_chargeDeclined",
    )
    with pytest.raises(ApplicationError) as err:
        await run(payments.confirm_escrow_payment, declined)
    assert err.value.type == Rejection.CARD_DECLINED and err.value.non_retryable

    ok = ConfirmPaymentRequest(
        idempotency_key=f"{key}:confirm:2", payment_intent_id=first, payment_method="pm_card_visa"
    )
    charged = await run(payments.confirm_escrow_payment, ok)
    # A later attempt (new key, e.g. after a timeout) finds the intent succeeded: no new charge.
    again = await run(
        payments.confirm_escrow_payment,
        ok.model_copy(update={"idempotency_key": f"{key}:confirm:3"}),
    )
    assert again == charged and charged.amount_cents == 12_345
    mine = [
        c
        for c in await objects(sandbox, "charge")
        if c["payment_intent"] == first and c["status"] == "succeeded"
    ]
    assert len(mine) == 1
    assert await run(payments.get_escrow_payment, first) == charged


async def test_transfers_wait_for_onboarding_and_survive_a_lost_response(
    payments: PaymentActivities, sandbox: str
) -> None:
    key = f"contract-{uuid.uuid4()}:m1"
    _, charge = await funded(payments, key)
    account = await run(
        payments.create_connected_account,
        ConnectedAccountRequest(
            idempotency_key=f"{key}:acct", user_id=uuid.uuid4(), email="w@example.com", country="US"
        ),
    )
    transfer = TransferRequest(
        idempotency_key=f"{key}:release",
        contract_id=uuid.uuid4(),
        milestone=1,
        amount_cents=11_111,
        currency="usd",
        destination_account=account.account_id,
        source_charge_id=charge,
        transfer_group=key,
    )
    with pytest.raises(ApplicationError) as err:
        await run(payments.transfer_to_worker, transfer)
    assert err.value.type == "PayoutAccountNotReady" and err.value.non_retryable

    async with httpx.AsyncClient() as http:
        await http.post(
            f"{sandbox}/_sandbox/stripe/accounts/{account.account_id}/complete_onboarding"
        )
        # Stripe makes the transfer but the answer is lost on the way back.
        await http.post(
            f"{sandbox}/_sandbox/faults",
            json={"drop_response_after_commit": {"path_prefix": "/v1/transfers"}},
        )
    with pytest.raises(ApplicationError) as lost:
        await run(payments.transfer_to_worker, transfer)
    assert not lost.value.non_retryable  # Temporal retries it …
    result = await run(
        payments.transfer_to_worker, transfer
    )  # … and the retry finds the same transfer
    assert await run(payments.transfer_to_worker, transfer) == result
    mine = [t for t in await objects(sandbox, "transfer") if t["transfer_group"] == key]
    assert [t["id"] for t in mine] == [result.transfer_id] and mine[0]["amount"] == 11_111


async def test_refunds_are_once_per_key_and_never_exceed_the_charge(
    payments: PaymentActivities, sandbox: str
) -> None:
    key = f"contract-{uuid.uuid4()}:m1"
    pi, _ = await funded(payments, key, 10_000)
    refund = RefundRequest(
        idempotency_key=f"{key}:refund",
        contract_id=uuid.uuid4(),
        milestone=1,
        payment_intent_id=pi,
        amount_cents=4_000,
    )
    first = await run(payments.refund_escrow, refund)
    assert await run(payments.refund_escrow, refund) == first
    too_much = refund.model_copy(
        update={"idempotency_key": f"{key}:refund-2", "amount_cents": 7_000}
    )
    with pytest.raises(ApplicationError) as err:
        await run(payments.refund_escrow, too_much)
    assert err.value.type == "PaymentRejected" and err.value.non_retryable
    assert len([r for r in await objects(sandbox, "refund") if r["payment_intent"] == pi]) == 1


async def test_rate_limits_are_retried_after_the_providers_delay(
    payments: PaymentActivities, sandbox: str
) -> None:
    async with httpx.AsyncClient() as http:
        await http.post(f"{sandbox}/_sandbox/faults", json={"rate_limit_rate": 1.0})
    with pytest.raises(ApplicationError) as err:
        await run(payments.create_escrow_intent, intent_request(str(uuid.uuid4())))
    assert err.value.type == "ProviderRateLimited" and not err.value.non_retryable
    assert err.value.next_retry_delay == timedelta(seconds=1)


async def test_onboarding_links_are_fresh_each_time(
    payments: PaymentActivities, sandbox: str
) -> None:
    account = await ready_account(payments, sandbox)
    request = OnboardingLinkRequest(
        account_id=account, return_url="http://x/done", refresh_url="http://x/again"
    )
    one, two = (
        await run(payments.create_onboarding_link, request),
        await run(payments.create_onboarding_link, request),
    )
    assert one.url != two.url and one.url.startswith(sandbox)
