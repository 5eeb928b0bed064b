"""The background check as a worker lives it: candidate → invitation → hosted form → report
(clear or consider) → adverse action, observed through the API and signed webhooks."""

from __future__ import annotations

import httpx
import pytest

from ..checks_support import ChecksEnv, candidate, invitation


async def _completed_report(env: ChecksEnv, report_id: str) -> dict[str, object]:
    event = await env.receiver.wait_for(
        "report.completed", lambda e: e["data"]["object"]["id"] == report_id
    )
    report: dict[str, object] = event["data"]["object"]
    return report


async def test_hosted_form_completes_a_clear_report(
    env: ChecksEnv, client: httpx.AsyncClient
) -> None:
    person = await candidate(client, "wes@example.com", custom_id="user-17")
    invited = await invitation(client, person["id"])
    assert invited["status"] == "pending"
    assert invited["invitation_url"].startswith(f"{env.url}/checks/invitations/")
    assert invited["expires_at"] > invited["created_at"] and invited["report_id"] is None

    async with httpx.AsyncClient() as browser:
        page = await browser.get(invited["invitation_url"])
        assert page.status_code == 200
        assert 'value="clear"' in page.text and 'value="consider"' in page.text
        submitted = await browser.post(invited["invitation_url"])  # no choice: the default
        assert submitted.status_code == 200

    completed = await env.receiver.wait_for("invitation.completed")
    report_id = completed["data"]["object"]["report_id"]
    created = await env.receiver.wait_for("report.created")
    assert created["data"]["object"]["status"] == "pending"
    report = await _completed_report(env, report_id)
    assert (report["status"], report["result"], report["candidate_id"]) == (
        "complete",
        "clear",
        person["id"],
    )
    # The envelope is Checkr's, for the account the API key belongs to.
    assert set(completed) == {
        "id",
        "object",
        "type",
        "created_at",
        "webhook_url",
        "data",
        "account_id",
    }
    assert completed["object"] == "event" and completed["webhook_url"] == env.receiver.url

    fetched = (await client.get(f"/v1/reports/{report_id}")).json()
    assert fetched["status"] == "complete" and fetched["package"] == "tasker_standard"
    assert fetched["ssn_trace_id"] and fetched["county_criminal_search_ids"]
    assert fetched["motor_vehicle_report_id"] is None  # not in this package
    again = (await client.get(f"/v1/candidates/{person['id']}")).json()
    assert again["report_ids"] == [report_id]
    assert (await client.get(f"/v1/invitations/{invited['id']}")).json()["status"] == "completed"


async def test_email_hint_makes_the_report_consider(
    env: ChecksEnv, client: httpx.AsyncClient
) -> None:
    person = await candidate(client, "wes+consider@example.com")
    invited = await invitation(client, person["id"])
    async with httpx.AsyncClient() as browser:
        done = await browser.get(invited["invitation_url"], params={"complete": "1"})
    assert done.status_code == 200
    report_id = (await env.receiver.wait_for("invitation.completed"))["data"]["object"]["report_id"]
    assert (await _completed_report(env, report_id))["result"] == "consider"


@pytest.mark.parametrize(
    ("email", "result"),
    [("wes@example.com", "consider"), ("wes+consider@example.com", "clear")],
)
async def test_an_explicit_result_beats_the_hint(
    env: ChecksEnv, client: httpx.AsyncClient, control: httpx.AsyncClient, email: str, result: str
) -> None:
    person = await candidate(client, email)
    invited = await invitation(client, person["id"])
    response = await control.post(
        f"/_sandbox/checks/invitations/{invited['id']}/complete", json={"result": result}
    )
    assert response.status_code == 200 and response.json()["status"] == "pending"
    assert (await _completed_report(env, response.json()["id"]))["result"] == result


async def test_an_expired_invitation_cannot_be_completed(
    env: ChecksEnv, client: httpx.AsyncClient, control: httpx.AsyncClient
) -> None:
    person = await candidate(client, "late@example.com")
    invited = await invitation(client, person["id"])
    expired = await control.post(f"/_sandbox/checks/invitations/{invited['id']}/expire")
    assert expired.status_code == 200

    event = await env.receiver.wait_for("invitation.expired")
    assert event["data"]["object"]["status"] == "expired"
    assert (await client.get(f"/v1/invitations/{invited['id']}")).json()["status"] == "expired"
    async with httpx.AsyncClient() as browser:
        page = await browser.get(invited["invitation_url"], params={"complete": "1"})
    assert page.status_code == 410
    again = await control.post(f"/_sandbox/checks/invitations/{invited['id']}/complete")
    assert again.status_code == 409
    listed = await client.get("/v1/invitations", params={"status": "expired"})
    assert [i["id"] for i in listed.json()["data"]] == [invited["id"]]


