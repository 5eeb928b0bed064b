"""Ids and timestamps shaped like Checkr's: 24 hex characters, ISO 8601 in UTC with a `Z`."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime


def new_id() -> str:
    return secrets.token_hex(12)


def new_token() -> str:
    return secrets.token_hex(6)  # invitation links are short: apply.checkr.com/invite/<co>/<hex>


def stable_id(*parts: str) -> str:
    """The same id for the same parts (packages, adverse items), across restarts."""
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:24]


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()
