"""Text nobody can keep is refused at the door: 422 naming the field, and nothing created.

PostgreSQL cannot store U+0000, providers refuse control characters, and a lone surrogate is
not UTF-8 at all. Before the `Text` type, a job titled "a\\u0000b" answered 201 and then never
appeared, its projection retrying forever.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.helpers import openapi_schema, post_job
from tests.conftest import ApiClient, problem, sign_up

JOB = {
    "title": "Fix a leaking tap",
    "description": "Kitchen tap drips.\nBring washers.\tThanks!",  # newline and tab are fine
    "skills": ["plumbing"],
    "budget_cents": 8_000,
}
UNKEEPABLE = ["\u0000", "\u0007", "\u001b", "\u007f", "\u0085"]


def _rejected_field(response: Any, *loc: str | int) -> None:
    body = problem(response, 422)
    assert any(tuple(e["loc"][: len(loc)]) == loc for e in body["errors"]), body["errors"]


@pytest.mark.parametrize("char", UNKEEPABLE, ids=lambda c: f"U+{ord(c):04X}")
async def test_a_job_with_a_control_character_in_any_text_field_is_refused_and_not_created(
    http: ApiClient, char: str
) -> None:
    client = await sign_up(http, "client")
    for field, value in [
        ("title", f"Fix a{char}tap"),
        ("description", f"drips{char}"),
        ("skills", ["plumbing", f"pipe{char}s"]),
    ]:
        response = await client.post("/v1/jobs", JOB | {field: value})
        if field == "skills":
            _rejected_field(response, "body", "skills", 1)
        else:
            _rejected_field(response, "body", field)
    mine = await http.get("/v1/jobs", params={"q": "leaking tap", "status": "all"})
    assert [j for j in mine.json()["items"] if j["client_id"] == client.id] == []


async def test_a_lone_surrogate_is_refused_like_a_control_character(http: ApiClient) -> None:
    client = await sign_up(http, "client")
    raw = '{"title": "Fix a \\ud800 tap", "description": "x", "budget_cents": 100}'
    response = await http.post(
        "/v1/jobs",
        content=raw.encode(),
        headers={**client.auth, "content-type": "application/json"},
    )
    _rejected_field(response, "body", "title")


async def test_newlines_and_tabs_are_kept_as_typed(http: ApiClient) -> None:
    client = await sign_up(http, "client")
    job = await post_job(client, description=JOB["description"])
    got = await http.get(f"/v1/jobs/{job['id']}")
    assert got.json()["description"] == JOB["description"]


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"q": "a\u0000b"}, ("query", "q")),
        ({"skills": "plumb\u0000ing"}, ("query", "skills", 0)),
        ({"cursor": "\u0000"}, ("query", "cursor")),
    ],
    ids=["q", "skills", "cursor"],
)
async def test_search_parameters_with_control_characters_answer_422(
    http: ApiClient, params: dict[str, str], loc: tuple[str, ...]
) -> None:
    _rejected_field(await http.get("/v1/jobs", params=params), *loc)


async def test_a_login_with_a_control_character_answers_422_not_500(http: ApiClient) -> None:
    response = await http.post(
        "/v1/auth/token", data={"username": "a\u0000@example.com", "password": "whatever12"}
    )
    _rejected_field(response, "body", "username")


async def test_registration_refuses_control_characters_in_the_name(http: ApiClient) -> None:
    response = await http.post(
        "/v1/auth/register",
        json={
            "email": "bell@example.com",
            "password": "correct horse battery",
            "display_name": "Bell\u0007",
            "role": "client",
        },
    )
    _rejected_field(response, "body", "display_name")


# --- every free-text input carries the rule (a new field without it fails here) ----------


def _string_leaves(
    schema: dict[str, Any], components: dict[str, Any], path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    if "$ref" in schema:
        yield from _string_leaves(components[schema["$ref"].split("/")[-1]], components, path)
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            yield from _string_leaves(option, components, path)
    if schema.get("type") == "object":
        for name, sub in schema.get("properties", {}).items():
            yield from _string_leaves(sub, components, (*path, name))
    elif schema.get("type") == "array":
        yield from _string_leaves(schema.get("items", {}), components, (*path, "[]"))
    elif schema.get("type") == "string":
        yield path, schema


# Headers checked by their own code (signatures are compared, never stored).
SIGNATURE_HEADERS = {
    "stripe-signature",
    "x-twilio-signature",
    "x-checkr-signature",
    "X-Twilio-Email-Event-Webhook-Signature",
    "X-Twilio-Email-Event-Webhook-Timestamp",
}
CLOSED_FORMATS = {"uuid", "date-time", "email", "duration", "date"}


def test_every_free_text_input_in_the_schema_refuses_control_characters() -> None:
    spec = openapi_schema()
    components = spec["components"]["schemas"]
    unguarded = []
    checked = 0
    for route, operations in spec["paths"].items():
        for method, operation in operations.items():
            inputs: list[tuple[tuple[str, ...], dict[str, Any]]] = []
            for param in operation.get("parameters", []):
                if param["name"] in SIGNATURE_HEADERS:
                    continue
                start = (param["in"], param["name"])
                inputs += _string_leaves(param["schema"], components, start)
            for content in operation.get("requestBody", {}).get("content", {}).values():
                inputs += _string_leaves(content["schema"], components, ("body",))
            for where, leaf in inputs:
                checked += 1
                closed = "enum" in leaf or "const" in leaf or leaf.get("format") in CLOSED_FORMATS
                pattern = leaf.get("pattern")
                if closed or (pattern and not re.search(pattern, "a\u0000b")):
                    continue
                unguarded.append(f"{method.upper()} {route} {'.'.join(where)}")
    assert checked > 30  # the walk really found the API's inputs
    assert unguarded == [], "use models.text.Text for these: " + ", ".join(unguarded)
