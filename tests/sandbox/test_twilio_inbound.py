"""People texting our number: Twilio's default opt-out keywords, its automatic replies, and the
signed incoming-message webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from sandbox.testing import (
    TEST_TWILIO_ACCOUNT_SID,
    TEST_TWILIO_AUTH_TOKEN,
    TEST_TWILIO_PHONE_NUMBER,
)

from .twilio_support import PERSON, TwilioEnv, twilio_environment

OUR_NUMBER = TEST_TWILIO_PHONE_NUMBER
STOP_REPLY = (
    "You have successfully been unsubscribed. You will not receive any more messages from this "
    "number. Reply START to resubscribe."
)


@pytest.fixture(scope="module")
async def twilio_env() -> AsyncIterator[TwilioEnv]:
    async with twilio_environment() as env:
        yield env


@pytest.fixture
async def env(twilio_env: TwilioEnv) -> TwilioEnv:
    await twilio_env.reset()
    return twilio_env


async def _text_us(env: TwilioEnv, body: str, sender: str = PERSON) -> dict[str, Any]:
    response = await env.control.post(
        "/_sandbox/twilio/inbound", json={"from": sender, "body": body}
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


async def _send(env: TwilioEnv, body: str = "New shift near you") -> str:
    message = await env.client.messages.create_async(to=PERSON, from_=OUR_NUMBER, body=body)
    return message.status or ""


async def _opted_out(env: TwilioEnv) -> list[str]:
    return [entry["phone_number"] for entry in await env.get("/_sandbox/twilio/opt_outs")]


async def test_stop_opts_out_replies_and_forwards_the_text(env: TwilioEnv) -> None:
    result = await _text_us(env, "STOP")
    assert result["opt_out_type"] == "STOP"
    assert (result["message"]["direction"], result["message"]["status"]) == ("inbound", "received")

    [webhook] = await env.receiver.wait_for("inbound")
    sid = result["message"]["sid"]
    assert webhook.params == {
        "AccountSid": TEST_TWILIO_ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "Body": "STOP",
        "From": PERSON,
        "FromCity": "",
        "FromCountry": "US",
        "FromState": "",
        "FromZip": "",
        "MessageSid": sid,
        "NumMedia": "0",
        "NumSegments": "1",
        "OptOutType": "STOP",
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "To": OUR_NUMBER,
        "ToCity": "",
        "ToCountry": "US",
        "ToState": "",
        "ToZip": "",
    }
    assert env.receiver.rejected_signatures == 0

    [reply] = await env.outbox(PERSON)
    assert (reply["body"], reply["from"]) == (STOP_REPLY, OUR_NUMBER)
    assert reply["details"]["direction"] == "outbound-reply"
    assert await _opted_out(env) == [PERSON]

    with pytest.raises(TwilioRestException) as caught:
        await _send(env)
    assert (caught.value.status, caught.value.code) == (400, 21610)


async def test_start_opts_back_in(env: TwilioEnv) -> None:
    await _text_us(env, "STOP")
    result = await _text_us(env, "start")
    assert result["opt_out_type"] == "START"
    assert result["auto_reply"]["body"].startswith("You have successfully been re-subscribed")
    assert await _opted_out(env) == []
    assert await _send(env) == "queued"

    webhooks = await env.receiver.wait_for("inbound", count=2)
    assert [w.params["OptOutType"] for w in webhooks] == ["STOP", "START"]


async def test_help_answers_without_opting_out(env: TwilioEnv) -> None:
    result = await _text_us(env, "info")
    assert result["opt_out_type"] == "HELP"
    assert result["auto_reply"]["body"] == "Reply STOP to unsubscribe. Msg&Data Rates May Apply."
    assert await _opted_out(env) == []
    [webhook] = await env.receiver.wait_for("inbound")
    assert webhook.params["OptOutType"] == "HELP"


@pytest.mark.parametrize(
    ("body", "opted_out"),
    [
        ("stop", True),
        ("  Unsubscribe \n", True),
        ("cancel.", True),
        ("QUIT!", True),
        ("StopAll", True),
        ("End", True),
        ("stop texting me at night", False),
        ("please stop", False),
    ],
)
async def test_only_a_whole_keyword_opts_out(env: TwilioEnv, body: str, opted_out: bool) -> None:
    await _text_us(env, body)
    assert (await _opted_out(env) == [PERSON]) is opted_out


async def test_an_ordinary_reply_is_forwarded_and_listed(env: TwilioEnv) -> None:
    result = await _text_us(env, "Running 10 min late")
    assert result["opt_out_type"] is None and result["auto_reply"] is None
    [webhook] = await env.receiver.wait_for("inbound")
    assert "OptOutType" not in webhook.params
    assert webhook.params["Body"] == "Running 10 min late"
    assert await env.outbox() == []  # nothing was sent to the person

    [inbound] = await env.client.messages.list_async(from_=PERSON)
    assert (inbound.sid, inbound.direction, inbound.status) == (
        result["message"]["sid"],
        "inbound",
        "received",
    )
    assert inbound.to == OUR_NUMBER and inbound.date_sent is not None


async def test_a_tampered_incoming_webhook_fails_validation(env: TwilioEnv) -> None:
    await _text_us(env, "Yes I can take the shift")
    [webhook] = await env.receiver.wait_for("inbound")
    validator = RequestValidator(TEST_TWILIO_AUTH_TOKEN)
    assert validator.validate(webhook.url, webhook.params, webhook.signature)
    assert not validator.validate(
        webhook.url, {**webhook.params, "From": "+15559999999"}, webhook.signature
    )


async def test_the_incoming_webhook_can_be_resent(env: TwilioEnv) -> None:
    result = await _text_us(env, "Hello?")
    await env.receiver.wait_for("inbound")
    response = await env.control.post(f"/_sandbox/twilio/webhooks/{result['webhook']}/resend")
    assert response.status_code == 200
    twice = await env.receiver.wait_for("inbound", count=2)
    assert {w.params["MessageSid"] for w in twice} == {result["message"]["sid"]}
    [delivery] = [d for d in await env.deliveries() if d["id"] == result["webhook"]]
    assert delivery["url"] == env.receiver.inbound_url


@pytest.mark.parametrize(
    "payload",
    [
        {"from": "5551230001", "body": "STOP"},
        {"from": PERSON, "body": "STOP", "to": "+15551112222"},
    ],
)
async def test_texts_from_invalid_numbers_or_to_other_numbers_are_refused(
    env: TwilioEnv, payload: dict[str, str]
) -> None:
    response = await env.control.post("/_sandbox/twilio/inbound", json=payload)
    assert response.status_code == 422
    assert await _opted_out(env) == []
