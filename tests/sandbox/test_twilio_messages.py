"""Texts through the official SDK: Twilio's validation and magic numbers, delivery with signed
status callbacks, lists and paging, faults, and a restart from the data file."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest.api.v2010.account.message import MessageInstance

from sandbox.testing import (
    TEST_TWILIO_ACCOUNT_SID,
    TEST_TWILIO_AUTH_TOKEN,
    TEST_TWILIO_PHONE_NUMBER,
    TEST_TWILIO_VERIFY_SERVICE_SID,
)
from sandbox.twilio import carrier

from .conftest import eventually
from .twilio_support import (
    OTHER_PERSON,
    PERSON,
    TwilioEnv,
    sandbox_env,
    sdk_client,
    serve_receiver,
    twilio_environment,
)

OUR_NUMBER = TEST_TWILIO_PHONE_NUMBER
MESSAGES_PATH = f"/twilio/api/2010-04-01/Accounts/{TEST_TWILIO_ACCOUNT_SID}/Messages.json"


@pytest.fixture(scope="module")
async def twilio_env() -> AsyncIterator[TwilioEnv]:
    async with twilio_environment() as env:
        yield env


@pytest.fixture
async def env(twilio_env: TwilioEnv) -> TwilioEnv:
    await twilio_env.reset()
    return twilio_env


async def _send(
    env: TwilioEnv, to: str = PERSON, body: str = "Your shift starts at 9", **params: Any
) -> MessageInstance:
    """A text from our number with a status callback to the receiver."""
    return await env.client.messages.create_async(
        to=to, from_=OUR_NUMBER, body=body, status_callback=env.receiver.status_url, **params
    )


async def test_a_text_is_queued_then_delivered_with_signed_status_callbacks(env: TwilioEnv) -> None:
    callback = f"{env.receiver.status_url}?contract=c-1&step=reminder"
    message = await env.client.messages.create_async(
        to=PERSON, from_=OUR_NUMBER, body="Your shift starts at 9", status_callback=callback
    )

    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid or "")
    assert (message.status, message.direction, message.to, message.from_) == (
        "queued",
        "outbound-api",
        PERSON,
        OUR_NUMBER,
    )
    assert (message.num_segments, message.num_media, message.api_version) == (
        "1",
        "0",
        "2010-04-01",
    )
    assert message.account_sid == TEST_TWILIO_ACCOUNT_SID
    assert message.date_created is not None and message.date_created.tzinfo is not None
    assert message.date_sent is None and message.price is None and message.error_code is None
    assert (
        message.uri == f"/2010-04-01/Accounts/{TEST_TWILIO_ACCOUNT_SID}/Messages/{message.sid}.json"
    )
    assert message.subresource_uris == {"media": message.uri.removesuffix(".json") + "/Media.json"}

    # No callback for the initial status, as on Twilio; then one per change.
    assert await env.receiver.callbacks_for(message.sid or "", count=2) == ["sent", "delivered"]
    sent, delivered = env.receiver.received
    assert sent.url == callback
    assert sent.params == {
        "AccountSid": TEST_TWILIO_ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "From": OUR_NUMBER,
        "MessageSid": message.sid,
        "MessageStatus": "sent",
        "SmsSid": message.sid,
        "SmsStatus": "sent",
        "To": PERSON,
    }
    assert re.fullmatch(r"\d{10}", delivered.params["RawDlrDoneDate"])
    assert sent.idempotency_token != delivered.idempotency_token
    assert env.receiver.rejected_signatures == 0

    fetched = await env.client.messages(message.sid).fetch_async()
    assert (fetched.status, fetched.price, fetched.price_unit) == ("delivered", "-0.00790", "USD")
    assert fetched.date_sent is not None and fetched.error_code is None

    [sms] = await env.outbox(PERSON)
    assert (sms["channel"], sms["from"], sms["body"], sms["provider_message_id"]) == (
        "sms",
        OUR_NUMBER,
        "Your shift starts at 9",
        message.sid,
    )


async def test_a_tampered_callback_fails_validation(env: TwilioEnv) -> None:
    message = await _send(env)
    await env.receiver.callbacks_for(message.sid, count=1)
    callback = env.receiver.received[0]
    validator = RequestValidator(TEST_TWILIO_AUTH_TOKEN)

    assert validator.validate(callback.url, callback.params, callback.signature)
    tampered = {**callback.params, "MessageStatus": "delivered"}
    assert not validator.validate(callback.url, tampered, callback.signature)
    assert not validator.validate(callback.url + "&x=1", callback.params, callback.signature)
    assert not RequestValidator("another-token").validate(
        callback.url, callback.params, callback.signature
    )


async def test_wrong_credentials_are_refused_with_20003(env: TwilioEnv) -> None:
    async with sdk_client(env.url, auth_token="not-the-token") as intruder:
        with pytest.raises(TwilioRestException) as caught:
            await intruder.messages.create_async(to=PERSON, from_=OUR_NUMBER, body="hi")
    assert (caught.value.status, caught.value.code) == (401, 20003)

    # The right credentials, but another account in the path.
    other = "AC" + "2" * 32
    response = await env.control.post(
        f"/twilio/api/2010-04-01/Accounts/{other}/Messages.json",
        data={"To": PERSON, "From": OUR_NUMBER, "Body": "hi"},
        auth=(TEST_TWILIO_ACCOUNT_SID, TEST_TWILIO_AUTH_TOKEN),
    )
    assert response.status_code == 401
    assert response.json()["code"] == 20003
    assert response.headers["www-authenticate"].startswith("Basic")
    assert await env.messages() == []


@pytest.mark.parametrize(
    ("to", "sender", "body", "code"),
    [
        ("5551230001", OUR_NUMBER, "hi", 21211),  # not E.164
        (PERSON, "+15557654321", "hi", 21606),  # not our number
        (PERSON, OUR_NUMBER, "", 21602),
        (PERSON, OUR_NUMBER, "x" * 1601, 21617),
        (OUR_NUMBER, OUR_NUMBER, "hi", 21266),
        ("+15005550001", OUR_NUMBER, "hi", 21211),  # Twilio's magic numbers
        ("+15005550002", OUR_NUMBER, "hi", 21612),
        ("+15005550003", OUR_NUMBER, "hi", 21408),
        ("+15005550004", OUR_NUMBER, "hi", 21610),
        ("+15005550009", OUR_NUMBER, "hi", 21614),
        (PERSON, "+15005550001", "hi", 21212),
        (PERSON, "+15005550008", "hi", 21611),
    ],
)
async def test_refused_texts_are_400_with_twilios_code_and_send_nothing(
    env: TwilioEnv, to: str, sender: str, body: str, code: int
) -> None:
    with pytest.raises(TwilioRestException) as caught:
        await env.client.messages.create_async(to=to, from_=sender, body=body)
    assert (caught.value.status, caught.value.code) == (400, code)
    assert await env.messages() == []
    assert await env.outbox() == []


async def test_error_bodies_are_twilios(env: TwilioEnv) -> None:
    response = await env.control.post(
        MESSAGES_PATH,
        data={"To": "+1555", "From": OUR_NUMBER, "Body": "hi"},
        auth=(TEST_TWILIO_ACCOUNT_SID, TEST_TWILIO_AUTH_TOKEN),
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": 21211,
        "message": "The 'To' number +1555 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }
    assert response.headers["twilio-request-id"].startswith("RQ")


async def test_mms_is_refused_as_not_simulated(env: TwilioEnv) -> None:
    with pytest.raises(TwilioRestException) as caught:
        await _send(env, media_url=["https://example.com/badge.png"])
    assert caught.value.status == 400
    assert "does not simulate" in caught.value.msg


@pytest.mark.parametrize(
    ("to", "statuses", "error_code"),
    [
        ("+15005550010", ["sent", "undelivered"], 30003),
        ("+15005550011", ["sent", "undelivered"], 30005),
        ("+15005550012", ["failed"], 30008),
    ],
)
async def test_magic_recipients_end_undelivered_or_failed(
    env: TwilioEnv, to: str, statuses: list[str], error_code: int
) -> None:
    message = await _send(env, to=to)
    assert message.status == "queued"  # accepted: the failure comes from the carrier

    assert await env.receiver.callbacks_for(message.sid, count=len(statuses)) == statuses
    assert env.receiver.received[-1].params["ErrorCode"] == str(error_code)
    fetched = await env.client.messages(message.sid).fetch_async()
    assert (fetched.status, fetched.error_code) == (statuses[-1], error_code)
    assert fetched.error_message


async def test_a_messaging_service_picks_the_sender_after_acceptance(env: TwilioEnv) -> None:
    service = "MG" + "a" * 32
    message = await env.client.messages.create_async(
        to=PERSON,
        messaging_service_sid=service,
        body="Hello",
        status_callback=env.receiver.status_url,
    )
    assert (message.status, message.from_, message.num_segments) == ("accepted", None, "0")
    assert message.messaging_service_sid == service

    assert await env.receiver.callbacks_for(message.sid, count=3) == ["queued", "sent", "delivered"]
    assert {w.params["MessagingServiceSid"] for w in env.receiver.received} == {service}
    fetched = await env.client.messages(message.sid).fetch_async()
    assert (fetched.from_, fetched.num_segments) == (OUR_NUMBER, "1")


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("a" * 160, "1"),
        ("a" * 161, "2"),
        ("[" * 80, "1"),
        ("[" * 81, "2"),
        ("é" * 160, "1"),
        ("🙂" * 35, "1"),
        ("🙂" * 36, "2"),
    ],
)
async def test_segments_are_counted_like_twilio(env: TwilioEnv, body: str, segments: str) -> None:
    message = await env.client.messages.create_async(to=PERSON, from_=OUR_NUMBER, body=body)
    assert message.num_segments == segments


async def test_lists_filter_and_page_through_every_message(env: TwilioEnv) -> None:
    before = datetime.now(UTC) - timedelta(minutes=1)
    to_person = [(await _send(env, body=f"text {i}")).sid for i in range(5)]
    to_other = [(await _send(env, to=OTHER_PERSON)).sid for _ in range(2)]

    listed = await env.client.messages.list_async(to=PERSON, page_size=2)
    assert [m.sid for m in listed] == list(reversed(to_person))  # newest first, across 3 pages
    limited = await env.client.messages.list_async(from_=OUR_NUMBER, limit=3)
    assert [m.sid for m in limited] == list(reversed(to_person + to_other))[:3]

    page = await env.client.messages.page_async(to=PERSON, page_size=2)
    assert page.next_page_url is not None and "PageToken=PA" in page.next_page_url
    assert page.previous_page_url is None
    second = await page.next_page_async()
    assert second is not None and second.previous_page_url is not None
    assert [m.sid for m in second] == list(reversed(to_person))[2:4]

    # A message sent meanwhile does not shift the pages already handed out.
    await _send(env)
    third = await second.next_page_async()
    assert third is not None and [m.sid for m in third] == [to_person[0]]

    async def all_sent() -> bool:
        return all(m["date_sent"] for m in await env.messages())

    await eventually(all_sent, "every message sent")
    recent = await env.client.messages.list_async(date_sent_after=before)
    assert len(recent) == 8
    assert await env.client.messages.list_async(date_sent_before=before) == []
    assert await env.client.messages.list_async(date_sent_after=before + timedelta(hours=1)) == []


async def test_an_unknown_message_is_20404(env: TwilioEnv) -> None:
    sid = "SM" + "0" * 32
    with pytest.raises(TwilioRestException) as caught:
        await env.client.messages(sid).fetch_async()
    assert (caught.value.status, caught.value.code) == (404, 20404)
    assert f"/Messages/{sid}.json was not found" in caught.value.msg


async def test_unknown_paths_and_unsimulated_methods(env: TwilioEnv) -> None:
    auth = (TEST_TWILIO_ACCOUNT_SID, TEST_TWILIO_AUTH_TOKEN)
    missing = await env.control.get(
        f"/twilio/api/2010-04-01/Accounts/{TEST_TWILIO_ACCOUNT_SID}/Calls.json", auth=auth
    )
    assert (missing.status_code, missing.json()["code"]) == (404, 20404)
    deleted = await env.control.delete(
        f"{MESSAGES_PATH.removesuffix('.json')}/SM{'0' * 32}.json", auth=auth
    )
    assert (deleted.status_code, deleted.json()["code"]) == (405, 20004)
    anonymous = await env.control.get(MESSAGES_PATH)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, 20003)


async def test_a_rate_limit_fault_is_429_with_retry_after_and_sends_nothing(env: TwilioEnv) -> None:
    await env.set_faults(rate_limit_rate=1.0, providers=["twilio"])
    with pytest.raises(TwilioRestException) as caught:
        await _send(env)
    assert (caught.value.status, caught.value.code) == (429, 20429)
    response = await env.control.post(
        MESSAGES_PATH,
        data={"To": PERSON, "From": OUR_NUMBER, "Body": "hi"},
        auth=(TEST_TWILIO_ACCOUNT_SID, TEST_TWILIO_AUTH_TOKEN),
    )
    assert response.headers["retry-after"] == "1"
    await env.clear_faults()
    assert await env.messages() == [] and await env.outbox() == []


async def test_an_error_fault_is_500_and_sends_nothing(env: TwilioEnv) -> None:
    await env.set_faults(error_rate=1.0, providers=["twilio"])
    with pytest.raises(TwilioRestException) as caught:
        await _send(env)
    assert (caught.value.status, caught.value.code) == (500, 20500)
    await env.clear_faults()
    assert await env.messages() == [] and await env.outbox() == []


async def test_a_dropped_answer_still_sent_the_text_exactly_once(env: TwilioEnv) -> None:
    await env.set_faults(drop_response_after_commit={"path_prefix": MESSAGES_PATH})
    with pytest.raises(TwilioRestException) as caught:
        await _send(env, body="Payment released")
    assert (caught.value.status, caught.value.code) == (500, 20500)

    [message] = await env.client.messages.list_async(to=PERSON)
    assert message.body == "Payment released"
    assert [m["body"] for m in await env.outbox(PERSON)] == ["Payment released"]
    assert await env.receiver.callbacks_for(message.sid, count=2) == ["sent", "delivered"]

    # The fault was used up: the next send answers normally.
    assert (await _send(env)).status == "queued"


async def test_failed_callbacks_are_retried_and_can_be_resent(env: TwilioEnv) -> None:
    env.receiver.fail_first["sent"] = 2
    message = await _send(env)
    await env.receiver.callbacks_for(message.sid, count=2)

    async def sent_delivery() -> dict[str, Any]:
        [delivery] = [d for d in await env.deliveries() if d["id"] == f"{message.sid}-sent"]
        return delivery

    async def accepted() -> bool:
        return (await sent_delivery())["status"] == "delivered"

    await eventually(accepted, "the sent callback accepted")
    attempts = (await sent_delivery())["attempts"]
    assert [a["http_status"] for a in attempts] == [500, 500, 200]

    response = await env.control.post(f"/_sandbox/twilio/webhooks/{message.sid}-sent/resend")
    assert response.status_code == 200
    again = await env.receiver.wait_for(
        "status", lambda w: w.params["MessageStatus"] == "sent", count=2
    )
    assert {w.params["MessageSid"] for w in again} == {message.sid}
    assert again[0].idempotency_token == again[1].idempotency_token
    missing = await env.control.post("/_sandbox/twilio/webhooks/nope/resend")
    assert missing.status_code == 404


async def test_pending_deliveries_and_codes_survive_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {"data_file": tmp_path / "sandbox.sqlite3"}
    async with serve_receiver() as receiver:
        # A slow carrier, so the sandbox stops with the text still on its way.
        monkeypatch.setattr(carrier, "STEP_SECONDS", 0.5)
        async with sandbox_env(receiver, **config) as env:
            message = await _send(env)
            service = env.client.verify.v2.services(TEST_TWILIO_VERIFY_SERVICE_SID)
            await service.verifications.create_async(to=OTHER_PERSON, channel="sms")
            assert (await env.client.messages(message.sid).fetch_async()).status == "queued"
        monkeypatch.undo()
        assert receiver.received == []

        async with sandbox_env(receiver, **config) as env:
            assert await receiver.callbacks_for(message.sid, count=2) == ["sent", "delivered"]
            assert (await env.client.messages(message.sid).fetch_async()).status == "delivered"
            assert [m["provider_message_id"] for m in await env.outbox(PERSON)] == [message.sid]
            [code] = [m["code"] for m in await env.outbox(OTHER_PERSON)]
            service = env.client.verify.v2.services(TEST_TWILIO_VERIFY_SERVICE_SID)
            checked = await service.verification_checks.create_async(to=OTHER_PERSON, code=code)
            assert checked.status == "approved"


async def test_control_listing_shows_messages_by_recipient(env: TwilioEnv) -> None:
    first = await _send(env)
    await _send(env, to=OTHER_PERSON)
    listed = await env.messages(to="+1 555 123 0001")
    assert [m["sid"] for m in listed] == [first.sid]
    async with httpx.AsyncClient(base_url=env.url) as anonymous:
        assert (await anonymous.get("/_sandbox/twilio/opt_outs")).json() == {"data": []}
