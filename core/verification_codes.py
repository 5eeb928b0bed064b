"""Email verification codes without the code ever entering workflow history.

The code of send *n* is derived from a secret and the workflow id, so a retried send
re-sends the *same* code (never two different valid codes from one request), and the
workflow stores only a keyed digest. The API digests what a person types with the same
key; the workflow compares digests. Support reading a history sees neither code.
"""

from __future__ import annotations

import hashlib
import hmac
from uuid import UUID

CODE_DIGITS = 6


def email_code(secret: str, workflow_id: str, send_number: int) -> str:
    mac = hmac.new(secret.encode(), f"{workflow_id}:email-code:{send_number}".encode(), "sha256")
    return str(int.from_bytes(mac.digest()[:8], "big") % 10**CODE_DIGITS).zfill(CODE_DIGITS)


def code_digest(secret: str, user_id: UUID, code: str) -> str:
    return hmac.new(
        secret.encode(), f"email-code-digest:{user_id}:{code.strip()}".encode(), hashlib.sha256
    ).hexdigest()
