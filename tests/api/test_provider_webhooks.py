"""Twilio, SendGrid, the check provider and Stripe Identity webhooks: a bad or missing
signature changes nothing; a redelivered event has one effect; an event about someone we do
not know is answered exactly like one about someone we do."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import stripe
from twilio.request_validator import RequestValidator

from models.tables import USERS, VERIFICATIONS, WEBHOOK_EVENTS
from sandbox.sendgrid.keys import sign
from tests.conftest import (
    ApiClient,
    Infra,
    eventually,
    pass_background_check,
    problem,
    sign_up,
)


async def events_recorded(infra: Infra, provider: str, mentioning: str | None = None) -> int:
    """Events kept from ``provider`` (only those whose payload mentions ``mentioning``: other
    tests' deliveries may still be arriving in the shared database)."""
    query = sa.select(sa.func.count()).where(WEBHOOK_EVENTS.c.provider == provider)
    if mentioning is not None:
        query = query.where(sa.cast(WEBHOOK_EVENTS.c.payload, sa.Text).contains(mentioning))
    async with infra.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def deliveries(infra: Infra, provider: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=infra.sandbox_url) as sandbox:
        response = await sandbox.get(f"/_sandbox/{provider}/webhooks")
        response.raise_for_status()
        return list(response.json()["data"])


async def resend(infra: Infra, provider: str, delivery_id: str) -> None:
    async with httpx.AsyncClient(base_url=infra.sandbox_url) as sandbox:
        (
            await sandbox.post(f"/_sandbox/{provider}/webhooks/{delivery_id}/resend")
        ).raise_for_status()


async def delivered(infra: Infra, provider: str, delivery_id: str, attempts: int) -> None:
    async def attempts_of() -> int:
        found = [d for d in await deliveries(infra, provider) if d["id"] == delivery_id]
        return len(found[0]["attempts"]) if found else 0

    await eventually(attempts_of, lambda n: n >= attempts)


@pytest.mark.parametrize(
    ("provider", "header"),
    [
        ("stripe", "Stripe-Signature"),
        ("checks", "X-Checkr-Signature"),
        ("twilio", "X-Twilio-Signature"),
        ("sendgrid", "X-Twilio-Email-Event-Webhook-Signature"),
    ],
)
async def test_a_signature_header_that_is_not_ascii_is_refused_not_a_500(
    http: ApiClient, provider: str, header: str
) -> None:
    # Found by fuzzing: hmac.compare_digest raises TypeError on non-ASCII text, which the
    # Stripe and check-provider handlers answered 500 (a provider would retry it for days).
    for signature in (b"\xe9", b"t=1,v1=\xe9"):
        headers = {header.encode(): signature, b"X-Twilio-Email-Event-Webhook-Timestamp": b"1"}
        problem(await http.post(f"/webhooks/{provider}", content=b"{}", headers=headers), 400)


# --- Twilio ------------------------------------------------------------------------------------


async def test_twilio_forged_or_unsigned_requests_change_nothing(
    http: ApiClient, infra: Infra
) -> None:
    worker = await sign_up(http, "worker", verified=True)
    form = {
        "MessageSid": f"SM{uuid.uuid4().hex}",
        "From": worker.phone or "",
        "To": infra.settings.twilio_from_number,
        "Body": "STOP",
    }
    before = await events_recorded(infra, "twilio")
    problem(await http.post("/webhooks/twilio", data=form), 400)
    forged = RequestValidator("not-our-token").compute_signature(
        f"{infra.api_url}/webhooks/twilio", form
    )
    problem(
        await http.post("/webhooks/twilio", data=form, headers={"X-Twilio-Signature": forged}), 400
    )
    assert await events_recorded(infra, "twilio") == before
    assert (await worker.get("/v1/me/notification-preferences")).json()["sms"] is True
    # Correctly signed, it works: the signature, not the sender's address, is the proof.
    good = RequestValidator(infra.settings.twilio_auth_token.get_secret_value()).compute_signature(
        f"{infra.api_url}/webhooks/twilio", form
    )
    accepted = await http.post("/webhooks/twilio", data=form, headers={"X-Twilio-Signature": good})
    assert accepted.status_code == 200 and accepted.headers["content-type"].startswith("text/xml")
    assert (await worker.get("/v1/me/notification-preferences")).json()["sms"] is False


async def test_a_stop_from_an_unknown_number_is_answered_the_same(
    http: ApiClient, infra: Infra
) -> None:
    form = {"MessageSid": f"SM{uuid.uuid4().hex}", "From": "+19995550100", "Body": "STOP"}
    signature = RequestValidator(
        infra.settings.twilio_auth_token.get_secret_value()
    ).compute_signature(f"{infra.api_url}/webhooks/twilio", form)
    answer = await http.post(
        "/webhooks/twilio", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert answer.status_code == 200 and "<Response></Response>" in answer.text


# --- SendGrid ----------------------------------------------------------------------------------


def sendgrid_headers(infra: Infra, payload: str, *, key: str | None = None) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signing_key = key or infra.sandbox_secrets["TEMPWORK_SANDBOX_SENDGRID_SIGNING_KEY"]
    return {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        "X-Twilio-Email-Event-Webhook-Signature": sign(signing_key, timestamp, payload),
    }


async def test_sendgrid_signatures_guard_the_delivery_records(
    http: ApiClient, infra: Infra
) -> None:
    from sandbox.sendgrid.keys import new_signing_key

    event = {
        "email": "someone@example.com",
        "event": "spamreport",
        "sg_event_id": f"ev-{uuid.uuid4().hex}",
        "sg_message_id": "x.filter",
        "timestamp": int(time.time()),
    }
    payload = json.dumps([event])
    before = await events_recorded(infra, "sendgrid")
    problem(await http.post("/webhooks/sendgrid", content=payload), 400)
    stranger_key, _ = new_signing_key()
    problem(
        await http.post(
            "/webhooks/sendgrid",
            content=payload,
            headers=sendgrid_headers(infra, payload, key=stranger_key),
        ),
        400,
    )
    signed_other = sendgrid_headers(infra, json.dumps([{**event, "email": "other@example.com"}]))
    problem(await http.post("/webhooks/sendgrid", content=payload, headers=signed_other), 400)
    assert await events_recorded(infra, "sendgrid") == before
    ok = await http.post(
        "/webhooks/sendgrid", content=payload, headers=sendgrid_headers(infra, payload)
    )
    assert ok.status_code == 200 and await events_recorded(infra, "sendgrid") == before + 1


async def test_a_redelivered_sendgrid_batch_counts_once(http: ApiClient, infra: Infra) -> None:
    worker = await sign_up(http, "worker")
    await worker.post("/v1/verifications/email")
    batches = await eventually(
        lambda: deliveries(infra, "sendgrid"),
        lambda found: any(
            worker.email in json.dumps(d) and d["status"] == "delivered" for d in found
        ),
    )
    batch = next(d for d in batches if worker.email in json.dumps(d) and d["status"] == "delivered")
    recorded = await events_recorded(infra, "sendgrid", worker.email)
    assert recorded >= 1
    await resend(infra, "sendgrid", batch["id"])
    await delivered(infra, "sendgrid", batch["id"], attempts=len(batch["attempts"]) + 1)
    assert await events_recorded(infra, "sendgrid", worker.email) == recorded


# --- the check provider ------------------------------------------------------------------------


def checks_headers(secret: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Checkr-Signature": digest}


async def verification_version(infra: Infra, user_id: str) -> int:
    async with infra.engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    sa.select(VERIFICATIONS.c.version).where(VERIFICATIONS.c.user_id == user_id)
                )
            ).scalar_one()
        )


