"""Object ids shaped like Stripe's: a type prefix and 24 random alphanumerics."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_request_id() -> str:
    return new_id("req", 14)


def new_token() -> str:
    return secrets.token_urlsafe(18)
