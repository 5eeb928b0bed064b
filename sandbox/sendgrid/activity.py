"""Email Activity: one record per recipient's copy, as `GET /v3/messages` shows it.

Records are written in the same transaction as the Mail Send that created them and updated by
every event, so (unlike real SendGrid, whose feed lags by seconds to minutes) a message is
searchable the moment its send was accepted — including when the sandbox then "lost" the
response (`drop_response_after_commit`), which is how the app finds out that a send it believes
failed went out after all.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from ..store import JSON, ObjectStore
from .events import OUTBOUND_IP

MESSAGE = "message"  # one recipient's copy, keyed by its msg_id
SEND = "send"  # one accepted Mail Send request, keyed by its X-Message-Id
OUTBOUND_IP_TYPE = "shared"
ORIGINATING_IP = "127.0.0.1"  # the sandbox's callers are local

_SUMMARY_FIELDS = (
    "from_email",
    "msg_id",
    "subject",
    "to_email",
    "status",
    "opens_count",
    "clicks_count",
    "last_event_time",
)


class Activity:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def add(self, record: JSON) -> JSON:
        return self.store.insert(MESSAGE, record)

    def save(self, record: JSON) -> JSON:
        return self.store.save(MESSAGE, record)

    def get(self, msg_id: str) -> JSON | None:
        return self.store.get(MESSAGE, msg_id)

    def search(self, matches: Callable[[JSON], bool], limit: int) -> list[JSON]:
        """Newest first, like the Activity feed."""
        found = [m for m in reversed(self.store.all(MESSAGE)) if matches(m)]
        return found[:limit]

    def save_send(self, send: JSON) -> JSON:
        return self.store.insert(SEND, send)

    def send(self, x_message_id: str) -> JSON | None:
        return self.store.get(SEND, x_message_id)


def summary(record: JSON) -> JSON:
    """An entry of `GET /v3/messages`."""
    return {name: record[name] for name in _SUMMARY_FIELDS}


def detail(record: JSON) -> JSON:
    """`GET /v3/messages/{msg_id}`: the summary plus the message's events and metadata."""
    return {
        "from_email": record["from_email"],
        "msg_id": record["msg_id"],
        "subject": record["subject"],
        "to_email": record["to_email"],
        "status": record["status"],
        "template_id": record.get("template_id") or "",
        "asm_group_id": record.get("asm_group_id"),
        "teammate": "",
        "api_key_id": record["api_key_id"],
        "events": list(record["events"]),
        "originating_ip": ORIGINATING_IP,
        "categories": list(record.get("categories") or []),
        # SendGrid returns the custom arguments as a JSON string, not an object.
        "unique_args": json.dumps(record.get("custom_args") or {}),
        "outbound_ip": OUTBOUND_IP,
        "outbound_ip_type": OUTBOUND_IP_TYPE,
    }


def control_view(record: JSON) -> JSON:
    """Everything the sandbox knows about a copy (for `/_sandbox/sendgrid/messages`)."""
    return {k: v for k, v in record.items() if not k.startswith("_") and k != "id"}
