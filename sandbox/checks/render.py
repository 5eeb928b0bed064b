"""Objects as clients see them: compact JSON, without sandbox-only `_` keys.

Compact (no spaces) because Checkr signs the compact JSON of a webhook (`jq -c`), and one
rendering for both keeps what the app verifies identical to what it parses.
"""

from __future__ import annotations

import json
from typing import Any


def public(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [public(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(public(value), separators=(",", ":"), ensure_ascii=False)
