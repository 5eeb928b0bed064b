"""`expand[]=latest_charge` and friends: replace an id with the object it names.

Any field holding the id of an object the sandbox knows can be expanded, including nested paths
(`latest_charge.balance_transaction`) and list items (`data.latest_charge`), as Stripe allows.
"""

from __future__ import annotations

import copy
from typing import Any

from ..store import JSON
from .context import Ctx
from .errors import invalid_request
from .render import public

MAX_DEPTH = 4


def expand(ctx: Ctx, obj: JSON, paths: list[str]) -> JSON:
    if not paths:
        return obj
    result = copy.deepcopy(public(obj))
    for path in paths:
        parts = path.split(".")
        if len(parts) > MAX_DEPTH:
            raise invalid_request(
                f"You cannot expand more than {MAX_DEPTH} levels of a property. Property: {path}",
                param="expand",
            )
        _expand_into(ctx, result, parts, path)
    return result


def _expand_into(ctx: Ctx, node: Any, parts: list[str], path: str) -> None:
    if isinstance(node, list):
        for item in node:
            _expand_into(ctx, item, parts, path)
        return
    if not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    value = node.get(head)
    if isinstance(value, str):
        found = ctx.store.find(value)
        if found is None:
            raise invalid_request(f"This property cannot be expanded ({path}).", param="expand")
        value = node[head] = copy.deepcopy(public(found[1]))
    elif head not in node:
        raise invalid_request(f"This property cannot be expanded ({path}).", param="expand")
    if rest and value is not None:
        _expand_into(ctx, value, rest, path)
