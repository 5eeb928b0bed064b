"""Stripe's idempotency keys, the base of the app's exactly-once money movements.

The bookkeeping is shared with the other sandboxes (`sandbox.idempotency`); what is Stripe's
own is how a refusal reads: `idempotency_error` for a reused key with other parameters, 409
`idempotency_key_in_use` while the first request still runs.
"""

from __future__ import annotations

from ..idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyKeys,
    IdempotencyRecord,
    fingerprint,
    scope_for,
)
from ..store import ObjectStore
from .errors import StripeError, invalid_request

__all__ = [
    "IdempotencyRecord",
    "fingerprint",
    "mismatch_error",
    "scope_for",
    "stripe_idempotency_keys",
]


def _key_too_long(_: str) -> StripeError:
    return invalid_request(
        f"Invalid idempotency key: keys can be up to {MAX_KEY_LENGTH} characters long."
    )


def _key_in_use(key: str) -> StripeError:
    return StripeError(
        409,
        "invalid_request_error",
        "There is currently another in-progress request using this Idempotent Key "
        "(that probably means you submitted twice, and the other request is still going "
        f"through): {key}. Please try again later.",
        code="idempotency_key_in_use",
        # The SDK retries 409s on its own when it has retries left; say so explicitly.
        headers={"Stripe-Should-Retry": "true"},
    )


def stripe_idempotency_keys(store: ObjectStore) -> IdempotencyKeys:
    return IdempotencyKeys(store, key_too_long=_key_too_long, key_in_use=_key_in_use)


def mismatch_error(key: str) -> StripeError:
    return StripeError(
        400,
        "idempotency_error",
        "Keys for idempotent requests can only be used with the same parameters they were "
        f"first used with. Try using a key other than '{key}' if you meant to execute a "
        "different request.",
    )
