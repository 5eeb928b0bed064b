"""Mail Send through the official SDK: what is accepted, what lands in the outbox, what is
refused and how (status, SendGrid's error shape)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from python_http_client.exceptions import BadRequestsError, UnauthorizedError
from sendgrid.helpers.mail import Bcc, Cc, CustomArg, Mail, MailSettings, SandBoxMode

from sandbox.testing import sendgrid_client

from .sendgrid_support import SendGridEnv, error_body, sendgrid_env

SENDER = "noreply@tempwork.test"
TEMPLATE = "d-5f0c6a1e2b3d4c5e6f708192a3b4c5d6"


@pytest.fixture(scope="module")
async def module_env() -> AsyncIterator[SendGridEnv]:
    async with sendgrid_env() as env:
        yield env


@pytest.fixture
async def env(module_env: SendGridEnv) -> SendGridEnv:
    await module_env.reset()
    return module_env


def verification_email(to: str, code: str = "482913") -> Mail:
    """The shape of the app's verification email: a dynamic template with a code."""
    mail = Mail(from_email=(SENDER, "Tempwork"), to_emails=to)
    mail.template_id = TEMPLATE
    mail.dynamic_template_data = {"code": code, "subject": "Your Tempwork code", "name": "Wes"}
    mail.custom_arg = CustomArg("notification_id", "ntf-1")
    return mail


