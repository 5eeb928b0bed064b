"""Email (SendGrid) and SMS (Twilio) activities against the sandboxes and a real PostgreSQL:
each notice and code goes out once per step — also when the provider's answer is lost after
it sent (a worker crash mid-send looks the same) — and preferences are respected."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities, sendgrid_client
from activities.notices import NoticeActivities
from activities.sms import SmsActivities, twilio_client
from activities.store import StoreActivities
from core.accounts import create_user
from core.settings import Settings
from core.verification_codes import code_digest
from models import notices
from models.common import Role
from models.notices import NoticeDelivery
from models.tables import DELIVERIES, USERS
from models.users import UserPublic
from models.verification import (
    CodeEmailRequest,
    PhoneCodeCheck,
    PhoneVerificationRequest,
    StepStatus,
    VerificationPolicy,
    VerificationState,
)
from sandbox.testing import running_sandbox
from tests.conftest import sandbox_settings

ENV = ActivityEnvironment()


@pytest.fixture(scope="module")
async def sandbox() -> AsyncIterator[str]:
    async with running_sandbox() as url:
        yield url


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def settings(sandbox: str, database_url: str) -> AsyncIterator[Settings]:
    yield sandbox_settings(sandbox, database_url=database_url)
    async with httpx.AsyncClient(base_url=sandbox) as http:
        await http.delete("/_sandbox/faults")


@pytest.fixture
def email(settings: Settings, engine: AsyncEngine) -> EmailActivities:
    return EmailActivities(sendgrid_client(settings), engine, settings)


@pytest.fixture
def sms(settings: Settings, engine: AsyncEngine) -> SmsActivities:
    return SmsActivities(twilio_client(settings), engine, settings)


@pytest.fixture
def notices_(email: EmailActivities, sms: SmsActivities, engine: AsyncEngine) -> NoticeActivities:
    return NoticeActivities(email, sms, engine)


async def someone(engine: AsyncEngine, *, phone: str | None = None) -> UserPublic:
    user = await create_user(
        engine, f"p-{uuid.uuid4().hex[:10]}@example.com", "x" * 12, "Pat", Role.WORKER
    )
    if phone:  # the Verification workflow's projection is what records a verified number
        state = VerificationState(
            user_id=user.id,
            role=Role.WORKER,
            email_address=user.email,
            display_name="Pat",
            policy=VerificationPolicy(),
            version=1,
        )
        state.phone.status, state.phone.destination = StepStatus.VERIFIED, phone
        await ENV.run(StoreActivities(engine).project_verification, state)
    return user


def new_number() -> str:
    return f"+1628{uuid.uuid4().int % 10_000_000:07d}"


async def outbox(sandbox: str, to: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=sandbox) as http:
        return list((await http.get("/_sandbox/outbox", params={"to": to})).json()["data"])


async def lose_next_answer(sandbox: str, path: str) -> None:
    """The provider does the work and stores it; only the answer is lost (like a worker that
    died right after the call)."""
    async with httpx.AsyncClient(base_url=sandbox) as http:
        response = await http.post(
            "/_sandbox/faults",
            json={"drop_response_after_commit": {"path_prefix": path, "times": 1}},
        )
        response.raise_for_status()


async def delivery(engine: AsyncEngine, key: str, channel: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                sa.select(DELIVERIES).where(
                    DELIVERIES.c.dedupe_key == key, DELIVERIES.c.channel == channel
                )
            )
        ).one()


def funded(user: UserPublic, key: str) -> NoticeDelivery:
    return NoticeDelivery(
        user_id=user.id, dedupe_key=key, notice=notices.milestone_funded(1, 40_000, "usd")
    )


# --- email -----------------------------------------------------------------------------------


async def test_a_notice_is_emailed_once_however_often_the_step_runs(
    notices_: NoticeActivities, engine: AsyncEngine, sandbox: str
) -> None:
    user = await someone(engine)
    notice = funded(user, f"contract-x:{uuid.uuid4()}:funded-1")
    first = (await ENV.run(notices_.deliver, notice)).email
    again = (await ENV.run(notices_.deliver, notice)).email
    assert first.status == again.status == "sent"
    assert first.provider_message_id and again.provider_message_id == first.provider_message_id
    sent = await outbox(sandbox, user.email)
    assert len(sent) == 1 and sent[0]["subject"] == "Milestone 1 funded"


async def test_a_lost_sendgrid_answer_does_not_send_twice(
    notices_: NoticeActivities, engine: AsyncEngine, sandbox: str
) -> None:
    user = await someone(engine)
    notice = funded(user, f"contract-y:{uuid.uuid4()}:funded-1")
    await lose_next_answer(sandbox, "/sendgrid/v3/mail/send")
    with pytest.raises(ApplicationError) as lost:
        await ENV.run(notices_.deliver, notice)
    assert not lost.value.non_retryable  # Temporal retries it …
    retried = (
        await ENV.run(notices_.deliver, notice)
    ).email  # … and the retry finds the first send
    assert retried.status == "sent" and retried.provider_message_id
    assert len(await outbox(sandbox, user.email)) == 1
    row = await delivery(engine, notice.dedupe_key, "email")
    assert row.status == "sent" and row.attempts == 2


async def test_email_notices_off_skips_all_but_essential_ones(
    notices_: NoticeActivities, engine: AsyncEngine, sandbox: str
) -> None:
    user = await someone(engine)
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(USERS).where(USERS.c.id == user.id).values(email_notifications=False)
        )
    skipped = (await ENV.run(notices_.deliver, funded(user, f"k:{uuid.uuid4()}"))).email
    assert skipped.status == "skipped"
    legal = NoticeDelivery(
        user_id=user.id, dedupe_key=f"k:{uuid.uuid4()}", notice=notices.adverse_action("x")
    )
    assert (await ENV.run(notices_.deliver, legal)).email.status == "sent"
    assert [m["subject"] for m in await outbox(sandbox, user.email)] == [legal.notice.subject]


async def test_a_verification_code_retried_is_the_same_code_sent_once(
    email: EmailActivities, engine: AsyncEngine, settings: Settings, sandbox: str
) -> None:
    user = await someone(engine)
    request = CodeEmailRequest(
        user_id=user.id,
        to=user.email,
        display_name="Pat",
        send_number=1,
        expires_at=datetime.now(UTC) + timedelta(minutes=10),
        dedupe_key=f"verification-{user.id}:email-code:1",
    )
    await lose_next_answer(sandbox, "/sendgrid/v3/mail/send")
    with pytest.raises(ApplicationError):
        await ENV.run(email.send_verification_code, request)
    sent = await ENV.run(email.send_verification_code, request)
    messages = await outbox(sandbox, user.email)
    assert len(messages) == 1 and messages[0]["code"]
    secret = settings.verification_code_secret.get_secret_value()
    assert sent.code_digest == code_digest(secret, user.id, messages[0]["code"])
    second = await ENV.run(
        email.send_verification_code,
        request.model_copy(update={"send_number": 2, "dedupe_key": f"{request.dedupe_key}x"}),
    )
    assert second.code_digest != sent.code_digest  # a new request is a new code


# --- SMS -------------------------------------------------------------------------------------


async def test_a_notice_is_texted_once_to_a_verified_number(
    notices_: NoticeActivities, engine: AsyncEngine, sandbox: str
) -> None:
    number = new_number()
    user = await someone(engine, phone=number)
    notice = funded(user, f"contract-z:{uuid.uuid4()}:funded-1")
    await lose_next_answer(sandbox, "/twilio/api/2010-04-01/Accounts")
    with pytest.raises(ApplicationError):
        await ENV.run(notices_.deliver, notice)
    retried = (await ENV.run(notices_.deliver, notice)).sms
    assert (
        retried is not None
        and retried.status == "sent"
        and (retried.provider_message_id or "").startswith("SM")
    )
    texts = await outbox(sandbox, number)
    assert len(texts) == 1 and texts[0]["body"] == notice.notice.sms


async def test_no_text_without_a_verified_number_or_after_stop(
    notices_: NoticeActivities, engine: AsyncEngine, sandbox: str
) -> None:
    unverified = await someone(engine)
    no_number = (await ENV.run(notices_.deliver, funded(unverified, f"k:{uuid.uuid4()}"))).sms
    assert no_number is not None and no_number.detail == ("no verified phone number")
    number = new_number()
    user = await someone(engine, phone=number)
    async with httpx.AsyncClient(base_url=sandbox) as http:  # the person texts STOP
        (
            await http.post("/_sandbox/twilio/inbound", json={"from": number, "body": "STOP"})
        ).raise_for_status()
    # Our webhook is not wired here: Twilio's own refusal (21610) must be enough.
    outcome = (await ENV.run(notices_.deliver, funded(user, f"k:{uuid.uuid4()}"))).sms
    assert outcome is not None
    assert outcome.status == "skipped" and "STOP" in (outcome.detail or "")
    async with engine.connect() as conn:
        texts_on = (
            await conn.execute(sa.select(USERS.c.sms_notifications).where(USERS.c.id == user.id))
        ).scalar_one()
    assert texts_on is False
    assert all("funded" not in m["body"] for m in await outbox(sandbox, number))


async def test_twilio_verify_errors_become_typed_refusals(sms: SmsActivities) -> None:
    with pytest.raises(ApplicationError) as invalid:
        await ENV.run(sms.start_phone_verification, PhoneVerificationRequest(to="+15005550001"))
    assert invalid.value.type == "InvalidPhoneNumber" and invalid.value.non_retryable
    number = new_number()
    await ENV.run(sms.start_phone_verification, PhoneVerificationRequest(to=number))
    for _ in range(5):
        wrong = await ENV.run(sms.check_phone_verification, PhoneCodeCheck(to=number, code="0000"))
        assert wrong.approved is False
    with pytest.raises(ApplicationError) as locked:
        await ENV.run(sms.check_phone_verification, PhoneCodeCheck(to=number, code="0000"))
    assert locked.value.type == "TooManyChecks"
    with pytest.raises(ApplicationError) as nothing:
        await ENV.run(sms.check_phone_verification, PhoneCodeCheck(to=new_number(), code="1234"))
    assert nothing.value.type == "NoPendingVerification"
