"""SendGrid's suppression lists, and the drops they cause.

A hard bounce, a spam report or an unsubscribe puts the address on a list; every later send to
it is then `dropped` (never attempted) with SendGrid's reason, until the address is removed.
Blocks are listed too but, as at SendGrid, do not suppress later sends (a block is about the
receiving server's view of the sender, not the address). Addresses compare case-insensitively.
"""

from __future__ import annotations

import time
from typing import Literal

from ..store import JSON, ObjectStore

SUPPRESSION = "suppression"
ListName = Literal["bounces", "blocks", "spam_reports", "unsubscribes", "group_unsubscribes"]
LISTS: tuple[ListName, ...] = (
    "bounces",
    "blocks",
    "spam_reports",
    "unsubscribes",
    "group_unsubscribes",
)
DROP_REASONS: dict[ListName, str] = {
    "bounces": "Bounced Address",
    "spam_reports": "Spam Reporting Address",
    "unsubscribes": "Unsubscribed Address",
    "group_unsubscribes": "Unsubscribed Address",
}


def _key(list_name: ListName, email: str, group_id: int | None) -> str:
    suffix = f":{group_id}" if list_name == "group_unsubscribes" else ""
    return f"{list_name}:{email.lower()}{suffix}"


class Suppressions:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def add(
        self,
        list_name: ListName,
        email: str,
        *,
        reason: str | None = None,
        status: str | None = None,
        group_id: int | None = None,
    ) -> JSON:
        entry: JSON = {
            "id": _key(list_name, email, group_id),
            "list": list_name,
            "email": email,
            "created": int(time.time()),
            "reason": reason,
            "status": status,
            "group_id": group_id,
        }
        return self.store.save(SUPPRESSION, entry)

    def remove(self, list_name: ListName, email: str, group_id: int | None = None) -> bool:
        key = _key(list_name, email, group_id)
        if self.store.get(SUPPRESSION, key) is None:
            return False
        self.store.delete(SUPPRESSION, key)
        return True

    def drop_reason(self, email: str, group_id: int | None) -> str | None:
        """Why SendGrid would drop a send to `email` now, or None if it would try it."""
        for list_name in ("bounces", "spam_reports", "unsubscribes"):
            if self.store.get(SUPPRESSION, _key(list_name, email, None)) is not None:
                return DROP_REASONS[list_name]
        if group_id is not None and self.store.get(
            SUPPRESSION, _key("group_unsubscribes", email, group_id)
        ):
            return DROP_REASONS["group_unsubscribes"]
        return None

    def listing(self, email: str | None = None) -> dict[str, list[JSON]]:
        entries = self.store.all(SUPPRESSION)
        if email is not None:
            entries = [e for e in entries if e["email"].lower() == email.lower()]
        return {name: [e for e in entries if e["list"] == name] for name in LISTS}