def valid_request(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "personalizations": [{"to": [{"email": "wes@example.com"}]}],
        "from": {"email": SENDER},
        "subject": "Hello",
        "content": [{"type": "text/plain", "value": "Hi Wes"}],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def refused(env: SendGridEnv, request: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(BadRequestsError) as caught:
        await env.send(request)
    assert caught.value.status_code == 400
    errors: list[dict[str, Any]] = error_body(caught.value)["errors"]
    assert all(set(e) == {"message", "field", "help"} for e in errors)
    return errors


async def test_a_dynamic_template_send_lands_in_the_outbox_with_its_code(env: SendGridEnv) -> None:
    response = await env.send(verification_email("Wes@Example.com"))

    assert response.status_code == 202
    assert response.body == b""
    x_message_id = response.headers["X-Message-Id"]
    assert len(x_message_id) == 22
    [letter] = await env.outbox("wes@example.com")
    assert letter["channel"] == "email"
    assert (letter["to"], letter["from"]) == ("Wes@Example.com", SENDER)
    assert letter["subject"] == "Your Tempwork code"
    assert letter["code"] == "482913"
    assert "code: 482913" in letter["body"]
    assert letter["provider_message_id"] == x_message_id
    details = letter["details"]
    assert details["template_id"] == TEMPLATE
    assert details["dynamic_template_data"]["name"] == "Wes"
    assert details["custom_args"] == {"notification_id": "ntf-1"}
    assert details["msg_id"].startswith(f"{x_message_id}.")


async def test_every_recipient_gets_a_copy_with_plain_text_and_personal_subjects(
    env: SendGridEnv,
) -> None:
    mail = Mail(
        from_email=SENDER,
        to_emails="ana@example.com",
        subject="Shift reminder",
        plain_text_content="Your shift starts at 9.",
        html_content="<p>Your shift starts at <b>9</b>.</p>",
    )
    mail.add_cc(Cc("ops@example.com"))
    mail.add_bcc(Bcc("audit@example.com"))
    mail.send_at = 1_700_000_000  # accepted and recorded; the sandbox delivers at once

    response = await env.send(mail)

    assert response.status_code == 202
    copies = await env.copies(x_message_id=response.headers["X-Message-Id"])
    assert sorted((c["recipient_type"], c["to_email"]) for c in copies) == [
        ("bcc", "audit@example.com"),
        ("cc", "ops@example.com"),
        ("to", "ana@example.com"),
    ]
    assert len({c["msg_id"] for c in copies}) == 3
    assert {c["send_at"] for c in copies} == {1_700_000_000}
    for address in ("ana@example.com", "ops@example.com", "audit@example.com"):
        [letter] = await env.outbox(address)
        assert letter["body"] == "Your shift starts at 9."
        assert letter["subject"] == "Shift reminder"
        assert letter["code"] is None


async def test_validation_errors_list_every_problem_in_sendgrids_shape(env: SendGridEnv) -> None:
    errors = await refused(
        env,
        {
            "personalizations": [{"to": [{"email": "not-an-address"}], "custom_args": {"n": 1}}],
            "from": {"email": "also bad"},
            "content": [{"type": "text/plain", "value": ""}],
            "template_id": "welcome-email",
            "categories": [f"c{i}" for i in range(11)],
        },
    )

    by_field = {e["field"]: e["message"] for e in errors}
    assert by_field["from.email"] == "The from email does not contain a valid address."
    assert by_field["personalizations.0.to.0.email"] == "Does not contain a valid address."
    assert by_field["personalizations.0.custom_args.n"] == (
        "Invalid type. Expected: string, given: integer."
    )
    assert by_field["content.0.value"] == (
        "The content value must be a string at least one character in length."
    )
    assert "d-" in by_field["template_id"]
    assert by_field["categories"].startswith("Too many categories.")
    assert errors[0]["help"].startswith("http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/")
    assert await env.copies() == []  # nothing was sent


@pytest.mark.parametrize(
    ("request_body", "field", "message_start"),
    [
        (valid_request(personalizations=None), "personalizations", "The personalizations field"),
        (valid_request(personalizations=[{"cc": [{"email": "a@example.com"}]}]),
         "personalizations.0.to", "The to array is required"),
        (valid_request(**{"from": None}), "from.email", "The from object must be provided"),
        (valid_request(subject=None), "subject", "The subject is required."),
        (valid_request(content=None), "content", "Unless a valid template_id is provided"),
        (valid_request(personalizations=[{"to": [{"email": f"u{i}@example.com"}]}
                                         for i in range(1001)]),
         "personalizations", "The personalization block is limited to 1000"),
        (valid_request(personalizations=[{"to": [{"email": f"u{i}@example.com"} for i in range(1001)]}]),
         "personalizations", "There is a limit of 1000 total recipients"),
        (valid_request(custom_args={"blob": "x" * 10_001}), "personalizations.0.custom_args",
         "The custom_args for a personalization"),
        (valid_request(personalizations=[{"to": [{"email": "a@example.com"}],
                                          "bcc": [{"email": "A@example.com"}]}]),
         "personalizations.0", "Each email address in the personalization block"),
    ],
)  # fmt: skip
async def test_each_rule_is_refused_with_its_field(
    env: SendGridEnv, request_body: dict[str, Any], field: str, message_start: str
) -> None:
    errors = await refused(env, request_body)
    assert any(e["field"] == field and e["message"].startswith(message_start) for e in errors), (
        errors
    )


async def test_unknown_fields_are_ignored_like_sendgrid_does(env: SendGridEnv) -> None:
    response = await env.send(valid_request(template_data={"x": 1}))
    assert response.status_code == 202
    errors = await refused(env, valid_request(personalizations=[{"to:": [{"email": "a@b.co"}]}]))
    assert [e["field"] for e in errors] == ["personalizations.0.to"]


async def test_sandbox_mode_validates_but_sends_nothing(env: SendGridEnv) -> None:
    mail = verification_email("wes@example.com")
    mail.mail_settings = MailSettings(sandbox_mode=SandBoxMode(True))

    response = await env.send(mail)

    assert response.status_code == 200
    assert "X-Message-Id" not in response.headers
    assert await env.outbox("wes@example.com") == []
    assert await env.copies() == []


async def test_a_wrong_or_missing_api_key_is_401(env: SendGridEnv) -> None:
    with pytest.raises(UnauthorizedError) as caught:
        await env.send(verification_email("wes@example.com"), sendgrid_client(env.url, "SG.x.y"))
    assert caught.value.status_code == 401
    assert error_body(caught.value) == {
        "errors": [
            {
                "message": "The provided authorization grant is invalid, expired, or revoked",
                "field": None,
                "help": None,
            }
        ]
    }
    response = await env.control.post("/sendgrid/v3/mail/send", json=valid_request())
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "authorization required"
    assert await env.copies() == []


async def test_unknown_paths_and_methods_answer_in_sendgrids_shape(env: SendGridEnv) -> None:
    auth = {"Authorization": f"Bearer {env.sdk.api_key}"}
    missing = await env.control.get("/sendgrid/v3/nothing/here", headers=auth)
    assert (missing.status_code, missing.json()["errors"][0]["message"]) == (404, "not found")
    wrong = await env.control.get("/sendgrid/v3/mail/send", headers=auth)
    assert (wrong.status_code, wrong.json()["errors"][0]["message"]) == (405, "method not allowed")
    garbled = await env.control.post(
        "/sendgrid/v3/mail/send", headers={**auth, "Content-Type": "application/json"}, content=b"{"
    )
    assert (garbled.status_code, garbled.json()["errors"][0]["message"]) == (400, "Bad Request")
