"""Stripe's webhooks: payments, Connect accounts, chargebacks and Identity sessions.

The signature is checked with the SDK's own ``stripe.Webhook.construct_event``; the event id
is recorded once (api/webhooks/events.py); the news goes to the workflow it concerns.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import stripe
from fastapi import APIRouter, Header, Request
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api.deps import EngineDep, SettingsDep, TemporalDep
from api.errors import TempworkError
from api.webhooks.events import bad_signature, counted, first_time, mark_processed, owner, signal
from core.db import autocommit
from models.contracts import ChargebackClosed, ChargebackOpened, EscrowPaymentSucceeded
from models.payouts import AccountUpdated
from models.tables import LEDGER_TRANSACTIONS, PAYOUT_ACCOUNTS, VERIFICATIONS
from models.verification import IdentitySessionUpdate

router = APIRouter()
IDENTITY_EVENT = "identity.verification_session."


@router.post("/stripe")
async def stripe_webhook(
    request: Request,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    stripe_signature: str = Header(default=""),
) -> dict[str, Any]:
    payload = await request.body()
    # A real signature header is ASCII; the SDK's hmac.compare_digest raises TypeError (a 500)
    # on any other string, so anything else is refused here as the forgery it is.
    if not stripe_signature.isascii():
        raise bad_signature("stripe")
    try:
        event = stripe.Webhook.construct_event(
            payload, stripe_signature, settings.stripe_webhook_secret.get_secret_value()
        )
    except (ValueError, stripe.SignatureVerificationError):
        raise bad_signature("stripe") from None

    if not await first_time(engine, "stripe", event.id, event.type, event.to_dict()):
        counted("stripe", event.type, "duplicate")
        return {"received": True}
    try:
        handled = await _dispatch(event, engine, temporal, request.app.state.stripe)
    except stripe.StripeError:  # could not look the charge up: let the provider redeliver
        raise TempworkError("provider-unavailable") from None
    await mark_processed(engine, "stripe", event.id)
    counted("stripe", event.type, "handled" if handled else "ignored")
    # The same answer whether or not the event concerned anyone we know.
    return {"received": True}


async def _dispatch(
    event: stripe.Event, engine: AsyncEngine, temporal: Client, stripe_client: stripe.StripeClient
) -> bool:
    obj: dict[str, Any] = event.to_dict()["data"]["object"]  # plain data, not an SDK resource
    metadata = dict(obj.get("metadata") or {})
    if event.type.startswith(IDENTITY_EVENT):
        return await _identity_event(event, obj, metadata, engine, temporal)
    if event.type == "account.updated":
        user_id = metadata.get("user_id") or await owner(
            engine, PAYOUT_ACCOUNTS.c.stripe_account_id, obj["id"]
        )
        if not user_id:
            return False
        update = AccountUpdated(
            account_id=obj["id"],
            payouts_enabled=bool(obj.get("payouts_enabled")),
            details_submitted=bool(obj.get("details_submitted")),
            event_created=event.created,
        )
        return await signal(temporal, f"payout-account-{user_id}", "account_updated", update)
    if event.type == "payment_intent.succeeded" and metadata.get("contract_id"):
        return await signal(
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
                charge_id=obj["charge"],
                dispute_id=obj["id"],
                amount_cents=obj["amount"],
                payment_intent_id=obj.get("payment_intent"),
            )
            return await signal(temporal, workflow_id, "chargeback_opened", opened)
        if obj.get("status") in ("won", "lost"):
            closed = ChargebackClosed(
                charge_id=obj["charge"],
                dispute_id=obj["id"],
                won=obj["status"] == "won",
                payment_intent_id=obj.get("payment_intent"),
            )
            return await signal(temporal, workflow_id, "chargeback_closed", closed)
    return False


async def _contract_for_intent(
    engine: AsyncEngine, stripe_client: stripe.StripeClient, payment_intent_id: str | None
) -> str | None:
    """The contract a charge belongs to: from the funding entry in our ledger, or (if the
    webhook beat the ledger write) from the PaymentIntent's metadata at Stripe."""
    if not payment_intent_id:
        return None
    async with autocommit(engine) as conn:
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


async def _identity_event(
    event: stripe.Event,
    obj: dict[str, Any],
    metadata: dict[str, Any],
    engine: AsyncEngine,
    temporal: Client,
) -> bool:
    status = event.type.removeprefix(IDENTITY_EVENT)
    if status not in ("processing", "verified", "requires_input", "canceled"):
        return False  # created, redacted: nothing for the workflow to do
    user_id = metadata.get("user_id") or await owner(
        engine, VERIFICATIONS.c.identity_session_id, obj["id"]
    )
    if not user_id:
        return False
    last_error = obj.get("last_error") or {}
    update = IdentitySessionUpdate.model_validate(
        {
            "session_id": obj["id"],
            "status": status,
            "last_error_code": last_error.get("code"),
            "last_error_reason": last_error.get("reason"),
            "event_created": event.created,
        }
    )
    return await signal(temporal, f"verification-{user_id}", "identity_session_updated", update)
