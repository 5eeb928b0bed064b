"""Money arithmetic: integer minor units only, never floats."""

BASIS_POINTS = 10_000
# The largest amount anything may name ($100M): far below bigint, so no sum overflows.
MAX_CENTS = 100_000_000_00


def platform_fee_cents(amount_cents: int, fee_bps: int) -> int:
    """The platform's cut of a release, rounded half up to the cent.

    ``(a * bps + 5000) // 10000`` is exact integer rounding; a float ``round`` would use
    banker's rounding and drift on large amounts.
    """
    if amount_cents < 0 or not 0 <= fee_bps <= BASIS_POINTS:
        raise ValueError("amount must be >= 0 and fee within 0..10000 bps")
    return (amount_cents * fee_bps + BASIS_POINTS // 2) // BASIS_POINTS


def format_cents(amount_cents: int, currency: str) -> str:
    """Human-readable amount for workflow details and notifications: ``$12.50 USD``."""
    sign = "-" if amount_cents < 0 else ""
    whole, cents = divmod(abs(amount_cents), 100)
    return f"{sign}{whole:,}.{cents:02d} {currency.upper()}"
