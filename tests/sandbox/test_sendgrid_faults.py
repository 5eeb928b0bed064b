"""Injected faults as the app meets them through the SDK, and state surviving a restart."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from python_http_client.exceptions import InternalServerError, TooManyRequestsError
from sendgrid.helpers.mail import CustomArg, Mail

from .conftest import eventually
from .sendgrid_support import SendGridEnv, error_body, sendgrid_env

SENDER = "noreply@tempwork.test"
SEND_PATH = "/sendgrid/v3/mail/send"


@pytest.fixture(scope="module")
async def module_env() -> AsyncIterator[SendGridEnv]:
    async with sendgrid_env() as env:
        yield env


@pytest.fixture
async def env(module_env: SendGridEnv) -> SendGridEnv:
    await module_env.reset()
    return module_env


def reminder(to: str, notification: str) -> Mail:
    mail = Mail(from_email=SENDER, to_emails=to, subject="Reminder", plain_text_content="Hi")
    mail.custom_arg = CustomArg("notification_id", notification)
    return mail


async def test_a_response_dropped_after_commit_leaves_exactly_one_message(
    env: SendGridEnv,
) -> None:
    faults = {"drop_response_after_commit": {"path_prefix": SEND_PATH, "times": 1}}
    (await env.control.post("/_sandbox/faults", json=faults)).raise_for_status()

    with pytest.raises(InternalServerError) as caught:
        await env.send(reminder("wes@example.com", "ntf-crash"))
    assert error_body(caught.value) == {
        "errors": [{"field": None, "message": "internal server error"}]
    }

    # What a restarted worker does before retrying: ask Email Activity, then don't resend.
    [found] = await env.search("unique_args['notification_id']=\"ntf-crash\"")
    assert found["to_email"] == "wes@example.com"
    assert len(await env.outbox("wes@example.com")) == 1
    await env.receiver.wait_for("wes@example.com", "delivered")
    # The fault was used up: the next send answers normally.
    assert (await env.send(reminder("ana@example.com", "ntf-next"))).status_code == 202


async def test_a_hang_after_commit_delays_the_answer_of_a_completed_send(
    env: SendGridEnv,
) -> None:
    faults = {"hang_after_commit_ms": {"path_prefix": SEND_PATH, "ms": 300}}
    (await env.control.post("/_sandbox/faults", json=faults)).raise_for_status()

    started = time.monotonic()
    response = await env.send(reminder("wes@example.com", "ntf-slow"))

    assert response.status_code == 202
    assert time.monotonic() - started >= 0.3
    assert len(await env.search("unique_args['notification_id']=\"ntf-slow\"")) == 1


async def test_a_rate_limit_fault_is_429_with_sendgrids_headers_and_sends_nothing(
    env: SendGridEnv,
) -> None:
    faults = {"rate_limit_rate": 1.0, "providers": ["sendgrid"], "seed": 3}
    (await env.control.post("/_sandbox/faults", json=faults)).raise_for_status()

    with pytest.raises(TooManyRequestsError) as caught:
        await env.send(reminder("wes@example.com", "ntf-429"))

    assert caught.value.status_code == 429
    assert error_body(caught.value) == {"errors": [{"field": None, "message": "too many requests"}]}
    headers = caught.value.headers
    assert headers["X-RateLimit-Remaining"] == "0"
    assert int(headers["X-RateLimit-Reset"]) >= int(time.time())
    assert headers["X-RateLimit-Limit"] == "600"
    (await env.control.delete("/_sandbox/faults")).raise_for_status()
    assert await env.search("unique_args['notification_id']=\"ntf-429\"") == []
    assert await env.outbox("wes@example.com") == []


async def test_an_error_fault_is_500_before_anything_is_sent(env: SendGridEnv) -> None:
    faults = {"error_rate": 1.0, "providers": ["sendgrid"]}
    (await env.control.post("/_sandbox/faults", json=faults)).raise_for_status()
    with pytest.raises(InternalServerError):
        await env.send(reminder("wes@example.com", "ntf-500"))
    (await env.control.delete("/_sandbox/faults")).raise_for_status()
    assert await env.copies() == []


async def test_faults_for_other_providers_leave_sendgrid_alone(env: SendGridEnv) -> None:
    faults = {"error_rate": 1.0, "providers": ["stripe"]}
    (await env.control.post("/_sandbox/faults", json=faults)).raise_for_status()
    assert (await env.send(reminder("wes@example.com", "ntf-ok"))).status_code == 202


async def test_dropped_webhooks_are_recorded_as_such(env: SendGridEnv) -> None:
    faults = {"webhook_drop_rate": 1.0, "providers": ["sendgrid"]}
    (await env.control.post("/_sandbox/faults", json=faults)).raise_for_status()
    await env.send(reminder("wes@example.com", "ntf-lost"))

    async def all_dropped() -> bool:
        data = (await env.control.get("/_sandbox/sendgrid/webhooks")).json()["data"]
        return len(data) == 2 and all(d["status"] == "dropped" for d in data)

    await eventually(all_dropped, "both batches dropped")
    assert env.receiver.batches == []


async def test_messages_and_suppressions_survive_a_restart(tmp_path: Path) -> None:
    data_file = tmp_path / "sandbox.sqlite3"
    async with sendgrid_env(data_file=data_file) as env:
        await env.send(reminder("wes@example.com", "ntf-kept"))
        await env.send(reminder("gone+bounce@example.com", "ntf-bounced"))
        await env.receiver.wait_for("gone+bounce@example.com", "bounce")

    async with sendgrid_env(data_file=data_file) as env:
        [kept] = await env.search("unique_args['notification_id']=\"ntf-kept\"")
        assert kept["status"] == "delivered"
        await env.send(reminder("gone+bounce@example.com", "ntf-again"))
        dropped = await env.receiver.wait_for("gone+bounce@example.com", "dropped")
        assert dropped["reason"] == "Bounced Address"
