"""Email Activity (`GET /v3/messages`) through the SDK: how the app finds out whether an
earlier attempt already sent an email, so every answer must be exact."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from python_http_client.exceptions import BadRequestsError, NotFoundError
from sendgrid.helpers.mail import Category, CustomArg, Mail

from sandbox.sendgrid.query import compile_query

from .sendgrid_support import SendGridEnv, error_body, sendgrid_env

SENDER = "noreply@tempwork.test"


@pytest.fixture(scope="module")
async def module_env() -> AsyncIterator[SendGridEnv]:
    async with sendgrid_env() as env:
        yield env


@pytest.fixture
async def env(module_env: SendGridEnv) -> SendGridEnv:
    await module_env.reset()
    return module_env


def attempt_email(to: str, notification: str, attempt: str, subject: str = "Code") -> Mail:
    mail = Mail(from_email=SENDER, to_emails=to, subject=subject, plain_text_content="123456")
    mail.custom_arg = [CustomArg("notification_id", notification), CustomArg("attempt", attempt)]
    mail.category = Category("verification")
    return mail


async def test_a_message_is_found_by_its_custom_args(env: SendGridEnv) -> None:
    sent = await env.send(attempt_email("wes@example.com", "ntf-1", "1"))
    await env.send(attempt_email("wes@example.com", "ntf-1", "2"))
    await env.send(attempt_email("wes@example.com", "ntf-10", "1"))

    found = await env.search(
        "unique_args['notification_id']=\"ntf-1\" AND unique_args['attempt']=\"1\""
    )

    assert len(found) == 1
    [message] = found
    assert message["msg_id"].startswith(sent.headers["X-Message-Id"] + ".")
    assert set(message) == {
        "from_email", "msg_id", "subject", "to_email", "status",
        "opens_count", "clicks_count", "last_event_time",
    }  # fmt: skip
    assert (message["to_email"], message["from_email"]) == ("wes@example.com", SENDER)
    assert message["status"] == "delivered"
    # StrongGrid-style parenthesised clauses mean the same.
    again = await env.search(
        "(unique_args['notification_id']=\"ntf-1\") AND (unique_args['attempt']=\"1\")"
    )
    assert again == found
    assert len(await env.search("unique_args['notification_id']=\"ntf-1\"")) == 2
    assert await env.search("unique_args['notification_id']=\"ntf-2\"") == []
    assert await env.search("unique_args['missing']=\"ntf-1\"") == []


async def test_the_x_message_id_finds_its_copies_only_with_like(env: SendGridEnv) -> None:
    mail = attempt_email("ana@example.com", "ntf-3", "1")
    mail.add_to("ben@example.com")
    x_message_id = (await env.send(mail)).headers["X-Message-Id"]
    await env.send(attempt_email("ana@example.com", "ntf-4", "1"))

    # As at SendGrid, msg_id is the per-recipient id; the X-Message-Id is only its prefix.
    assert await env.search(f'msg_id="{x_message_id}"') == []
    copies = await env.search(f"msg_id LIKE '{x_message_id}%'")
    assert sorted(m["to_email"] for m in copies) == ["ana@example.com", "ben@example.com"]


async def test_fields_statuses_limits_and_order(env: SendGridEnv) -> None:
    await env.send(attempt_email("Ana@Example.com", "ntf-5", "1", subject="First"))
    await env.send(attempt_email("x+bounce@example.com", "ntf-6", "1", subject="Second"))
    await env.send(attempt_email("ana@example.com", "ntf-7", "1", subject="Third"))

    newest_first = [m["subject"] for m in await env.search('to_email="ana@example.com"')]
    assert newest_first == ["Third", "First"]  # addresses match case-insensitively
    assert [m["subject"] for m in await env.search('status="not_delivered"')] == ["Second"]
    assert len(await env.search('status IN ("delivered", "not_delivered")')) == 3
    assert [
        m["subject"] for m in await env.search('NOT subject="First" AND to_email LIKE "ana@%"')
    ] == ["Third"]
    assert len(await env.search(f'from_email="{SENDER}"', limit=2)) == 2
    assert len(await env.search(None, limit=10)) == 3
    assert len(await env.search('CONTAINS(categories, "verification")')) == 3


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('bad_field="x"', "invalid syntax: 'bad_field' is not a known field"),
        ('to_email="a@b.co" AND', "invalid syntax: expected a field name but found 'end of query'"),
        ('(status="delivered"', "invalid syntax: expected ) but found 'end of query'"),
        (
            'opens="1"',
            "invalid syntax: 'opens' is a known field, but the sandbox does not simulate it",
        ),
    ],
)
async def test_an_invalid_query_is_sendgrids_400(
    env: SendGridEnv, query: str, message: str
) -> None:
    with pytest.raises(BadRequestsError) as caught:
        await env.search(query)
    assert error_body(caught.value) == {"errors": [{"message": message, "field": "query"}]}


async def test_limit_out_of_range_is_400(env: SendGridEnv) -> None:
    with pytest.raises(BadRequestsError) as caught:
        await env.search('status="delivered"', limit=1001)
    assert error_body(caught.value)["errors"][0]["field"] == "limit"


async def test_one_message_in_detail(env: SendGridEnv) -> None:
    await env.send(attempt_email("wes+defer@example.com", "ntf-8", "2"))
    [summary] = await env.search('unique_args["notification_id"]="ntf-8"')

    response = await asyncio.to_thread(env.sdk.client.messages._(summary["msg_id"]).get)
    message: dict[str, Any] = json.loads(response.body)

    assert message["msg_id"] == summary["msg_id"]
    assert [e["event_name"] for e in message["events"]] == ["processed", "deferred", "delivered"]
    assert message["events"][1]["attempt_num"] == 1
    assert json.loads(message["unique_args"]) == {"notification_id": "ntf-8", "attempt": "2"}
    assert message["categories"] == ["verification"]
    assert message["api_key_id"] == "tempwork_sandbox"
    with pytest.raises(NotFoundError) as caught:
        await asyncio.to_thread(env.sdk.client.messages._("nope").get)
    assert error_body(caught.value) == {"errors": [{"message": "not found", "field": "message_id"}]}


def test_the_query_language_in_isolation() -> None:
    record = {
        "msg_id": "abc.filter-1.0",
        "to_email": "Wes@Example.com",
        "status": "delivered",
        "subject": "It's here",
        "asm_group_id": 42,
        "custom_args": {"k": "v"},
        "categories": ["a"],
    }

    def matches(query: str) -> bool:
        return compile_query(query)(record)

    assert matches("to_email = 'wes@example.com'")
    assert matches('subject="It\'s here"')
    assert matches('asm_group_id=42 and asm_group_id > 41 AND asm_group_id="42"')
    assert matches("status = 'bounced' OR (status = 'delivered' AND NOT unique_args['k'] = 'w')")
    assert matches("unique_args['gone'] IS NULL AND unique_args['k'] IS NOT NULL")
    assert not matches("unique_args['gone'] != 'x'")  # NULL matches no comparison
    assert matches(
        "msg_id LIKE 'abc.%' AND msg_id NOT LIKE 'abd%' AND msg_id LIKE 'abc_filter-1.0'"
    )
    assert matches("status NOT IN ('processed', 'not_delivered')")
    assert not matches("CONTAINS(categories, 'b')")
