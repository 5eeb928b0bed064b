"""Refunds, worker onboarding and transfers: escrow going back to the client or to the worker."""

from __future__ import annotations

import httpx
import pytest
import stripe

from .conftest import WebhookReceiver
from .helpers import express_account, objects, onboarded_account, pay

RETURN_URL = "https://tempwork.test/payout-account/done"
REFRESH_URL = "https://tempwork.test/payout-account/refresh"


async def test_partial_then_full_refund_then_nothing_left(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    intent = await pay(client, 10_000)

    partial = await client.v1.refunds.create_async(
        params={"payment_intent": intent.id, "amount": 3000, "reason": "requested_by_customer"}
    )
    assert partial.id.startswith("re_") and partial.status == "succeeded"
    assert (partial.amount, partial.charge) == (3000, intent.latest_charge)

    with pytest.raises(stripe.InvalidRequestError) as over:
        await client.v1.refunds.create_async(params={"payment_intent": intent.id, "amount": 8000})
    assert over.value.param == "amount" and over.value.code is None
    assert over.value.user_message == (
        "Refund amount ($80.00) is greater than unrefunded amount on charge ($70.00)"
    )

    rest = await client.v1.refunds.create_async(params={"charge": str(intent.latest_charge)})
    assert rest.amount == 7000  # defaults to what is left
    charge = await client.v1.charges.retrieve_async(str(intent.latest_charge))
    assert (charge.amount_refunded, charge.refunded) == (10_000, True)

    with pytest.raises(stripe.InvalidRequestError) as done:
        await client.v1.refunds.create_async(params={"payment_intent": intent.id, "amount": 1})
    assert done.value.code == "charge_already_refunded"

    refunds = await client.v1.refunds.list_async(params={"payment_intent": intent.id})
    assert [r.id for r in refunds.data] == [rest.id, partial.id]  # newest first
    await receiver.wait_for("refund.created", count=2)
    await receiver.wait_for("charge.refunded", lambda e: e.data.object.refunded is True)


async def test_transfer_to_an_account_without_transfers_capability_is_refused(
    client: stripe.StripeClient,
) -> None:
    intent = await pay(client, 5000)
    account = await express_account(client)
    assert account.id.startswith("acct_")
    assert (account.charges_enabled, account.payouts_enabled, account.details_submitted) == (
        False,
        False,
        False,
    )
    assert account.capabilities is not None and account.capabilities.transfers == "inactive"
    assert account.requirements is not None and account.requirements.currently_due

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.transfers.create_async(
            params={
                "amount": 4000,
                "currency": "usd",
                "destination": account.id,
                "source_transaction": str(intent.latest_charge),
            }
        )
    assert caught.value.http_status == 400
    assert caught.value.code == "insufficient_capabilities_for_transfer"

    with pytest.raises(stripe.InvalidRequestError) as missing:
        await client.v1.transfers.create_async(
            params={"amount": 4000, "currency": "usd", "destination": "acct_nobody"}
        )
    assert missing.value.code == "resource_missing" and missing.value.param == "destination"


async def test_onboarding_through_the_account_link_page(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    account = await express_account(client, metadata={"user_id": "u-42"})
    link = await client.v1.account_links.create_async(
        params={
            "account": account.id,
            "refresh_url": REFRESH_URL,
            "return_url": RETURN_URL,
            "type": "account_onboarding",
        }
    )
    assert link.object == "account_link"
    assert link.expires_at == link.created + 300
    async with httpx.AsyncClient() as browser:
        page = await browser.get(link.url)
        assert page.status_code == 200 and "Complete onboarding" in page.text
        submitted = await browser.post(link.url)
        assert submitted.status_code == 303
        assert submitted.headers["location"] == RETURN_URL
        # Account links are single-use: coming back sends the worker to refresh_url.
        reused = await browser.get(link.url, params={"complete": "1"})
        assert reused.status_code == 303 and reused.headers["location"] == REFRESH_URL

    [event] = await receiver.wait_for("account.updated", lambda e: e.data.object.id == account.id)
    assert event.account == account.id
    assert event.data.object.payouts_enabled is True
    assert event.data.object.capabilities.transfers == "active"
    assert event.data.previous_attributes is not None
    assert event.data.previous_attributes["payouts_enabled"] is False
    refreshed = await client.v1.accounts.retrieve_async(account.id)
    assert (refreshed.details_submitted, refreshed.charges_enabled) == (True, True)
    assert refreshed.requirements is not None and refreshed.requirements.currently_due == []
    assert refreshed.metadata is not None and refreshed.metadata.to_dict() == {"user_id": "u-42"}


async def test_an_expired_account_link_sends_the_worker_to_refresh_url(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> None:
    account = await express_account(client)
    link = await client.v1.account_links.create_async(
        params={
            "account": account.id,
            "refresh_url": REFRESH_URL,
            "return_url": RETURN_URL,
            "type": "account_onboarding",
        }
    )
    token = link.url.rsplit("/", 1)[1]
    # Rather than waiting out the five minutes.
    (await control.post(f"/_sandbox/stripe/account_links/{token}/expire")).raise_for_status()
    async with httpx.AsyncClient() as browser:
        page = await browser.get(link.url)
        assert page.status_code == 200 and "expired" in page.text
        assert REFRESH_URL in page.text
        submitted = await browser.post(link.url)
    assert submitted.status_code == 303 and submitted.headers["location"] == REFRESH_URL
    still = await client.v1.accounts.retrieve_async(account.id)
    assert still.payouts_enabled is False


async def test_release_with_source_transaction_and_no_over_transfer(
    client: stripe.StripeClient, control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    intent = await pay(client, 10_000, transfer_group="contract-9")
    charge_id = str(intent.latest_charge)
    worker = await onboarded_account(client, control)

    release = await client.v1.transfers.create_async(
        params={
            "amount": 9000,
            "currency": "usd",
            "destination": worker.id,
            "source_transaction": charge_id,
            "transfer_group": "contract-9",
            "metadata": {"milestone": "1"},
        },
        options={"idempotency_key": "contract-9:m1:release"},
    )
    assert release.id.startswith("tr_")
    assert (release.amount, release.amount_reversed, release.reversed) == (9000, 0, False)
    assert (release.destination, release.source_transaction) == (worker.id, charge_id)
    assert release.transfer_group == "contract-9"
    await receiver.wait_for("transfer.created", lambda e: e.data.object.id == release.id)

    await client.v1.refunds.create_async(params={"charge": charge_id, "amount": 500})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.transfers.create_async(
            params={
                "amount": 1000,
                "currency": "usd",
                "destination": worker.id,
                "source_transaction": charge_id,
            }
        )
    assert caught.value.param == "amount"
    assert "$5.00" in str(caught.value.user_message)  # 10 000 - 9 000 - 500 left
    with pytest.raises(stripe.InvalidRequestError, match="currency"):
        await client.v1.transfers.create_async(
            params={
                "amount": 100,
                "currency": "eur",
                "destination": worker.id,
                "source_transaction": charge_id,
            }
        )
    last = await client.v1.transfers.create_async(
        params={
            "amount": 500,
            "currency": "usd",
            "destination": worker.id,
            "source_transaction": charge_id,
        }
    )
    listed = await client.v1.transfers.list_async(params={"transfer_group": "contract-9"})
    assert {t.id for t in listed.data} == {release.id, last.id}  # inherited the charge's group
    assert len(await objects(control, "transfer")) == 2
