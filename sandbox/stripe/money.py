"""Amounts in minor units, and how Stripe writes them in error messages."""

from __future__ import annotations

from .errors import invalid_request

# https://docs.stripe.com/currencies#zero-decimal
ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)

# https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts (the common ones)
MINIMUM_CHARGE = {
    "usd": 50,
    "eur": 50,
    "gbp": 30,
    "cad": 50,
    "aud": 50,
    "nzd": 50,
    "chf": 50,
    "sgd": 50,
    "dkk": 250,
    "nok": 300,
    "sek": 300,
    "pln": 200,
    "czk": 1500,
    "huf": 17500,
    "hkd": 400,
    "mxn": 1000,
    "jpy": 50,
    "brl": 50,
    "inr": 50,
}

_SYMBOLS = {
    "usd": "$",
    "cad": "$",
    "aud": "$",
    "nzd": "$",
    "sgd": "$",
    "hkd": "$",
    "mxn": "$",
    "eur": "€",
    "gbp": "£",
    "jpy": "¥",
    "inr": "₹",
}


def format_amount(amount: int, currency: str) -> str:
    """`$20.00`, `€7.00`, `¥500`, or `20.00 CHF` for currencies without a well-known sign."""
    value = str(amount) if currency in ZERO_DECIMAL else f"{amount / 100:.2f}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{value}" if symbol else f"{value} {currency.upper()}"


def check_minimum_charge(amount: int, currency: str) -> None:
    minimum = MINIMUM_CHARGE.get(currency)
    if minimum is not None and amount < minimum:
        raise invalid_request(
            f"Amount must be at least {format_amount(minimum, currency)} {currency}",
            param="amount",
            code="amount_too_small",
        )
