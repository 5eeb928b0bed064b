"""Verify through the official SDK: codes sent to the outbox, checks, re-sends, Twilio's limits
(5 sends, 5 checks, 10 minutes) and its errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest.verify.v2.service import ServiceContext
from twilio.rest.verify.v2.service.verification import VerificationInstance
from twilio.rest.verify.v2.service.verification_check import VerificationCheckInstance

from sandbox.testing import TEST_TWILIO_ACCOUNT_SID, TEST_TWILIO_VERIFY_SERVICE_SID

from .twilio_support import PERSON, TwilioEnv, twilio_environment


@pytest.fixture(scope="module")
async def twilio_env() -> AsyncIterator[TwilioEnv]:
    async with twilio_environment() as env:
        yield env


@pytest.fixture
async def env(twilio_env: TwilioEnv) -> TwilioEnv:
    await twilio_env.reset()
    return twilio_env


def _service(env: TwilioEnv, sid: str = TEST_TWILIO_VERIFY_SERVICE_SID) -> ServiceContext:
    return env.client.verify.v2.services(sid)


async def _start(env: TwilioEnv, to: str = PERSON, channel: str = "sms") -> VerificationInstance:
    return await _service(env).verifications.create_async(to=to, channel=channel)


async def _check(env: TwilioEnv, code: str, **target: Any) -> VerificationCheckInstance:
    target = target or {"to": PERSON}
    return await _service(env).verification_checks.create_async(code=code, **target)


async def _codes(env: TwilioEnv, to: str = PERSON) -> list[str]:
    """Codes texted to `to`, oldest first."""
    return [m["code"] for m in reversed(await env.outbox(to))]


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


async def test_a_texted_code_approves_the_verification(env: TwilioEnv) -> None:
    verification = await _start(env)
    assert re.fullmatch(r"VE[0-9a-f]{32}", verification.sid or "")
    assert (verification.status, verification.valid, verification.channel) == (
        "pending",
        False,
        "sms",
    )
    assert (verification.to, verification.service_sid, verification.account_sid) == (
        PERSON,
        TEST_TWILIO_VERIFY_SERVICE_SID,
        TEST_TWILIO_ACCOUNT_SID,
    )
    assert verification.url == (
        f"https://verify.twilio.com/v2/Services/{TEST_TWILIO_VERIFY_SERVICE_SID}"
        f"/Verifications/{verification.sid}"
    )
    assert verification.date_created is not None
    assert verification.send_code_attempts is not None
    [attempt] = verification.send_code_attempts
    assert attempt["channel"] == "sms" and str(attempt["attempt_sid"]).startswith("VL")

    [sms] = await env.outbox(PERSON)
    assert re.fullmatch(r"\d{6}", sms["code"])
    assert sms["body"] == f"Your Tempwork verification code is: {sms['code']}"
    assert sms["provider_message_id"] == verification.sid

    wrong = await _check(env, _wrong(sms["code"]))
    assert (wrong.status, wrong.valid, wrong.sid) == ("pending", False, verification.sid)
    right = await _check(env, sms["code"])
    assert (right.status, right.valid, right.to) == ("approved", True, PERSON)
    assert right.sna_attempts_error_codes == []

    # Approved verifications are gone from the API, as Twilio deletes them.
    with pytest.raises(TwilioRestException) as caught:
        await _check(env, sms["code"])
    assert (caught.value.status, caught.value.code) == (404, 20404)
    with pytest.raises(TwilioRestException) as fetched:
        await _service(env).verifications(verification.sid).fetch_async()
    assert (fetched.value.status, fetched.value.code) == (404, 20404)
    [seen] = await env.get("/_sandbox/twilio/verifications", to=PERSON)
    assert (seen["status"], seen["code"], seen["check_attempts"]) == ("approved", sms["code"], 2)


async def test_starting_again_resends_the_same_code_up_to_five_times(env: TwilioEnv) -> None:
    first = await _start(env)
    for _ in range(4):
        again = await _start(env)
        assert again.sid == first.sid
    assert again.send_code_attempts is not None and len(again.send_code_attempts) == 5
    codes = await _codes(env)
    assert len(codes) == 5 and len(set(codes)) == 1

    with pytest.raises(TwilioRestException) as caught:
        await _start(env)
    assert (caught.value.status, caught.value.code) == (429, 60203)
    assert len(await _codes(env)) == 5

    # Canceling ends the lifecycle: the next start is a fresh verification.
    canceled = await _service(env).verifications(first.sid).update_async(status="canceled")
    assert canceled.status == "canceled"
    fresh = await _start(env)
    assert fresh.sid != first.sid
    assert fresh.send_code_attempts is not None and len(fresh.send_code_attempts) == 1


async def test_five_wrong_checks_lock_the_verification(env: TwilioEnv) -> None:
    await _start(env)
    [code] = await _codes(env)
    for _ in range(5):
        assert (await _check(env, _wrong(code))).status == "pending"
    with pytest.raises(TwilioRestException) as caught:
        await _check(env, code)
    assert (caught.value.status, caught.value.code) == (429, 60202)
    fetched = await _service(env).verifications(PERSON).fetch_async()  # by `To`, as Twilio allows
    assert fetched.status == "pending"


async def test_a_check_by_verification_sid(env: TwilioEnv) -> None:
    verification = await _start(env)
    [code] = await _codes(env)
    checked = await _check(env, code, verification_sid=verification.sid)
    assert (checked.status, checked.valid) == ("approved", True)


@pytest.mark.parametrize("ending", ["never started", "canceled", "expired", "approved by hand"])
async def test_a_check_without_a_pending_verification_is_20404(env: TwilioEnv, ending: str) -> None:
    code = "123456"
    if ending != "never started":
        verification = await _start(env)
        [code] = await _codes(env)
        if ending == "canceled":
            await _service(env).verifications(verification.sid).update_async(status="canceled")
        elif ending == "approved by hand":
            approved = (
                await _service(env).verifications(verification.sid).update_async(status="approved")
            )
            assert (approved.status, approved.valid) == ("approved", True)
        else:
            response = await env.control.post(
                f"/_sandbox/twilio/verifications/{verification.sid}/expire"
            )
            assert response.json()["status"] == "expired"
    with pytest.raises(TwilioRestException) as caught:
        await _check(env, code)
    assert (caught.value.status, caught.value.code) == (404, 20404)
    assert caught.value.msg.endswith(
        f"/v2/Services/{TEST_TWILIO_VERIFY_SERVICE_SID}/VerificationCheck was not found"
    )


@pytest.mark.parametrize(
    ("to", "channel", "status", "code"),
    [
        ("5551230001", "sms", 400, 60200),  # not E.164
        ("+15005550001", "sms", 400, 60200),  # magic invalid number
        ("+15005550009", "sms", 403, 60205),  # magic landline
        (PERSON, "carrier-pigeon", 400, 60200),
        (PERSON, "call", 400, 60200),  # a real channel the sandbox does not fake
    ],
)
async def test_refused_verifications_send_nothing(
    env: TwilioEnv, to: str, channel: str, status: int, code: int
) -> None:
    with pytest.raises(TwilioRestException) as caught:
        await _start(env, to=to, channel=channel)
    assert (caught.value.status, caught.value.code) == (status, code)
    if channel == "call":
        assert "not simulated" in caught.value.msg
    assert await env.outbox() == []


async def test_another_service_does_not_exist(env: TwilioEnv) -> None:
    other = "VA" + "9" * 32
    with pytest.raises(TwilioRestException) as caught:
        await _service(env, other).verifications.create_async(to=PERSON, channel="sms")
    assert (caught.value.status, caught.value.code) == (404, 20404)
    assert other in caught.value.msg


async def test_a_malformed_code_is_60200_and_costs_no_attempt(env: TwilioEnv) -> None:
    await _start(env)
    with pytest.raises(TwilioRestException) as caught:
        await _check(env, "12")
    assert (caught.value.status, caught.value.code) == (400, 60200)
    [seen] = await env.get("/_sandbox/twilio/verifications", to=PERSON)
    assert seen["check_attempts"] == 0
