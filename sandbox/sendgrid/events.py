"""Event Webhook events, and the Email Activity view of the same happenings.

Each event is a flat JSON object as SendGrid posts it: `email`, `timestamp`, `event`,
`sg_event_id`, `sg_message_id`, `smtp-id` (delivery events), `category` (a string for one
category, a list for several), `asm_group_id` when the send named one, every custom argument as
a top-level key (never overriding SendGrid's own keys), and the event's own fields: `response`
(delivered, deferred), `attempt` (deferred, a string as SendGrid sends it), `reason`, `status`,
`type`, `bounce_classification` (bounce), `reason` (dropped), `useragent`/`ip` (open, click),
`url` (click).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..store import JSON
from .ids import event_id, smtp_id

OUTBOUND_IP = "149.72.0.1"  # stands in for the SendGrid IP that "delivered" the message
RECIPIENT_IP = "203.0.113.7"  # documentation range: the reader "opening" the message
USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (sandbox)"

DELIVERY_EVENTS = ("processed", "dropped", "deferred", "delivered", "bounce")
ENGAGEMENT_EVENTS = (
    "open",
    "click",
    "spamreport",
    "unsubscribe",
    "group_unsubscribe",
    "group_resubscribe",
)
EVENT_NAMES = DELIVERY_EVENTS + ENGAGEMENT_EVENTS

HARD_BOUNCE: JSON = {
    "type": "bounce",
    "status": "5.1.1",
    "reason": "550 5.1.1 The email account that you tried to reach does not exist. Please try "
    "double-checking the recipient's email address for typos or unnecessary spaces. (sandbox)",
    "bounce_classification": "Invalid Address",
}
BLOCKED: JSON = {
    "type": "blocked",
    "status": "5.7.1",
    "reason": "550 5.7.1 Message rejected by the receiving server's policy (sandbox block)",
    "bounce_classification": "Reputation",
}
_DEFAULTS: dict[str, JSON] = {
    "processed": {},
    "dropped": {"reason": "Invalid"},
    "deferred": {
        "response": "451 4.7.1 Please try again later (sandbox deferral)",
        "attempt": "1",
        "ip": OUTBOUND_IP,
        "tls": 1,
    },
    "delivered": {"response": "250 2.0.0 OK (sandbox)", "ip": OUTBOUND_IP, "tls": 1},
    "bounce": {**HARD_BOUNCE, "ip": OUTBOUND_IP, "tls": 1},
    "open": {"useragent": USER_AGENT, "ip": RECIPIENT_IP, "sg_machine_open": False},
    "click": {
        "useragent": USER_AGENT,
        "ip": RECIPIENT_IP,
        "url": "https://example.com/",
        "url_offset": {"index": 0, "type": "html"},
    },
    "spamreport": {},
    "unsubscribe": {},
    "group_unsubscribe": {"useragent": USER_AGENT, "ip": RECIPIENT_IP},
    "group_resubscribe": {"useragent": USER_AGENT, "ip": RECIPIENT_IP},
}
# Email Activity names events differently from the webhook.
_ACTIVITY_NAMES = {
    "processed": "processed",
    "dropped": "dropped",
    "deferred": "deferred",
    "delivered": "delivered",
    "bounce": "bounced",
    "open": "opened",
    "click": "clicked",
    "spamreport": "spam_report",
    "unsubscribe": "unsubscribe",
    "group_unsubscribe": "group_unsubscribe",
    "group_resubscribe": "group_resubscribe",
}


def event_fields(event: str, overrides: JSON | None = None) -> JSON:
    """The event's own fields: SendGrid-like defaults, then what the caller supplied. A bounce
    of type `blocked` starts from the block defaults."""
    fields = dict(_DEFAULTS[event])
    overrides = overrides or {}
    if event == "bounce" and overrides.get("type") == "blocked":
        fields.update(BLOCKED)
    fields.update(overrides)
    return fields


def webhook_event(message: JSON, event: str, fields: JSON, timestamp: int, sequence: int) -> JSON:
    body: JSON = {
        "email": message["to_email"],
        "timestamp": timestamp,
        "event": event,
        "sg_event_id": event_id(event, message["msg_id"], sequence),
        "sg_message_id": message["msg_id"],
    }
    if event in DELIVERY_EVENTS:
        body["smtp-id"] = smtp_id(message["x_message_id"])
    categories = message.get("categories") or []
    if categories:
        body["category"] = category_field(categories)
    if message.get("asm_group_id") is not None:
        body["asm_group_id"] = message["asm_group_id"]
    body.update(fields)
    for name, value in (message.get("custom_args") or {}).items():
        body.setdefault(name, value)  # SendGrid's own keys win over a clashing custom arg
    return body


def activity_event(event: str, fields: JSON, timestamp: int) -> JSON:
    """The entry `GET /v3/messages/{msg_id}` lists under `events`."""
    entry: JSON = {"event_name": _ACTIVITY_NAMES[event], "processed": iso_time(timestamp)}
    if event in ("dropped", "bounce", "deferred"):
        entry["reason"] = fields.get("reason") or fields.get("response")
    if event == "deferred":
        entry["attempt_num"] = int(fields.get("attempt") or 1)
    if event == "bounce":
        entry["bounce_type"] = "soft" if fields.get("type") == "blocked" else "hard"
    if event in ("delivered", "deferred", "bounce"):
        entry["mx_server"] = "mx.sandbox.invalid"
        entry["server_response"] = fields.get("response") or fields.get("reason")
    if event == "click":
        entry["url"] = fields.get("url")
    if event in ("open", "click"):
        entry["http_user_agent"] = fields.get("useragent")
    return entry


def status_after(current: str, event: str) -> str:
    """Email Activity's three statuses: processed, delivered, not_delivered."""
    if event == "delivered":
        return "delivered"
    if event in ("bounce", "dropped"):
        return "not_delivered"
    if event in ("open", "click") and current == "processed":
        return "delivered"  # an open proves it arrived, even if the delivery event was lost
    return current


def iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def category_field(categories: list[str]) -> Any:
    """SendGrid sends one category as a string and several as a list."""
    return categories[0] if len(categories) == 1 else list(categories)
