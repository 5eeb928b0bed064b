"""Money movements at Stripe (separate charges and transfers), through the official SDK.

Each activity makes exactly one kind of provider call with the idempotency key the workflow
derived from its id and step, so Temporal's retries (and a worker crash at any line) can never
charge, transfer or refund twice. Provider answers are classified once, in ``_provider_call``:
a 4xx means "this will never work" (non-retryable, with a type the workflow understands);
429/5xx/network errors are retried, honouring ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import stripe
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.settings import Settings
from models.errors import Rejection
from models.payments import (
    ConfirmPaymentRequest,
    ConnectedAccount,
    ConnectedAccountRequest,
    EscrowIntentRequest,
    FundingResult,
    OnboardingLinkRequest,
    OnboardingLinkResult,
    RefundRequest,
    RefundResult,
    TransferRequest,
    TransferResult,
)
from models.reconciliation import MovementKind, ProviderMovement, ProviderMovementsRequest

T = TypeVar("T")

# Stripe error codes that mean the destination cannot receive transfers (yet).
_ACCOUNT_NOT_READY_CODES = {"insufficient_capabilities_for_transfer", "account_invalid"}


def stripe_client(settings: Settings) -> stripe.StripeClient:
    """The one way the app builds its Stripe client: real Stripe unless a base URL is set."""
    base: dict[str, str] = {}
    if settings.stripe_api_base:
        base = {"api": settings.stripe_api_base, "connect": settings.stripe_api_base}
    return stripe.StripeClient(
        settings.stripe_api_key.get_secret_value(),
        base_addresses=base,  # type: ignore[arg-type]
        http_client=stripe.HTTPXClient(timeout=settings.stripe_timeout_seconds),
        max_network_retries=settings.stripe_max_network_retries,
    )


def _retry_after(err: stripe.StripeError) -> timedelta | None:
    value = (err.headers or {}).get("retry-after") or (err.headers or {}).get("Retry-After")
    try:
        return timedelta(seconds=float(value)) if value else None
    except ValueError:
        return None


def classify(err: stripe.StripeError) -> ApplicationError:
    """Turns a Stripe error into the ApplicationError the workflow acts on."""
    code = getattr(err, "code", None)
    if isinstance(err, stripe.CardError):
        return ApplicationError(
            err.user_message or "The card was declined.",
            {"code": code, "decline_code": getattr(err, "decline_code", None)},
            type=Rejection.CARD_DECLINED,
            non_retryable=True,
        )
    if isinstance(err, stripe.RateLimitError):
        return ApplicationError(
            "Stripe rate limit", type="ProviderRateLimited", next_retry_delay=_retry_after(err)
        )
    if isinstance(err, stripe.IdempotencyError):
        # Same key, different parameters: a programming error, retrying cannot help.
        return ApplicationError(
            str(err.user_message), type="IdempotencyConflict", non_retryable=True
        )
    if isinstance(err, stripe.InvalidRequestError) and code in _ACCOUNT_NOT_READY_CODES:
        return ApplicationError(
            str(err.user_message), {"code": code}, type="PayoutAccountNotReady", non_retryable=True
        )
    if isinstance(err, stripe.InvalidRequestError | stripe.PermissionError):
        return ApplicationError(
            str(err.user_message), {"code": code}, type="PaymentRejected", non_retryable=True
        )
    # APIError (5xx), APIConnectionError, AuthenticationError (a rotated key gets fixed by ops):
    # keep retrying under the activity's retry policy.
    return ApplicationError(f"Stripe unavailable: {type(err).__name__}", type="ProviderUnavailable")


@asynccontextmanager
async def _provider_call(what: str) -> AsyncIterator[None]:
    try:
        yield
    except stripe.StripeError as err:
        activity.logger.warning(
            "stripe call failed",
            extra={"what": what, "error": type(err).__name__, "code": getattr(err, "code", None)},
        )
        raise classify(err) from None


async def _call(what: str, call: Awaitable[T]) -> T:
    async with _provider_call(what):
        return await call


def _step_metadata(req: TransferRequest | RefundRequest) -> dict[str, str]:
    """Stamped on every money object: reconciliation and the >24 h duplicate check read it."""
    return {
        "contract_id": str(req.contract_id),
        "milestone": str(req.milestone),
        "step": req.idempotency_key,
    }


def _contract_of(group: str | None) -> UUID | None:
    """Our objects carry ``transfer_group = contract-<id>`` (or a bare contract id in metadata)."""
    if not group:
        return None
    try:
        return UUID(group.removeprefix("contract-"))
    except ValueError:
        return None


def _metadata(obj: stripe.StripeObject) -> dict[str, str]:
    return dict(obj.to_dict().get("metadata") or {})


def _funding_result(intent: stripe.PaymentIntent) -> FundingResult:
    charge = intent.latest_charge
    charge_id = charge if isinstance(charge, str) else charge.id if charge else None
    if not charge_id:
        raise ApplicationError("succeeded PaymentIntent without a charge", type="ProviderBug")
    return FundingResult(
        payment_intent_id=intent.id,
        charge_id=charge_id,
        amount_cents=intent.amount,
        currency=intent.currency,
    )


class PaymentActivities:
    def __init__(self, client: stripe.StripeClient) -> None:
        self._stripe = client

    @activity.defn(name="payments.create_escrow_intent")
    async def create_escrow_intent(self, req: EscrowIntentRequest) -> str:
        """One PaymentIntent per milestone: Stripe lets a PaymentIntent succeed at most once,
        so however many times the client retries funding, the milestone is charged once."""
        intent = await _call(
            "create_escrow_intent",
            self._stripe.v1.payment_intents.create_async(
                params={
                    "amount": req.amount_cents,
                    "currency": req.currency,
                    "allowed_payment_method_types": ["card"],
                    "transfer_group": req.transfer_group,
                    "description": req.description,
                    "metadata": {
                        "contract_id": str(req.contract_id),
                        "milestone": str(req.milestone),
                        "client_id": str(req.client_id),
                    },
                },
                options={"idempotency_key": req.idempotency_key},
            ),
        )
        return intent.id

    @activity.defn(name="payments.confirm_escrow_payment")
    async def confirm_escrow_payment(self, req: ConfirmPaymentRequest) -> FundingResult:
        intent = await _call(
            "retrieve_intent", self._stripe.v1.payment_intents.retrieve_async(req.payment_intent_id)
        )
        # An earlier attempt may have succeeded without us seeing the answer (timeout, crash):
        # then there is nothing to confirm, only the result to record.
        if intent.status != "succeeded":
            intent = await _call(
                "confirm_intent",
                self._stripe.v1.payment_intents.confirm_async(
                    req.payment_intent_id,
                    params={"payment_method": req.payment_method},
                    options={"idempotency_key": req.idempotency_key},
                ),
            )
        if intent.status != "succeeded":
            raise ApplicationError(
                f"payment did not complete (status {intent.status})",
                type=Rejection.PAYMENT_FAILED,
                non_retryable=True,
            )
        return _funding_result(intent)

    @activity.defn(name="payments.get_escrow_payment")
    async def get_escrow_payment(self, payment_intent_id: str) -> FundingResult | None:
        """The milestone's charge if its PaymentIntent has succeeded, else None."""
        intent = await _call(
            "retrieve_intent", self._stripe.v1.payment_intents.retrieve_async(payment_intent_id)
        )
        return _funding_result(intent) if intent.status == "succeeded" else None

    @activity.defn(name="payments.transfer_to_worker")
    async def transfer_to_worker(self, req: TransferRequest) -> TransferResult:
        # Stripe forgets idempotency keys after 24 h; a release retried later than that must
        # still not pay twice, so look for a transfer this step already made.
        async with _provider_call("list_transfers"):
            existing = await self._stripe.v1.transfers.list_async(
                params={"transfer_group": req.transfer_group, "limit": 100}
            )
            async for transfer in existing.auto_paging_iter():
                if _metadata(transfer).get("step") == req.idempotency_key:
                    return TransferResult(transfer_id=transfer.id, amount_cents=transfer.amount)
        transfer = await _call(
            "create_transfer",
            self._stripe.v1.transfers.create_async(
                params={
                    "amount": req.amount_cents,
                    "currency": req.currency,
                    "destination": req.destination_account,
                    "source_transaction": req.source_charge_id,
                    "transfer_group": req.transfer_group,
                    "metadata": _step_metadata(req),
                },
                options={"idempotency_key": req.idempotency_key},
            ),
        )
        return TransferResult(transfer_id=transfer.id, amount_cents=transfer.amount)

    @activity.defn(name="payments.refund_escrow")
    async def refund_escrow(self, req: RefundRequest) -> RefundResult:
        refund = await _call(
            "create_refund",
            self._stripe.v1.refunds.create_async(
                params={
                    "payment_intent": req.payment_intent_id,
                    "amount": req.amount_cents,
                    "metadata": _step_metadata(req),
                },
                options={"idempotency_key": req.idempotency_key},
            ),
        )
        return RefundResult(refund_id=refund.id, amount_cents=refund.amount)

    @activity.defn(name="payments.create_connected_account")
    async def create_connected_account(self, req: ConnectedAccountRequest) -> ConnectedAccount:
        account = await _call(
            "create_account",
            self._stripe.v1.accounts.create_async(
                params={
                    "type": "express",
                    "country": req.country,
                    "email": req.email,
                    "capabilities": {"transfers": {"requested": True}},
                    "metadata": {"user_id": str(req.user_id)},
                },
                options={"idempotency_key": req.idempotency_key},
            ),
        )
        return ConnectedAccount(
            account_id=account.id,
            payouts_enabled=bool(account.payouts_enabled),
            details_submitted=bool(account.details_submitted),
        )

    @activity.defn(name="payments.create_onboarding_link")
    async def create_onboarding_link(self, req: OnboardingLinkRequest) -> OnboardingLinkResult:
        # Account links are single-use and short-lived, so each request makes a fresh one
        # (no idempotency key: a second link is harmless, a stale one is useless).
        link = await _call(
            "create_account_link",
            self._stripe.v1.account_links.create_async(
                params={
                    "account": req.account_id,
                    "refresh_url": req.refresh_url,
                    "return_url": req.return_url,
                    "type": "account_onboarding",
                }
            ),
        )
        return OnboardingLinkResult(
            url=link.url, expires_at=datetime.fromtimestamp(link.expires_at, UTC)
        )

    @activity.defn(name="payments.provider_movements")
    async def provider_movements(self, req: ProviderMovementsRequest) -> list[ProviderMovement]:
        """Tempwork's charges, refunds, transfers and lost chargebacks at Stripe created in the
        window, plus the objects behind ``also_ids`` wherever they fall in time."""
        params: Any = {
            "created": {"gte": int(req.since.timestamp()), "lte": int(req.until.timestamp())},
            "limit": 100,
        }
        listed: list[tuple[MovementKind, Any]] = [
            (MovementKind.FUNDING, self._stripe.v1.charges),
            (MovementKind.REFUND, self._stripe.v1.refunds),
            (MovementKind.RELEASE, self._stripe.v1.transfers),
            (MovementKind.CHARGEBACK_LOST, self._stripe.v1.disputes),
        ]
        found: dict[str, ProviderMovement] = {}
        async with _provider_call("list_movements"):
            for kind, service in listed:
                page = await service.list_async(params=params)
                async for obj in page.auto_paging_iter():
                    activity.heartbeat()
                    movement = await self._movement(kind, obj.to_dict())
                    if movement:
                        found[movement.object_id] = movement
            for object_id in req.also_ids:
                if object_id not in found:
                    movement = await self._retrieve(object_id)
                    if movement:
                        found[object_id] = movement
        return list(found.values())

    async def _retrieve(self, object_id: str) -> ProviderMovement | None:
        services: dict[str, tuple[MovementKind, Any]] = {
            "pi_": (MovementKind.FUNDING, self._stripe.v1.payment_intents),
            "re_": (MovementKind.REFUND, self._stripe.v1.refunds),
            "tr_": (MovementKind.RELEASE, self._stripe.v1.transfers),
            "du_": (MovementKind.CHARGEBACK_LOST, self._stripe.v1.disputes),
        }
        kind, service = services.get(object_id[:3], (None, None))
        if service is None or kind is None:
            return None
        try:
            obj = await service.retrieve_async(object_id)
        except stripe.InvalidRequestError as err:
            if err.code == "resource_missing":
                return None
            raise
        return await self._movement(kind, obj.to_dict())

    async def _movement(self, kind: MovementKind, obj: dict[str, Any]) -> ProviderMovement | None:
        """Normalises a Stripe object; None for what is not a settled Tempwork movement."""
        created = datetime.fromtimestamp(obj["created"], UTC)
        if obj.get("object") == "payment_intent":
            if obj.get("status") != "succeeded":
                return None
            group, amount, object_id = (
                obj.get("transfer_group"),
                obj.get("amount_received") or obj["amount"],
                obj["id"],
            )
        elif obj.get("object") == "charge":
            if obj.get("status") != "succeeded" or not obj.get("payment_intent"):
                return None
            group, amount, object_id = (
                obj.get("transfer_group"),
                obj["amount"],
                obj["payment_intent"],
            )
        elif obj.get("object") == "dispute":
            if obj.get("status") != "lost":
                return None
            intent = await self._stripe.v1.payment_intents.retrieve_async(obj["payment_intent"])
            group, amount, object_id = intent.transfer_group, obj["amount"], obj["id"]
        else:  # refund, transfer
            if obj.get("status") not in (None, "succeeded"):
                return None
            group = obj.get("transfer_group") or (obj.get("metadata") or {}).get("contract_id")
            amount, object_id = obj["amount"], obj["id"]
        contract = _contract_of(group)
        if contract is None:
            return None  # not ours (another integration on the same Stripe account)
        return ProviderMovement(
            object_id=object_id,
            kind=kind,
            amount_cents=amount,
            currency=obj["currency"],
            contract_id=contract,
            created=created,
        )

    def all(self) -> list[Any]:
        return [
            self.create_escrow_intent,
            self.confirm_escrow_payment,
            self.get_escrow_payment,
            self.transfer_to_worker,
            self.refund_escrow,
            self.create_connected_account,
            self.create_onboarding_link,
            self.provider_movements,
        ]
