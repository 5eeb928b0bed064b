"""The signed Event Webhook: what arrives, in what order, signed how; test addresses;
suppression; injected events, retries and resends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.mail import Asm, Category, CustomArg, GroupId, Mail

from sandbox.testing import TEST_SENDGRID_VERIFICATION_KEY

from .conftest import eventually
from .sendgrid_support import SendGridEnv, sendgrid_env

SENDER = "noreply@tempwork.test"


@pytest.fixture(scope="module")
async def module_env() -> AsyncIterator[SendGridEnv]:
    async with sendgrid_env() as env:
        yield env


@pytest.fixture
async def env(module_env: SendGridEnv) -> SendGridEnv:
    await module_env.reset()
    return module_env


def notice(to: str, **custom_args: str) -> Mail:
    mail = Mail(from_email=SENDER, to_emails=to, subject="Notice", plain_text_content="Hello")
    for name, value in custom_args.items():
        mail.custom_arg = CustomArg(name, value)
    return mail


async def deliveries(env: SendGridEnv) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await env.control.get("/_sandbox/sendgrid/webhooks")).json()[
        "data"
    ]
    return data


async def test_processed_then_delivered_arrive_signed_with_sendgrids_fields(
    env: SendGridEnv,
) -> None:
    mail = notice("wes@example.com", notification_id="ntf-7", attempt="1")
    mail.category = Category("verification")
    response = await env.send(mail)
    x_message_id = response.headers["X-Message-Id"]

    delivered = await env.receiver.wait_for("wes@example.com", "delivered")

    assert [e["event"] for e in env.receiver.events] == ["processed", "delivered"]
    processed = env.receiver.events[0]
    for event in (processed, delivered):
        assert event["sg_message_id"].startswith(f"{x_message_id}.")
        assert event["smtp-id"] == f"<{x_message_id}@ismtpd0001p1sandbox.sendgrid.net>"
        assert event["category"] == "verification"
        assert (event["notification_id"], event["attempt"]) == ("ntf-7", "1")
        assert isinstance(event["timestamp"], int)
    assert processed["sg_event_id"] != delivered["sg_event_id"]
    assert delivered["response"].startswith("250")
    assert env.receiver.rejected == 0
    batch = env.receiver.batches[0]
    assert batch.body.endswith(b"]\r\n")  # SendGrid's framing, which the signature covers


async def test_a_tampered_batch_fails_verification(env: SendGridEnv) -> None:
    await env.send(notice("wes@example.com"))
    await env.receiver.wait_for("wes@example.com", "delivered")
    batch = env.receiver.batches[-1]
    verifier = EventWebhook(TEST_SENDGRID_VERIFICATION_KEY)

    assert verifier.verify_signature(batch.body.decode(), batch.signature, batch.timestamp)
    tampered = batch.body.decode().replace("wes@example.com", "eve@example.com")
    assert not verifier.verify_signature(tampered, batch.signature, batch.timestamp)
    later = str(int(batch.timestamp) + 1)
    assert not verifier.verify_signature(batch.body.decode(), batch.signature, later)


async def test_a_bounce_suppresses_the_address_so_the_next_send_is_dropped(
    env: SendGridEnv,
) -> None:
    address = "gone+bounce@example.com"
    await env.send(notice(address))
    bounce = await env.receiver.wait_for(address, "bounce")
    assert (bounce["type"], bounce["status"]) == ("bounce", "5.1.1")
    assert bounce["reason"].startswith("550 5.1.1")
    assert await env.outbox(address) == []  # a bounce is not a delivery

    await env.send(notice(address))
    dropped = await env.receiver.wait_for(address, "dropped")
    assert dropped["reason"] == "Bounced Address"
    assert [e["event"] for e in env.receiver.events_for(address)] == [
        "processed",
        "bounce",
        "processed",
        "dropped",
    ]
    lists = (await env.control.get("/_sandbox/sendgrid/suppressions")).json()
    assert [s["email"] for s in lists["bounces"]] == [address]
    statuses = {m["status"] for m in await env.search(f'to_email="{address}"')}
    assert statuses == {"not_delivered"}

    removed = await env.control.delete(f"/_sandbox/sendgrid/suppressions/bounces/{address}")
    assert removed.status_code == 200
    await env.send(notice("Gone+Bounce@example.com"))  # bounces again, but is not dropped
    await eventually(
        lambda: len([e for e in env.receiver.events_for(address) if e["event"] == "bounce"]) == 2,
        "a second bounce",
    )


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("a+blocked@example.com", ["processed", "bounce"]),
        ("a+defer@example.com", ["processed", "deferred", "delivered"]),
        ("a+dropped@example.com", ["processed", "dropped"]),
        ("a+spamreport@example.com", ["processed", "delivered", "spamreport"]),
        ("a+open@example.com", ["processed", "delivered", "open"]),
    ],
)
async def test_test_addresses(env: SendGridEnv, address: str, expected: list[str]) -> None:
    await env.send(notice(address))
    await env.receiver.wait_for(address, expected[-1])
    events = env.receiver.events_for(address)
    assert [e["event"] for e in events] == expected
    if expected[1] == "bounce":
        assert (events[1]["type"], events[1]["status"]) == ("blocked", "5.7.1")
    if expected[1] == "deferred":
        assert events[1]["attempt"] == "1"
    delivered = "delivered" in expected
    assert len(await env.outbox(address)) == (1 if delivered else 0)


async def test_blocks_do_not_suppress_but_spam_reports_and_group_unsubscribes_do(
    env: SendGridEnv,
) -> None:
    await env.send(notice("a+blocked@example.com"))
    await env.send(notice("b+spamreport@example.com"))
    await env.receiver.wait_for("b+spamreport@example.com", "spamreport")
    await env.receiver.wait_for("a+blocked@example.com", "bounce")

    await env.send(notice("a+blocked@example.com"))
    await env.send(notice("b+spamreport@example.com"))
    await env.receiver.wait_for(
        "b+spamreport@example.com", "dropped", lambda e: e["reason"] == "Spam Reporting Address"
    )
    await eventually(
        lambda: len(env.receiver.events_for("a+blocked@example.com")) == 4, "second block"
    )
    assert "dropped" not in {e["event"] for e in env.receiver.events_for("a+blocked@example.com")}

    grouped = notice("c@example.com")
    grouped.asm = Asm(GroupId(42))
    response = await env.send(grouped)
    [copy] = await env.copies(x_message_id=response.headers["X-Message-Id"])
    injected = await env.control.post(
        f"/_sandbox/sendgrid/messages/{copy['msg_id']}/events", json={"event": "group_unsubscribe"}
    )
    assert injected.status_code == 200
    assert injected.json()["asm_group_id"] == 42
    await env.send(grouped)
    await env.receiver.wait_for(
        "c@example.com", "dropped", lambda e: e["reason"] == "Unsubscribed Address"
    )
    await env.send(notice("c@example.com"))  # another group (none) still reaches them
    await eventually(
        lambda: [e["event"] for e in env.receiver.events_for("c@example.com")][-1] == "delivered",
        "an ungrouped delivery",
    )


async def test_an_injected_event_is_posted_and_shows_in_email_activity(env: SendGridEnv) -> None:
    response = await env.send(notice("wes@example.com", notification_id="ntf-9"))
    await env.receiver.wait_for("wes@example.com", "delivered")
    [copy] = await env.copies(x_message_id=response.headers["X-Message-Id"])

    for event in ({"event": "open"}, {"event": "click", "url": "https://tempwork.test/x"}):
        reply = await env.control.post(
            f"/_sandbox/sendgrid/messages/{copy['msg_id']}/events", json=event
        )
        assert reply.status_code == 200
    click = await env.receiver.wait_for("wes@example.com", "click")
    assert click["url"] == "https://tempwork.test/x"
    assert click["notification_id"] == "ntf-9"
    [found] = await env.search(f'msg_id="{copy["msg_id"]}"')
    assert (found["status"], found["opens_count"], found["clicks_count"]) == ("delivered", 1, 1)

    unknown = await env.control.post(
        f"/_sandbox/sendgrid/messages/{copy['msg_id']}/events", json={"event": "teleported"}
    )
    assert unknown.status_code == 422


async def test_failed_batches_are_retried_and_can_be_resent(env: SendGridEnv) -> None:
    env.receiver.fail_next = 2
    await env.send(notice("wes@example.com"))
    await env.receiver.wait_for("wes@example.com", "delivered")

    async def settled() -> bool:
        return all(d["status"] == "delivered" for d in await deliveries(env))

    await eventually(settled, "every batch delivered")
    attempts = sorted(len(d["attempts"]) for d in await deliveries(env))
    assert sum(attempts) == 4  # two batches, two refusals between them

    first = (await deliveries(env))[0]
    resent = await env.control.post(f"/_sandbox/sendgrid/webhooks/{first['id']}/resend")
    assert resent.status_code == 200
    await eventually(lambda: len(env.receiver.batches) == 3, "the resent batch")
    assert env.receiver.batches[-1].events == first["events"]
    assert env.receiver.rejected == 0
