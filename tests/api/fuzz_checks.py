"""A check Schemathesis runs on every fuzzed answer (tests/api/test_fuzz.py loads this module
through SCHEMATHESIS_HOOKS)."""

from __future__ import annotations

import schemathesis
from schemathesis import Case, CheckContext, Response


@schemathesis.check
def problem_details(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every error is RFC 9457 problem+json naming its type and title, with the answer's own
    status (the schema allows extra members, so this is stricter than schema conformance)."""
    if response.status_code < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/problem+json"):
        raise AssertionError(f"a {response.status_code} answered as {content_type!r}")
    body = response.json()
    if not (
        isinstance(body, dict)
        and isinstance(body.get("type"), str)
        and isinstance(body.get("title"), str)
        and body.get("status") == response.status_code
    ):
        raise AssertionError(f"not a problem document for a {response.status_code}: {body!r:.300}")
    return True
