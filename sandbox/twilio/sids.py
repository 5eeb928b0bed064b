"""Twilio SIDs: a two-letter type prefix and 32 lowercase hex digits (`SM…`, `VE…`, `VL…`)."""

from __future__ import annotations

import re
import secrets

MESSAGE = "SM"
VERIFICATION = "VE"
VERIFICATION_ATTEMPT = "VL"
REQUEST = "RQ"
MESSAGING_SERVICE = "MG"


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def is_sid(value: str, prefix: str) -> bool:
    return re.fullmatch(rf"{prefix}[0-9a-fA-F]{{32}}", value) is not None
