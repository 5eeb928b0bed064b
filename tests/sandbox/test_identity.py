"""Stripe Identity VerificationSessions through the official SDK: the hosted page, the
processing → verified / requires_input verdicts and their signed events, cancel, redact,
lists, single-use links and refused parameters."""

from __future__ import annotations

from typing import Any, cast

import httpx
import pytest
import stripe

from .conftest import WebhookReceiver
from .helpers import objects


async def _session(client: stripe.StripeClient, **params: Any) -> Any:
    payload = {"type": "document", **params}
    return await client.v1.identity.verification_sessions.create_async(params=cast(Any, payload))


async def _event(receiver: WebhookReceiver, event_type: str, session_id: str) -> stripe.Event:
    """The (first) verified webhook of `event_type` about the session."""
    found = await receiver.wait_for(
        f"identity.verification_session.{event_type}", lambda e: e.data.object.id == session_id
    )
    return found[0]


async def test_valid_document_on_the_hosted_page_verifies(
    client: stripe.StripeClient, receiver: WebhookReceiver, sandbox_url: str
) -> None:
    created = await _session(
        client,
        client_reference_id="user-17",
        metadata={"user_id": "17"},
        options={"document": {"require_matching_selfie": True}},
        provided_details={"email": "wes@example.com"},
        return_url="https://tempwork.example/verified",
    )
    assert (created.object, created.status, created.livemode) == (
        "identity.verification_session",
        "requires_input",
        False,
    )
    assert created.id.startswith("vs_") and created.client_secret.startswith(f"{created.id}_")
    assert created.url.startswith(f"{sandbox_url}/stripe/identity/verify/")
    assert created.options.document.require_matching_selfie is True
    assert "provided_details" not in created and "verified_outputs" not in created
    await _event(receiver, "created", created.id)

    async with httpx.AsyncClient() as browser:
        page = await browser.get(created.url)
        assert page.status_code == 200
        assert "Submit a valid document" in page.text
        assert "Submit a document that fails" in page.text
        done = await browser.post(created.url, data={"outcome": "verified"})
    assert (done.status_code, done.headers["location"]) == (
        303,
        "https://tempwork.example/verified",
    )

    processing = await _event(receiver, "processing", created.id)
    assert processing.data.object.url is None  # no way in while the checks run
    verified = await _event(receiver, "verified", created.id)
    assert verified.data.object.last_error is None
    session: Any = await client.v1.identity.verification_sessions.retrieve_async(
        created.id,
        params={"expand": ["verified_outputs", "verified_outputs.dob", "last_verification_report"]},
    )
    assert (session.status, session.url, session.client_secret) == ("verified", None, None)
    outputs = session.verified_outputs
    assert (outputs.first_name, outputs.last_name, outputs.dob.year) == ("Jenny", "Rosen", 1901)
    report = session.last_verification_report
    assert (report.object, report.document.status, report.selfie.status) == (
        "identity.verification_report",
        "verified",
        "verified",
    )