async def test_check_provider_events_are_signed_and_counted_once(
    http: ApiClient, infra: Infra
) -> None:
    worker = await sign_up(http, "worker")
    await pass_background_check(worker, "clear")
    async with infra.engine.connect() as conn:
        candidate = (
            await conn.execute(
                sa.select(VERIFICATIONS.c.background_candidate_id).where(
                    VERIFICATIONS.c.user_id == worker.id
                )
            )
        ).scalar_one()
    async with httpx.AsyncClient(base_url=infra.sandbox_url) as sandbox:
        events = (await sandbox.get("/_sandbox/checks/objects", params={"type": "event"})).json()
    (event_id,) = [
        e["id"]
        for e in events["data"]
        if e["type"] == "report.completed" and e["data"]["object"]["candidate_id"] == candidate
    ]
    completed = next(d for d in await deliveries(infra, "checks") if d["id"] == event_id)
    assert completed["status"] == "delivered"
    version = await verification_version(infra, worker.id)
    await resend(infra, "checks", completed["id"])
    await delivered(infra, "checks", completed["id"], attempts=len(completed["attempts"]) + 1)
    assert await verification_version(infra, worker.id) == version  # no second effect

    forged = {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "report.completed",
        "data": {"object": {"id": "rpt_x", "candidate_id": "cand_x", "result": "clear"}},
    }
    body = json.dumps(forged).encode()
    before = await events_recorded(infra, "checks")
    problem(await http.post("/webhooks/checks", content=body), 400)
    problem(
        await http.post("/webhooks/checks", content=body, headers=checks_headers("wrong", body)),
        400,
    )
    assert await events_recorded(infra, "checks") == before


