"""Verification over HTTP, as a worker and as support see it: codes by email and text (read
from the sandbox outbox), the identity page, the background check, support's decision (from
the API and from the `temporal` CLI), and applying gated on what is verified."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from devstack.binaries import temporal_cli
from models.tables import DELIVERIES
from tests.api.helpers import apply, post_job, staff
from tests.conftest import (
    ApiClient,
    Infra,
    Person,
    eventually,
    latest_code,
    new_phone_number,
    pass_background_check,
    problem,
    sent_to,
    sign_up,
    step_status,
    verify,
)


async def run(*argv: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode(), err.decode()


def step(view: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(next(s for s in view["steps"] if s["step"] == name))


async def test_a_new_worker_sees_every_step_and_what_to_do(http: ApiClient) -> None:
    worker = await sign_up(http, "worker")
    view = (await worker.get("/v1/verifications")).json()
    assert view["verified_steps"] == [] and view["can_apply"] is False
    assert view["missing_to_apply"] == ["email", "phone", "identity"]
    assert [s["status"] for s in view["steps"]] == ["not_started"] * 4
    assert step(view, "email")["next_action"].startswith("Ask for a code")


async def test_an_unverified_worker_is_told_exactly_what_remains(http: ApiClient) -> None:
    client, worker = await sign_up(http, "client"), await sign_up(http, "worker")
    job = await post_job(client)
    refused = problem(
        await worker.post(f"/v1/jobs/{job['id']}/applications", {"cover_letter": "me"}), 403
    )
    assert refused["type"] == "/problems/not-verified"
    assert refused["missing_steps"] == ["email", "phone", "identity"]
    await worker.post("/v1/verifications/email")
    code = await latest_code(http, worker.email)
    assert (await worker.post("/v1/verifications/email/confirm", {"code": code})).status_code == 200
    again = problem(
        await worker.post(f"/v1/jobs/{job['id']}/applications", {"cover_letter": "me"}), 403
    )
    assert again["missing_steps"] == ["phone", "identity"]
    assert (await worker.get("/v1/me")).json()["verified_steps"] == ["email"]


async def test_wrong_codes_and_resends_are_answered_clearly(http: ApiClient) -> None:
    worker = await sign_up(http, "worker")
    sent = await worker.post("/v1/verifications/email")
    assert step(sent.json(), "email")["status"] == "code_sent"
    code = await latest_code(http, worker.email)
    wrong = "000000" if code != "000000" else "111111"
    body = problem(await worker.post("/v1/verifications/email/confirm", {"code": wrong}), 422)
    assert body["type"] == "/problems/verification-code-wrong" and body["attempts_left"] == 4
    too_soon = await worker.post("/v1/verifications/email")
    assert problem(too_soon, 429)["retry_after_seconds"] <= 30
    assert 0 < int(too_soon.headers["Retry-After"]) <= 30
    problem(await worker.post("/v1/verifications/email/confirm", {"code": "12"}), 422)
    assert len(await sent_to(http, worker.email)) == 1  # the refused resend sent nothing


async def test_phone_numbers_twilio_cannot_text_are_refused(http: ApiClient) -> None:
    worker = await sign_up(http, "worker")
    refused = problem(
        await worker.post("/v1/verifications/phone", {"phone_number": "+15005550001"}), 422
    )
    assert refused["type"] == "/problems/invalid-phone-number"
    problem(await worker.post("/v1/verifications/phone", {"phone_number": "555-1234"}), 422)
    number = new_phone_number()
    assert (
        await worker.post("/v1/verifications/phone", {"phone_number": number})
    ).status_code == 200
    code = await latest_code(http, number)
    confirmed = await worker.post("/v1/verifications/phone/confirm", {"code": code})
    assert step(confirmed.json(), "phone")["status"] == "verified"


async def test_a_failed_document_can_be_retried_with_a_fresh_link(http: ApiClient) -> None:
    worker = await sign_up(http, "worker")
    first = step((await worker.post("/v1/verifications/identity")).json(), "identity")
    failed = await http.get(
        first["url"], params={"outcome": "requires_input", "error": "document_expired"}
    )
    assert failed.status_code < 400
    await eventually(lambda: step_status(worker, "identity"), lambda s: s == "action_required")
    view = (await worker.get("/v1/verifications")).json()
    assert "could not be verified" in step(view, "identity")["summary"]
    second = step((await worker.post("/v1/verifications/identity")).json(), "identity")
    assert second["url"] and second["url"] != first["url"]
    assert (await http.get(second["url"], params={"outcome": "verified"})).status_code < 400
    await eventually(lambda: step_status(worker, "identity"), lambda s: s == "verified")


async def test_text_that_cannot_be_kept_is_refused_at_the_door(http: ApiClient) -> None:
    worker = await sign_up(http, "worker")
    for field in ("first_name", "last_name", "work_city"):
        body = {"first_name": "Wes", "last_name": "Baker", "work_state": "CA"}
        body[field] = "We\u0000s"
        refused = problem(await worker.post("/v1/verifications/background", body), 422)
        assert refused["errors"][0]["loc"][-1] == field
    problem(
        await worker.post(
            "/v1/verifications/background", {"first_name": "Wes", "last_name": "Baker"}
        ),
        422,
    )  # a US state is needed: which searches run depends on it
    assert (await worker.get("/v1/verifications")).json()["steps"][3]["status"] == "not_started"


async def test_on_site_jobs_also_need_a_background_check(http: ApiClient) -> None:
    client, worker = await sign_up(http, "client"), await sign_up(http, "worker", verified=True)
    job = await post_job(client, title="Fix a leaking tap", on_site=True)
    assert job["on_site"] is True
    refused = problem(
        await worker.post(f"/v1/jobs/{job['id']}/applications", {"cover_letter": "me"}), 403
    )
    assert refused["missing_steps"] == ["background"]
    await pass_background_check(worker, "clear")
    assert (await apply(worker, job["id"]))["status"] == "applied"


async def test_support_adjudicates_a_consider_report(http: ApiClient, infra: Infra) -> None:
    worker, support = await sign_up(http, "worker"), await staff(http, infra)
    await pass_background_check(worker, "consider")
    queue = (await support.get("/v1/support/verifications")).json()
    assert worker.id in [case["user_id"] for case in queue]
    decision = {"decision": "approve", "reason": "old and unrelated record"}
    problem(await worker.post(f"/v1/support/verifications/{worker.id}/adjudicate", decision), 403)
    problem(await support.post(f"/v1/support/verifications/{worker.id}/adjudicate", {}), 422)
    garbled = {"decision": "approve", "reason": "ok\u0000ok"}
    refused = problem(
        await support.post(f"/v1/support/verifications/{worker.id}/adjudicate", garbled), 422
    )
    assert refused["errors"][0]["loc"][-1] == "reason"
    decided = await support.post(f"/v1/support/verifications/{worker.id}/adjudicate", decision)
    assert decided.status_code == 200, decided.text
    state = decided.json()
    assert state["background"]["status"] == "verified" and not state["needs_support"]
    assert state["background"]["adjudication"]["by"]["user_id"] == support.id
    problem(await support.post(f"/v1/support/verifications/{worker.id}/adjudicate", decision), 409)


async def test_support_can_reject_from_the_temporal_cli(http: ApiClient, infra: Infra) -> None:
    """Support staff working in Temporal's UI or CLI send the same validated update."""
    worker = await sign_up(http, "worker")
    await pass_background_check(worker, "consider")
    workflow_id = f"verification-{worker.id}"
    update = {
        "actor": {"user_id": str(uuid.uuid4()), "role": "support"},
        "decision": "reject",
        "reason": "recent conviction relevant to in-home work",
    }
    cli = [
        temporal_cli(),
        "workflow",
        "update",
        "execute",
        "--address",
        infra.settings.temporal_address,
        "--workflow-id",
        workflow_id,
        "--name",
        "adjudicate",
    ]
    code, _, err = await run(*cli, "--input", json.dumps(update))
    assert code == 0, err
    await eventually(lambda: step_status(worker, "background"), lambda s: s == "rejected")
    # The validator refuses a second decision (and a non-staff actor) without touching history.
    code, _, err = await run(*cli, "--input", json.dumps(update))
    assert code != 0 and "no background report to adjudicate" in err
    notice = await eventually(
        lambda: sent_to(http, worker.email),
        lambda messages: any("adverse action" in (m["subject"] or "") for m in messages),
    )
    assert any(update["reason"] in m["body"] for m in notice)
    support = await staff(http, infra)
    state = (await support.get(f"/v1/support/verifications/{worker.id}")).json()
    assert state["background"]["adjudication"]["decision"] == "reject"
    async with httpx.AsyncClient(base_url=infra.sandbox_url) as sandbox:
        actions = (
            await sandbox.get("/_sandbox/checks/objects", params={"type": "adverse_action"})
        ).json()["data"]
    filed = [a for a in actions if a["report_id"] == state["background"]["report_id"]]
    assert len(filed) == 1 and state["background"]["adverse_action_id"] == filed[0]["id"]


