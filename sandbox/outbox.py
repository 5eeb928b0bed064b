"""What the sandboxes "delivered": every email (SendGrid) and text message (Twilio Messages and
Verify), kept so a developer or a test can read it back — e.g. the code a verification sent.

    GET /_sandbox/outbox?to=wes@example.com        newest first
    GET /_sandbox/outbox?to=%2B15551234567&channel=sms

Nothing leaves the machine: this list *is* the delivery.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Literal

from .store import JSON, Database, ObjectStore

Channel = Literal["email", "sms"]
MESSAGE = "message"
_ids = itertools.count(1)


def address_key(address: str) -> str:
    """How an address is compared: emails case-insensitively, phone numbers by their digits
    (so `+1 555 123 4567`, `15551234567` and `+15551234567` are one number, and a `+` that a
    shell turned into a space in `?to=+1555…` still matches)."""
    address = address.strip()
    if "@" in address:
        return address.lower()
    return re.sub(r"\D", "", address)


class Outbox:
    def __init__(self, db: Database) -> None:
        self.store = ObjectStore(db, "outbox")

    def record(
        self,
        *,
        provider: str,
        channel: Channel,
        to: str,
        sender: str,
        body: str,
        provider_message_id: str,
        subject: str | None = None,
        code: str | None = None,
        details: JSON | None = None,
    ) -> JSON:
        created = time.time()
        message: JSON = {
            "id": f"out_{int(created * 1000)}_{next(_ids)}",
            "provider": provider,
            "channel": channel,
            "to": to,
            "from": sender,
            "subject": subject,
            "body": body,
            "code": code,
            "provider_message_id": provider_message_id,
            "created": created,
            "details": details or {},
        }
        return self.store.insert(MESSAGE, message)

    def messages(
        self, *, to: str | None = None, channel: Channel | None = None, limit: int = 50
    ) -> list[JSON]:
        wanted = address_key(to) if to else None
        found = [
            m
            for m in reversed(self.store.all(MESSAGE))
            if (wanted is None or address_key(m["to"]) == wanted)
            and (channel is None or m["channel"] == channel)
        ]
        return found[:limit]

    def clear(self) -> None:
        self.store.clear()