async def test_failing_document_returns_to_requires_input_with_last_error(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    created = await _session(client)
    async with httpx.AsyncClient() as browser:
        done = await browser.get(
            created.url, params={"outcome": "requires_input", "error": "document_expired"}
        )
    assert done.status_code == 200  # no return_url: a "you're done" page

    event = await _event(receiver, "requires_input", created.id)
    assert event.data.object.last_error.code == "document_expired"
    assert event.data.object.last_error.reason == "The provided identity document has expired."
    session: Any = await client.v1.identity.verification_sessions.retrieve_async(created.id)
    assert session.status == "requires_input" and session.url != created.url
    async with httpx.AsyncClient() as browser:
        assert (await browser.get(created.url)).status_code == 410  # used once already
        assert (await browser.get(session.url)).status_code == 200  # the retry link works


async def test_control_endpoints_verify_and_fail(
    client: stripe.StripeClient, control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    failing = await _session(client, type="id_number")
    passing = await _session(client)
    failed = await control.post(
        f"/_sandbox/stripe/identity/verification_sessions/{failing.id}/fail",
        json={"code": "id_number_mismatch"},
    )
    verified = await control.post(
        f"/_sandbox/stripe/identity/verification_sessions/{passing.id}/verify"
    )
    assert failed.json()["status"] == verified.json()["status"] == "processing"

    event = await _event(receiver, "requires_input", failing.id)
    assert event.data.object.last_error.code == "id_number_mismatch"
    await _event(receiver, "verified", passing.id)
    again = await control.post(
        f"/_sandbox/stripe/identity/verification_sessions/{passing.id}/verify"
    )
    assert again.status_code == 409
    unknown = await control.post(
        f"/_sandbox/stripe/identity/verification_sessions/{failing.id}/fail",
        json={"code": "bad_vibes"},
    )
    assert unknown.status_code == 422


async def test_declining_consent_skips_processing(
    client: stripe.StripeClient, control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    created = await _session(client)
    await control.post(
        f"/_sandbox/stripe/identity/verification_sessions/{created.id}/fail",
        json={"code": "consent_declined"},
    )
    event = await _event(receiver, "requires_input", created.id)
    assert event.data.object.last_error.code == "consent_declined"
    assert receiver.of_type("identity.verification_session.processing") == []


async def test_cancel_closes_the_session_for_good(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    created = await _session(client)
    canceled = await client.v1.identity.verification_sessions.cancel_async(created.id)
    assert (canceled.status, canceled.url, canceled.client_secret) == ("canceled", None, None)
    await _event(receiver, "canceled", created.id)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.identity.verification_sessions.cancel_async(created.id)
    assert "requires_input" in str(caught.value.user_message)
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.identity.verification_sessions.update_async(
            created.id, params={"metadata": {"a": "b"}}
        )
    async with httpx.AsyncClient() as browser:
        assert (await browser.get(created.url)).status_code == 410


async def test_update_while_requires_input(client: stripe.StripeClient) -> None:
    created = await _session(client, metadata={"keep": "1", "drop": "2"})
    updated: Any = await client.v1.identity.verification_sessions.update_async(
        created.id,
        params={
            "type": "id_number",
            "metadata": {"drop": ""},
            "provided_details": {"phone": "+15555550123"},
            "expand": ["provided_details"],
        },
    )
    assert (updated.type, updated.metadata.to_dict()) == ("id_number", {"keep": "1"})
    assert updated.provided_details.phone == "+15555550123"


async def test_list_pages_with_cursors_and_filters(
    client: stripe.StripeClient, control: httpx.AsyncClient
) -> None:
    made = [await _session(client, client_reference_id=f"user-{n}") for n in range(3)]
    sessions = client.v1.identity.verification_sessions
    first = await sessions.list_async(params={"limit": 2})
    assert [s.id for s in first.data] == [made[2].id, made[1].id] and first.has_more
    second = await sessions.list_async(params={"limit": 2, "starting_after": first.data[-1].id})
    assert [s.id for s in second.data] == [made[0].id] and not second.has_more
    mine = await sessions.list_async(params={"client_reference_id": "user-1"})
    assert [s.id for s in mine.data] == [made[1].id]
    await sessions.cancel_async(made[0].id)
    canceled = await sessions.list_async(params={"status": "canceled"})
    assert [s.id for s in canceled.data] == [made[0].id]
    assert len(await objects(control, "identity.verification_session")) == 3


async def test_redaction_erases_personal_data_and_says_so(
    client: stripe.StripeClient, control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    created = await _session(
        client, metadata={"user_id": "17"}, provided_details={"email": "w@x.co"}
    )
    await control.post(f"/_sandbox/stripe/identity/verification_sessions/{created.id}/verify")
    await _event(receiver, "verified", created.id)

    redacting: Any = await client.v1.identity.verification_sessions.redact_async(created.id)
    assert redacting.redaction.status == "processing"
    event = await _event(receiver, "redacted", created.id)
    assert event.data.object.redaction.status == "redacted"
    session: Any = await client.v1.identity.verification_sessions.retrieve_async(
        created.id, params={"expand": ["verified_outputs", "provided_details"]}
    )
    assert session.metadata.to_dict() == {}
    assert session.verified_outputs.first_name == "[redacted]"
    assert session.provided_details.email == "[redacted]"
    past = await client.v1.events.list_async(
        params={"type": "identity.verification_session.created"}
    )
    assert all(
        e.data.object.metadata.to_dict() == {} for e in past.data if e.data.object.id == created.id
    )


async def test_unknown_and_unsimulated_parameters_are_refused(client: stripe.StripeClient) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"type": "document", "colour": "blue"}, "parameter_unknown", "colour"),
        (
            {"type": "document", "verification_flow": "vf_1"},
            "parameter_not_simulated",
            "verification_flow",
        ),
        (
            {"type": "document", "related_customer": "cus_1"},
            "parameter_not_simulated",
            "related_customer",
        ),
        (
            {"type": "document", "options": {"document": {"require_face": True}}},
            "parameter_unknown",
            "options[document][require_face]",
        ),
        ({}, "parameter_missing", "type"),
    ]
    for params, code, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            await client.v1.identity.verification_sessions.create_async(params=cast(Any, params))
        assert (caught.value.code, caught.value.param) == (code, param), params
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await client.v1.identity.verification_sessions.retrieve_async("vs_nope")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