async def test_a_bounced_code_email_is_shown_to_the_person_and_to_support(
    http: ApiClient, infra: Infra
) -> None:
    email = f"wes-{uuid.uuid4().hex[:6]}+bounce@example.com"  # the sandbox bounces it
    registered = await http.post(
        "/v1/auth/register",
        json={"email": email, "password": "x" * 12, "display_name": "W", "role": "worker"},
    )
    token = await http.post("/v1/auth/token", data={"username": email, "password": "x" * 12})
    worker = Person(http, registered.json(), token.json()["access_token"])
    await worker.post("/v1/verifications/email")

    async def email_step() -> dict[str, Any]:
        return step((await worker.get("/v1/verifications")).json(), "email")

    seen = await eventually(email_step, lambda s: "could not be delivered" in s["summary"])
    assert seen["status"] == "code_sent"
    support = await staff(http, infra)
    deliveries = (await support.get(f"/v1/support/users/{worker.id}/deliveries")).json()
    assert [(d["kind"], d["status"]) for d in deliveries] == [("verification-code", "bounced")]
    problem(await worker.get(f"/v1/support/users/{worker.id}/deliveries"), 403)


async def test_stop_and_start_replies_turn_texts_off_and_on(http: ApiClient, infra: Infra) -> None:
    worker = await sign_up(http, "worker", verified=True)
    assert worker.phone
    prefs = (await worker.get("/v1/me/notification-preferences")).json()
    assert prefs == {"email": True, "sms": True}

    async def texts_on() -> bool:
        return bool((await worker.get("/v1/me/notification-preferences")).json()["sms"])

    async with httpx.AsyncClient(base_url=infra.sandbox_url) as sandbox:
        reply = {"from": worker.phone, "body": "STOP"}
        (await sandbox.post("/_sandbox/twilio/inbound", json=reply)).raise_for_status()
        await eventually(texts_on, lambda on: on is False)
        reply = {"from": worker.phone, "body": "START"}
        (await sandbox.post("/_sandbox/twilio/inbound", json=reply)).raise_for_status()
        await eventually(texts_on, lambda on: on is True)
    changed = await worker.put("/v1/me/notification-preferences", {"email": True, "sms": False})
    assert changed.json() == {"email": True, "sms": False}
    async with infra.engine.connect() as conn:
        rows = (
            await conn.execute(sa.select(sa.func.count()).where(DELIVERIES.c.user_id == worker.id))
        ).scalar_one()
    assert rows >= 1  # the verification code email was recorded as a delivery


async def test_verify_helper_leaves_nothing_half_done(http: ApiClient) -> None:
    worker = await sign_up(http, "worker")
    await verify(worker)
    view = (await worker.get("/v1/verifications")).json()
    assert view["verified_steps"] == ["email", "phone", "identity"] and view["can_apply"]
