"""Search cursors: the sort key of the last row shown, bound to the search it came from.

A cursor carries ``[key, id]`` of the page's last row, its sort order and a fingerprint of the
query. Keys are exact (integers, timestamps, the float PostgreSQL computed), so "rows after
this one" is a keyset condition that never skips or repeats a row, whatever is inserted
meanwhile. A cursor handed to a different search (other words, filters or sort) is refused
instead of silently paging through something else.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from pydantic import BaseModel


class InvalidCursor(ValueError):
    """The cursor is malformed or belongs to another search (the API answers 422)."""


def fingerprint(query: BaseModel) -> str:
    """What identifies a search, ignoring where in it we are and how much a page holds."""
    fields = query.model_dump(mode="json", exclude={"cursor", "limit"})
    raw = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def encode(query: BaseModel, key: Any, row_id: Any) -> str:
    raw = json.dumps({"f": fingerprint(query), "k": [key, str(row_id)]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(query: BaseModel, cursor: str) -> tuple[Any, str]:
    """``(key, id)`` of the row the previous page ended on; 422 if it isn't this search's."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded))
        key, row_id = payload["k"]
        matches = payload["f"] == fingerprint(query)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidCursor("the cursor is not valid") from exc
    if not matches:
        raise InvalidCursor(
            "the cursor belongs to a different search (words, filters or sort changed): "
            "start again without it",
        )
    return key, str(row_id)
