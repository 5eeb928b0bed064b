"""Checkr's list pages: newest first, `page` (from 1) and `per_page` (0-100, default 25), with
`count`, `next_href` and `previous_href`."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

from ..store import JSON
from .context import Ctx
from .render import public

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100
LIST_PARAMS = ("page", "per_page")


def list_page(ctx: Ctx, path: str, items: Iterable[JSON], filters: dict[str, str]) -> JSON:
    p = ctx.params
    per_page = p.integer("per_page", DEFAULT_PER_PAGE, minimum=0, maximum=MAX_PER_PAGE)
    page = p.integer("page", 1, minimum=1, maximum=None)
    newest_first = list(reversed(list(items)))
    start = (page - 1) * per_page
    data = newest_first[start : start + per_page]

    def href(number: int) -> str:
        query = urlencode({**filters, "page": number, "per_page": per_page})
        return f"{ctx.state.base_url}{path}?{query}"

    more = per_page > 0 and start + per_page < len(newest_first)
    return {
        "data": [public(obj) for obj in data],
        "object": "list",
        "next_href": href(page + 1) if more else None,
        "previous_href": href(page - 1) if page > 1 else None,
        "count": len(newest_first),
    }
