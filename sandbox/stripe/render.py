"""JSON the way Stripe writes it: `id` and `object` first, other keys sorted, 2-space indent.

Keys starting with `_` hold sandbox-only bookkeeping (e.g. which test card a PaymentMethod
stands for) and are never shown to clients.
"""

from __future__ import annotations

import json
from typing import Any

_FIRST = ("id", "object")


def public(value: Any) -> Any:
    """A deep copy without sandbox-only keys, ordered like Stripe's responses."""
    if isinstance(value, dict):
        keys = [k for k in _FIRST if k in value]
        keys += sorted(k for k in value if k not in _FIRST and not k.startswith("_"))
        return {k: public(value[k]) for k in keys}
    if isinstance(value, list):
        return [public(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(public(value), indent=2, ensure_ascii=False)
