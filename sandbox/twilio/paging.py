"""Twilio's list paging (2010-04-01 API): `PageSize`, `Page`, `PageToken` and the `*_page_uri`s.

A page token names the record a page starts after (`PA<sid>`) or ends before (`PB<sid>`), so
walking `next_page_uri` sees every record exactly once even while new messages arrive. The
SDK's `list_async`/`stream_async` follow `next_page_uri` until it is null.

Only the keys the SDK treats as page metadata may sit beside the records (`twilio.base.page.
Page.META_KEYS`); any other key would be taken for the record list.
"""

from __future__ import annotations

from urllib.parse import urlencode

from ..store import JSON
from .errors import invalid_parameter
from .pipeline import Params

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
AFTER, BEFORE = "PA", "PB"


def page(
    records: list[JSON], params: Params, *, path: str, key: str, filters: list[tuple[str, str]]
) -> JSON:
    """One page of `records` (already filtered and ordered) under `key` (e.g. "messages")."""
    page_size = _integer(params, "PageSize", DEFAULT_PAGE_SIZE, minimum=1)
    page_size = min(page_size, MAX_PAGE_SIZE)
    number = _integer(params, "Page", 0, minimum=0)
    token = params.get("PageToken")
    if token:
        anchor = _anchor(records, token)
        if token.startswith(AFTER):
            start, stop = anchor + 1, anchor + 1 + page_size
        else:
            start, stop = max(0, anchor - page_size), anchor
    else:
        start, stop = number * page_size, (number + 1) * page_size
    chunk = records[start:stop]

    def uri(page_number: int, page_token: str | None) -> str:
        query = [*filters, ("PageSize", str(page_size)), ("Page", str(page_number))]
        if page_token:
            query.append(("PageToken", page_token))
        return f"{path}?{urlencode(query)}"

    has_next = bool(chunk) and stop < len(records)
    has_previous = bool(chunk) and start > 0
    return {
        "end": start + len(chunk) - 1 if chunk else start,
        "first_page_uri": uri(0, None),
        key: chunk,
        "next_page_uri": uri(number + 1, AFTER + chunk[-1]["sid"]) if has_next else None,
        "page": number,
        "page_size": page_size,
        "previous_page_uri": (
            uri(max(number - 1, 0), BEFORE + chunk[0]["sid"]) if has_previous else None
        ),
        "start": start,
        "uri": uri(number, token),
    }


def _anchor(records: list[JSON], token: str) -> int:
    sid = token[2:]
    if token[:2] in (AFTER, BEFORE):
        for index, record in enumerate(records):
            if record["sid"] == sid:
                return index
    raise invalid_parameter(f"Invalid PageToken: {token}")


def _integer(params: Params, name: str, default: int, *, minimum: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    assert raw is not None
    if not raw.isdigit() or int(raw) < minimum:
        raise invalid_parameter(f"{name} must be an integer of at least {minimum}, not {raw!r}")
    return int(raw)
