"""Stripe's list endpoints: newest first, `limit`, cursors and `created` ranges.

Pages are cut by insertion order, so objects created in the same second still page
deterministically and `auto_paging_iter` in the SDK walks every object exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..store import JSON
from .context import Ctx
from .errors import invalid_request, resource_missing
from .expand import expand

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
LIST_PARAMS = ("limit", "starting_after", "ending_before", "created")


def list_response(
    ctx: Ctx, url: str, kind: str, *, filters: dict[str, Callable[[JSON, str], bool]] | None = None
) -> JSON:
    """List `kind` with `filters` mapping a parameter name to a predicate on (object, value)."""
    params = ctx.params
    filters = filters or {}
    params.only(*LIST_PARAMS, *filters)
    limit = params.integer("limit", default=DEFAULT_LIMIT, minimum=1)
    assert limit is not None
    if limit > MAX_LIMIT:
        raise invalid_request(
            f"This value must be less than or equal to {MAX_LIMIT}.", param="limit"
        )

    items: Iterable[JSON] = ctx.store.all(kind)
    for name, predicate in filters.items():
        value = params.data.get(name)
        if value not in (None, ""):
            items = [obj for obj in items if predicate(obj, value)]
    items = [obj for obj in items if _created_matches(ctx, obj)]
    newest_first = list(reversed(items))

    starting_after = params.string("starting_after")
    ending_before = params.string("ending_before")
    if starting_after is not None:
        cursor = _cursor_seq(ctx, kind, starting_after, "starting_after")
        older = [o for o in newest_first if _seq(ctx, kind, o) < cursor]
        page, has_more = older[:limit], len(older) > limit
    elif ending_before is not None:
        cursor = _cursor_seq(ctx, kind, ending_before, "ending_before")
        newer = [o for o in newest_first if _seq(ctx, kind, o) > cursor]
        # The page nearest the cursor, still newest first (what the SDK's previous_page expects).
        page, has_more = newer[-limit:], len(newer) > limit
    else:
        page, has_more = newest_first[:limit], len(newest_first) > limit

    body: JSON = {"object": "list", "data": page, "has_more": has_more, "url": url}
    return expand(ctx, body, ctx.params.str_list("expand"))


def _seq(ctx: Ctx, kind: str, obj: JSON) -> int:
    return ctx.store.seq(kind, obj["id"]) or 0


def _cursor_seq(ctx: Ctx, kind: str, object_id: str, param: str) -> int:
    seq = ctx.store.seq(kind, object_id)
    if seq is None:
        raise resource_missing(kind, object_id, param=param, status=400)
    return seq


def _created_matches(ctx: Ctx, obj: JSON) -> bool:
    created = ctx.params.data.get("created")
    if created in (None, ""):
        return True
    value = int(obj["created"])
    if isinstance(created, str):
        return value == _int(created, "created")
    if not isinstance(created, dict):
        raise invalid_request("Invalid created: must be an integer or a hash.", param="created")
    checks = {
        "gt": lambda bound: value > bound,
        "gte": lambda bound: value >= bound,
        "lt": lambda bound: value < bound,
        "lte": lambda bound: value <= bound,
    }
    for op, raw in created.items():
        if op not in checks:
            raise invalid_request(
                f"Received unknown parameter: created[{op}]",
                param=f"created[{op}]",
                code="parameter_unknown",
            )
        if not checks[op](_int(raw, f"created[{op}]")):
            return False
    return True


def _int(raw: object, param: str) -> int:
    if isinstance(raw, str) and raw.lstrip("-").isdigit():
        return int(raw)
    raise invalid_request(f"Invalid integer: {raw}", param=param, code="parameter_invalid_integer")


def equals(field: str) -> Callable[[JSON, str], bool]:
    """A filter on one field's exact value (e.g. `transfer_group`)."""
    return lambda obj, value: obj.get(field) == value