async def test_a_signed_event_with_characters_postgres_refuses_is_kept_not_a_500(
    http: ApiClient, infra: Infra
) -> None:
    # Signed, so it is the provider's word: kept with U+FFFD in place of what JSONB refuses,
    # answered 200 once (a 500 would make the provider retry it for days).
    marker = uuid.uuid4().hex
    event = {
        "id": f"evt_{marker}\u0000",
        "object": "event",
        "type": "report.completed",
        "data": {"object": {"id": "rpt_\ud800", "candidate_id": f"cand_{marker}", "result": "x"}},
    }
    body = json.dumps(event).encode()  # the escapes travel as JSON's \u0000 and \ud800
    headers = checks_headers(infra.sandbox_secrets["TEMPWORK_CHECKS_WEBHOOK_SECRET"], body)
    for _ in range(2):
        assert (
            await http.post("/webhooks/checks", content=body, headers=headers)
        ).status_code == 200
    assert await events_recorded(infra, "checks", marker) == 1


@pytest.mark.parametrize("provider", ["checks", "stripe"])
async def test_unknown_candidates_and_sessions_reveal_nothing(
    http: ApiClient, infra: Infra, provider: str
) -> None:
    event: dict[str, Any]
    if provider == "checks":
        event = {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": "report.completed",
            "data": {
                "object": {"id": "rpt_unknown", "candidate_id": "cand_unknown", "result": "clear"}
            },
        }
        body = json.dumps(event).encode()
        secret = infra.settings.checks_webhook_secret.get_secret_value()
        answer = await http.post(
            "/webhooks/checks", content=body, headers=checks_headers(secret, body)
        )
    else:
        event = {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": "identity.verification_session.verified",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": "vs_unknown",
                    "object": "identity.verification_session",
                    "metadata": {"user_id": str(uuid.uuid4())},
                    "status": "verified",
                }
            },
        }
        body = json.dumps(event).encode()
        at = int(time.time())
        secret = infra.settings.stripe_webhook_secret.get_secret_value()
        signature = stripe.WebhookSignature._compute_signature(f"{at}.{body.decode()}", secret)
        answer = await http.post(
            "/webhooks/stripe",
            content=body,
            headers={
                "Stripe-Signature": f"t={at},v1={signature}",
                "Content-Type": "application/json",
            },
        )
    assert answer.status_code == 200 and answer.json() == {"received": True}


async def test_identity_results_arrive_by_signed_stripe_webhook(
    http: ApiClient, infra: Infra
) -> None:
    worker = await sign_up(http, "worker")
    started = await worker.post("/v1/verifications/identity")
    url = next(s["url"] for s in started.json()["steps"] if s["step"] == "identity")
    await http.get(url, params={"outcome": "verified"})

    async def level() -> int:
        async with infra.engine.connect() as conn:
            return int(
                (
                    await conn.execute(
                        sa.select(USERS.c.verification_level).where(USERS.c.id == worker.id)
                    )
                ).scalar_one()
            )

    assert await eventually(level, lambda n: n == 1) == 1
    async with infra.engine.connect() as conn:
        types = (
            (
                await conn.execute(
                    sa.select(WEBHOOK_EVENTS.c.type).where(
                        WEBHOOK_EVENTS.c.provider == "stripe",
                        WEBHOOK_EVENTS.c.type.like("identity.verification_session.%"),
                        WEBHOOK_EVENTS.c.payload["data"]["object"]["metadata"]["user_id"].astext
                        == worker.id,
                    )
                )
            )
            .scalars()
            .all()
        )
    assert {
        "identity.verification_session.processing",
        "identity.verification_session.verified",
    } <= set(types)
