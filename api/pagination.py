"""Opaque keyset cursors: newest first, ties broken by id; stable under concurrent inserts."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Query

from api.errors import TempworkError
from models.text import Text

# A page's `next_cursor`, handed back as is.
Cursor = Annotated[
    Text | None,
    Query(max_length=512, description="`next_cursor` of the previous page, as it was given"),
]


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except (ValueError, TypeError) as exc:
        raise TempworkError("validation-error", "the cursor is not valid") from exc
