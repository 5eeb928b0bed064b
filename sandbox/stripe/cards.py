"""Stripe's test PaymentMethods (https://docs.stripe.com/testing#cards) and what they do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str
    message: str
    seller_message: str
    outcome_type: str = "issuer_declined"


@dataclass(frozen=True)
class CardBehaviour:
    brand: str
    last4: str
    funding: str = "credit"
    country: str = "US"
    decline: Decline | None = None
    disputed: bool = False


_GENERIC = Decline(
    "card_declined",
    "generic_decline",
    "Your card was declined.",
    "The bank did not return any further details with this decline.",
)
_INSUFFICIENT = Decline(
    "card_declined",
    "insufficient_funds",
    "Your card has insufficient funds.",
    "The bank returned the decline code `insufficient_funds`.",
)
_EXPIRED = Decline(
    "expired_card",
    "expired_card",
    "Your card has expired.",
    "The bank returned the decline code `expired_card`.",
)

TEST_CARDS: dict[str, CardBehaviour] = {
    "pm_card_visa": CardBehaviour("visa", "4242"),
    "pm_card_visa_debit": CardBehaviour("visa", "5556", funding="debit"),
    "pm_card_mastercard": CardBehaviour("mastercard", "4444"),
    "pm_card_amex": CardBehaviour("amex", "8431"),
    "pm_card_chargeDeclined": CardBehaviour("visa", "0002", decline=_GENERIC),
    "pm_card_chargeDeclinedInsufficientFunds": CardBehaviour("visa", "9995", decline=_INSUFFICIENT),
    "pm_card_chargeDeclinedExpiredCard": CardBehaviour("visa", "0069", decline=_EXPIRED),
    # Succeeds, then the cardholder disputes it as fraudulent (a chargeback).
    "pm_card_createDispute": CardBehaviour("visa", "0259", disputed=True),
}
