"""Identifiers shaped like SendGrid's.

One Mail Send request gets one `X-Message-Id` (22 URL-safe base64 characters). Each recipient's
copy then gets its own message id, the `X-Message-Id` plus a suffix naming the filter server
that handled it (`LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0`).
That long form is the `sg_message_id` of every event and the `msg_id` of Email Activity, so an
app that only kept the `X-Message-Id` has to search with `msg_id LIKE '<X-Message-Id>%'`, as
SendGrid's support articles advise.
"""

from __future__ import annotations

import base64
import secrets

# A made-up account number, as SendGrid puts its own into event ids.
ACCOUNT_ID = 24949621
_FILTER_HOST = "filterdrecv-sandbox-7f6d5c4b3a"


def new_x_message_id() -> str:
    return secrets.token_urlsafe(16)  # 16 bytes -> 22 characters, SendGrid's length


def recipient_message_id(
    x_message_id: str, created: float, personalization: int, position: int
) -> str:
    """The per-recipient `msg_id`: unique per (personalization, position in it)."""
    return f"{x_message_id}.{_FILTER_HOST}-{personalization}-{int(created):X}-0.{position}"


def smtp_id(x_message_id: str) -> str:
    return f"<{x_message_id}@ismtpd0001p1sandbox.sendgrid.net>"


def event_id(kind: str, msg_id: str, sequence: int) -> str:
    """`sg_event_id`: SendGrid's are unpadded URL-safe base64 of a readable key such as
    `delivered-0-24949621-<message id>-0`; `sequence` numbers the events of one message."""
    raw = f"{kind}-{sequence}-{ACCOUNT_ID}-{msg_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def new_delivery_id() -> str:
    return "sgwh_" + secrets.token_hex(12)
