"""Requests are bounded: oversized bodies answer 413 before they are read, slow bodies 408,
and the caps on pages, milestones and text are in the OpenAPI schema for clients to read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from models.money import MAX_CENTS
from tests.api.helpers import app_with, openapi_schema
from tests.conftest import ApiClient, Infra, problem, sign_up


@pytest.fixture
async def small(infra: Infra) -> AsyncIterator[ApiClient]:
    """The real app with small bounds, so the tests need not send megabytes or wait long."""
    async with app_with(
        infra,
        max_request_body_bytes=4096,
        max_webhook_body_bytes=8192,
        request_body_deadline_seconds=1.0,
    ) as client:
        yield client


async def test_a_body_over_the_limit_answers_413_without_being_read(
    http: ApiClient, small: ApiClient
) -> None:
    client = await sign_up(http, "client")
    body = {"title": "Big", "description": "x" * 5000, "budget_cents": 100}
    response = await small.post("/v1/jobs", json=body, headers=client.auth)
    assert problem(response, 413)["type"] == "/problems/payload-too-large"


async def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit(
    http: ApiClient, small: ApiClient
) -> None:
    client = await sign_up(http, "client")

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "Big", "description": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'", "budget_cents": 100}'

    response = await small.post(
        "/v1/jobs",
        content=chunks(),
        headers={**client.auth, "content-type": "application/json"},
    )
    problem(response, 413)


async def test_webhooks_may_send_bigger_batches(small: ApiClient) -> None:
    # 6 KiB is over the API's 4 KiB but within the webhooks' 8 KiB: it reaches the signature
    # check (and fails it) instead of being cut off.
    response = await small.post(
        "/webhooks/checks", content=b"{" + b" " * 6000 + b"}", headers={"x-checkr-signature": "x"}
    )
    assert problem(response, 400)["type"] == "/problems/bad-signature"


async def test_a_body_that_trickles_in_answers_408_and_frees_the_slot(small: ApiClient) -> None:
    host, port = small.base_url.host, small.base_url.port
    assert port is not None
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            b"POST /v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"email": '
        )
        await writer.drain()
        # Then nothing more: the server gives up after its 1 s deadline.
        head = await asyncio.wait_for(reader.read(4096), timeout=10)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 408"), head[:200]
    assert b"/problems/request-timeout" in head


def _integer(schema: dict[str, Any]) -> dict[str, Any] | None:
    options = [schema, *schema.get("anyOf", [])]
    return next((o for o in options if o.get("type") == "integer"), None)


def test_the_caps_are_documented_in_the_openapiopenapi_schema() -> None:
    spec = openapi_schema()
    schemas = spec["components"]["schemas"]
    assert schemas["HireRequest"]["properties"]["milestones"]["maxItems"] == 50
    assert schemas["JobCreate"]["properties"]["description"]["maxLength"] == 20_000
    assert schemas["JobCreate"]["properties"]["skills"]["maxItems"] == 30
    # Every number anyone may send has a ceiling (a huge one would overflow a bigint: 500).
    unbounded = [
        f"{method} {path} {param['name']}"
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for param in operation.get("parameters", [])
        if "maximum" not in (_integer(param["schema"]) or {"maximum": "not a number"})
    ]
    assert unbounded == []
    resolve = schemas["ResolveDisputeRequest"]["properties"]
    assert resolve["release_cents"]["maximum"] == resolve["refund_cents"]["maximum"] == MAX_CENTS
    # Every list endpoint caps its page size.
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param["name"] == "limit":
                    assert param["schema"].get("maximum", 0) <= 500, path


async def test_a_huge_budget_filter_answers_422_not_500(http: ApiClient) -> None:
    response = await http.get("/v1/jobs", params={"min_budget": str(10**20)})
    problem(response, 422)
