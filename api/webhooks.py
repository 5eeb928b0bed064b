"""Provider webhooks: verify the signature with the SDK's helper, record the event id once,
then hand the news to the workflow it concerns as a signal.

Workflow signal handlers are idempotent and order-tolerant, so duplicates, out-of-order
delivery and a webhook that beats the API call that caused it all end in the same state.
An event is only marked processed after its signal was delivered; until then a redelivery
(Stripe retries non-2xx answers) processes it again.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
import stripe
from fastapi import APIRouter, Header, Request
from prometheus_client import Counter
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.deps import EngineDep, SettingsDep, TemporalDep
from api.errors import TempworkError
from models.contracts import ChargebackClosed, ChargebackOpened, EscrowPaymentSucceeded
from models.payouts import AccountUpdated
from models.tables import LEDGER_TRANSACTIONS, PAYOUT_ACCOUNTS, WEBHOOK_EVENTS

log = logging.getLogger("tempwork.webhooks")
router = APIRouter(prefix="/webhooks", tags=["webhooks"], include_in_schema=True)

WEBHOOK_EVENTS_TOTAL = Counter(
    "tempwork_webhook_events_total", "Webhook events received", ["provider", "type", "outcome"]
)


@router.post("/stripe")
async def stripe_webhook(
    request: Request,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    stripe_signature: str = Header(default=""),
) -> dict[str, Any]:
    payload = await request.body()
    try:
        event = stripe.Webhook.construct_event(
            payload, stripe_signature, settings.stripe_webhook_secret.get_secret_value()
        )
    except (ValueError, stripe.SignatureVerificationError):
        WEBHOOK_EVENTS_TOTAL.labels("stripe", "unknown", "bad_signature").inc()
        raise TempworkError("bad-signature") from None

    if not await _first_time(engine, "stripe", event.id, event.type, event.to_dict()):
        WEBHOOK_EVENTS_TOTAL.labels("stripe", event.type, "duplicate").inc()
        return {"received": True, "duplicate": True}
    try:
        handled = await _dispatch(event, engine, temporal, request.app.state.stripe)
    except RPCError as err:
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise TempworkError("temporal-unavailable") from None
        raise
    except stripe.StripeError:  # could not look the charge up: let the provider redeliver
        raise TempworkError("provider-unavailable") from None
    await _mark_processed(engine, "stripe", event.id)
    WEBHOOK_EVENTS_TOTAL.labels("stripe", event.type, "handled" if handled else "ignored").inc()
    return {"received": True, "handled": handled}


async def _first_time(
    engine: AsyncEngine, provider: str, event_id: str, type_: str, payload: Any
) -> bool:
    """Records the event; False if it was already processed (a duplicate delivery)."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(WEBHOOK_EVENTS)
            .values(provider=provider, event_id=event_id, type=type_, payload=payload)
            .on_conflict_do_nothing()
        )
        processed = (
            await conn.execute(
                sa.select(WEBHOOK_EVENTS.c.processed_at).where(
                    WEBHOOK_EVENTS.c.provider == provider, WEBHOOK_EVENTS.c.event_id == event_id
                )
            )
        ).scalar()
    return processed is None


async def _mark_processed(engine: AsyncEngine, provider: str, event_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(WEBHOOK_EVENTS)
            .where(WEBHOOK_EVENTS.c.provider == provider, WEBHOOK_EVENTS.c.event_id == event_id)
            .values(processed_at=sa.func.now())
        )


async def _signal(temporal: Client, workflow_id: str, signal: str, arg: Any) -> bool:
    try:
        await temporal.get_workflow_handle(workflow_id).signal(signal, arg)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:  # finished or never ours: nothing to tell
            log.info("webhook for %s ignored: workflow not running", workflow_id)
            return False
        raise
    return True


async def _dispatch(
    event: stripe.Event, engine: AsyncEngine, temporal: Client, stripe_client: stripe.StripeClient
) -> bool:
    obj: dict[str, Any] = event.to_dict()["data"]["object"]  # plain data, not an SDK resource
    metadata = dict(obj.get("metadata") or {})
    if event.type == "account.updated":
        user_id = metadata.get("user_id") or await _account_owner(engine, obj["id"])
        if not user_id:
            return False
        update = AccountUpdated(
            account_id=obj["id"],
            payouts_enabled=bool(obj.get("payouts_enabled")),
            details_submitted=bool(obj.get("details_submitted")),
            event_created=event.created,
        )
        return await _signal(temporal, f"payout-account-{user_id}", "account_updated", update)
    if event.type == "payment_intent.succeeded" and metadata.get("contract_id"):
        return await _signal(
            temporal,
            f"contract-{metadata['contract_id']}",
            "escrow_payment_succeeded",
            EscrowPaymentSucceeded(payment_intent_id=obj["id"]),
        )
    if event.type in ("charge.dispute.created", "charge.dispute.closed"):
        contract_id = await _contract_for_intent(engine, stripe_client, obj.get("payment_intent"))
        if contract_id is None:
            return False
        workflow_id = f"contract-{contract_id}"
        if event.type == "charge.dispute.created":
            opened = ChargebackOpened(
                charge_id=obj["charge"], dispute_id=obj["id"], amount_cents=obj["amount"]
            )
            return await _signal(temporal, workflow_id, "chargeback_opened", opened)
        if obj.get("status") in ("won", "lost"):
            closed = ChargebackClosed(
                charge_id=obj["charge"], dispute_id=obj["id"], won=obj["status"] == "won"
            )
            return await _signal(temporal, workflow_id, "chargeback_closed", closed)
    return False


async def _account_owner(engine: AsyncEngine, account_id: str) -> str | None:
    async with engine.connect() as conn:
        owner = (
            await conn.execute(
                sa.select(PAYOUT_ACCOUNTS.c.user_id).where(
                    PAYOUT_ACCOUNTS.c.stripe_account_id == account_id
                )
            )
        ).scalar()
    return str(owner) if owner else None


async def _contract_for_intent(
    engine: AsyncEngine, stripe_client: stripe.StripeClient, payment_intent_id: str | None
) -> str | None:
    """The contract a charge belongs to: from the funding entry in our ledger, or (if the
    webhook beat the ledger write) from the PaymentIntent's metadata at Stripe."""
    if not payment_intent_id:
        return None
    async with engine.connect() as conn:
        found = (
            await conn.execute(
                sa.select(LEDGER_TRANSACTIONS.c.contract_id).where(
                    LEDGER_TRANSACTIONS.c.provider_object_id == payment_intent_id
                )
            )
        ).scalar()
    if found is not None:
        return str(found)
    intent = await stripe_client.v1.payment_intents.retrieve_async(payment_intent_id)
    return dict(intent.to_dict().get("metadata") or {}).get("contract_id")