async def test_adverse_action_on_a_consider_report(
    env: ChecksEnv, client: httpx.AsyncClient, control: httpx.AsyncClient
) -> None:
    person = await candidate(client, "wes+consider@example.com")
    invited = await invitation(client, person["id"])
    report = (await control.post(f"/_sandbox/checks/invitations/{invited['id']}/complete")).json()
    await _completed_report(env, report["id"])

    items = (await client.get(f"/v1/reports/{report['id']}/adverse_items")).json()
    assert items["object"] == "list" and items["count"] >= 1
    item_ids = [item["id"] for item in items["data"]]
    response = await client.post(
        f"/v1/reports/{report['id']}/adverse_actions", json={"adverse_item_ids": item_ids}
    )
    assert response.status_code == 200, response.text
    action = response.json()
    assert (action["object"], action["status"], action["report_id"]) == (
        "adverse_action",
        "pending",
        report["id"],
    )
    assert action["post_notice_ready_at"] > action["created_at"]  # the FCRA waiting period
    assert [i["id"] for i in action["adverse_items"]] == item_ids

    pre = await env.receiver.wait_for("report.pre_adverse_action")
    assert pre["data"]["object"]["adjudication"] == "pre_adverse_action"
    await env.receiver.wait_for("candidate.pre_adverse_action")
    twice = await client.post(
        f"/v1/reports/{report['id']}/adverse_actions", json={"adverse_item_ids": item_ids}
    )
    assert twice.status_code == 400
    assert twice.json()["error"].startswith("Report has a pre-existing adverse action")

    sent = await control.post(f"/_sandbox/checks/adverse_actions/{action['id']}/post_notice")
    assert sent.json()["status"] == "complete"
    post = await env.receiver.wait_for("report.post_adverse_action")
    assert post["data"]["object"]["adjudication"] == "post_adverse_action"
    fetched = (await client.get(f"/v1/adverse_actions/{action['id']}")).json()
    assert fetched["status"] == "complete"
    assert (await client.get(f"/v1/candidates/{person['id']}")).json()[
        "adjudication"
    ] == "post_adverse_action"


async def test_adverse_action_needs_a_consider_report_and_items(
    env: ChecksEnv, client: httpx.AsyncClient, control: httpx.AsyncClient
) -> None:
    person = await candidate(client, "clear@example.com")
    invited = await invitation(client, person["id"])
    report = (await control.post(f"/_sandbox/checks/invitations/{invited['id']}/complete")).json()
    await _completed_report(env, report["id"])

    missing = await client.post(f"/v1/reports/{report['id']}/adverse_actions", json={})
    assert (missing.status_code, missing.json()) == (400, {"error": "adverse_item_ids is missing"})
    clear = await client.post(
        f"/v1/reports/{report['id']}/adverse_actions", json={"adverse_item_ids": ["x"]}
    )
    assert clear.status_code == 400
    assert clear.json()["error"] == "Report must be complete with a result of consider"


async def test_a_canceled_adverse_action_sends_no_final_notice(
    env: ChecksEnv, client: httpx.AsyncClient, control: httpx.AsyncClient
) -> None:
    person = await candidate(client, "wes+consider+undeliverable@example.com")
    invited = await invitation(client, person["id"])
    report = (await control.post(f"/_sandbox/checks/invitations/{invited['id']}/complete")).json()
    await _completed_report(env, report["id"])
    items = (await client.get(f"/v1/reports/{report['id']}/adverse_items")).json()["data"]
    action = (
        await client.post(
            f"/v1/reports/{report['id']}/adverse_actions",
            json={"adverse_item_ids": [items[0]["id"]]},
        )
    ).json()
    assert action["delivery"]["state"] == "error"  # the `+undeliverable` hint
    await env.receiver.wait_for("adverse_action.notice_not_delivered")

    canceled = await client.delete(f"/v1/adverse_actions/{action['id']}")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    late = await control.post(f"/_sandbox/checks/adverse_actions/{action['id']}/post_notice")
    assert late.status_code == 409
    assert (await client.get(f"/v1/reports/{report['id']}")).json()["adjudication"] is None


async def test_support_can_engage_a_consider_report(
    env: ChecksEnv, client: httpx.AsyncClient, control: httpx.AsyncClient
) -> None:
    person = await candidate(client, "wes+consider@example.com")
    invited = await invitation(client, person["id"])
    report = (await control.post(f"/_sandbox/checks/invitations/{invited['id']}/complete")).json()
    await _completed_report(env, report["id"])
    engaged = await client.post(f"/v1/reports/{report['id']}", json={"adjudication": "engaged"})
    assert engaged.status_code == 200 and engaged.json()["adjudication"] == "engaged"
    await env.receiver.wait_for("report.engaged")
