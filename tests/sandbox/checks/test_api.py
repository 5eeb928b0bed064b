"""The check provider's API contract: auth, validation, idempotency keys, faults, signatures,
lists, and state that survives a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.testing import checks_client, running_sandbox, sandbox_config

from ..checks_support import ChecksEnv, candidate, checks_sandbox, invitation, signature_valid
from ..conftest import eventually


async def _objects(control: httpx.AsyncClient, kind: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (
        await control.get("/_sandbox/checks/objects", params={"type": kind})
    ).json()["data"]
    return data


async def test_a_wrong_or_missing_key_is_401(env: ChecksEnv) -> None:
    async with env.client("checks_test_wrong") as wrong:
        response = await wrong.get("/v1/candidates")
    assert (response.status_code, response.json()) == (401, {"error": "Bad authentication error"})
    async with httpx.AsyncClient(base_url=f"{env.url}/checks") as anonymous:
        response = await anonymous.post("/v1/candidates", json={"email": "a@b.co"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({}, 400, "email is missing, first_name is missing, last_name is missing"),
        (
            {"first_name": "Wes", "last_name": "Moss", "email": "not-an-email"},
            400,
            "Email is not a valid email address",
        ),
        (
            {"first_name": "W3s!", "last_name": "Moss", "email": "w@example.com"},
            400,
            "First name must only contain letters, numbers, spaces, hyphens, apostrophes, "
            "periods, and commas",
        ),
        (
            {"first_name": "Wes", "last_name": "Moss", "email": "w@example.com", "zipcode": "9"},
            400,
            "Zipcode is invalid",
        ),
        (
            {"first_name": "Wes", "last_name": "Moss", "email": "w@example.com", "ssn": "1"},
            400,
            "ssn is a real Checkr parameter that the Tempwork sandbox does not simulate. "
            "Extend the sandbox before relying on it.",
        ),
        (
            {"first_name": "Wes", "last_name": "Moss", "email": "w@example.com", "emial": "x"},
            400,
            "emial is not a recognized parameter",
        ),
    ],
)
async def test_candidate_validation(
    client: httpx.AsyncClient, body: dict[str, Any], status: int, error: str
) -> None:
    response = await client.post("/v1/candidates", json=body)
    assert (response.status_code, response.json()) == (status, {"error": error})


async def test_invitation_validation(client: httpx.AsyncClient) -> None:
    person = await candidate(client, "w@example.com")
    where = [{"country": "US", "state": "CA"}]
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({}, 400, "candidate_id is missing, package is missing, work_locations is missing"),
        (
            {"candidate_id": person["id"], "package": "gold_plated", "work_locations": where},
            404,
            "Package not found",
        ),
        (
            {"candidate_id": "0" * 24, "package": "driver_pro", "work_locations": where},
            404,
            "Candidate not found",
        ),
        (
            {"candidate_id": person["id"], "package": "driver_pro", "work_locations": [{}]},
            400,
            "work_locations[0][state] is missing",
        ),
    ]
    for body, status, error in cases:
        response = await client.post("/v1/invitations", json=body)
        assert (response.status_code, response.json()) == (status, {"error": error}), body
    assert (await client.get("/v1/reports/nope")).json() == {"error": "Report not found"}


async def test_form_bodies_nest_like_checkrs_curl_examples(client: httpx.AsyncClient) -> None:
    person = await candidate(client, "form@example.com")
    response = await client.post(
        "/v1/invitations",
        content=f"candidate_id={person['id']}&package=driver_pro"
        "&work_locations[][state]=CA&work_locations[][city]=San+Francisco"
        "&work_locations[][state]=NY&tags[]=onsite",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["tags"] == ["onsite"]


async def test_idempotent_replay_and_key_reuse(
    client: httpx.AsyncClient, control: httpx.AsyncClient
) -> None:
    body = {"first_name": "Wes", "last_name": "Moss", "email": "once@example.com"}
    key = {"Idempotency-Key": "candidate-once"}
    first = await client.post("/v1/candidates", json=body, headers=key)
    again = await client.post("/v1/candidates", json=body, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content  # the stored response, byte for byte
    assert len(await _objects(control, "candidate")) == 1

    other = await client.post("/v1/candidates", json={**body, "last_name": "Other"}, headers=key)
    assert other.status_code == 422
    assert "already used with different request parameters" in other.json()["error"]
    # A refused request stores nothing: the key stays free for the corrected request.
    retry_key = {"Idempotency-Key": "candidate-fixed"}
    bad = await client.post("/v1/candidates", json={**body, "email": "x"}, headers=retry_key)
    fixed = {**body, "email": "fixed@example.com"}
    good = await client.post("/v1/candidates", json=fixed, headers=retry_key)
    assert (bad.status_code, good.status_code) == (400, 201)


async def test_a_key_in_flight_is_409(
    client: httpx.AsyncClient, control: httpx.AsyncClient
) -> None:
    await control.post("/_sandbox/faults", json={"latency_ms": 300, "providers": ["checks"]})
    body = {"first_name": "Wes", "last_name": "Moss", "email": "race@example.com"}
    key = {"Idempotency-Key": "candidate-race"}
    first, second = await asyncio.gather(
        client.post("/v1/candidates", json=body, headers=key),
        client.post("/v1/candidates", json=body, headers=key),
    )
    assert sorted([first.status_code, second.status_code]) == [201, 409]
    await control.delete("/_sandbox/faults")


async def test_rate_limit_fault_is_429_and_runs_nothing(
    client: httpx.AsyncClient, control: httpx.AsyncClient
) -> None:
    await control.post("/_sandbox/faults", json={"rate_limit_rate": 1.0, "providers": ["checks"]})
    response = await client.post(
        "/v1/candidates", json={"first_name": "Wes", "last_name": "Moss", "email": "r@example.com"}
    )
    await control.delete("/_sandbox/faults")
    assert (response.status_code, response.json()) == (429, {"error": "Too Many Requests"})
    assert response.headers["X-Ratelimit-Remaining"] == "0"
    assert response.headers["X-Ratelimit-Reset"].endswith("Z")
    assert await _objects(control, "candidate") == []


async def test_a_dropped_response_is_recovered_by_retrying_with_the_key(
    client: httpx.AsyncClient, control: httpx.AsyncClient
) -> None:
    person = await candidate(client, "drop@example.com")
    await control.post(
        "/_sandbox/faults", json={"drop_response_after_commit": {"path_prefix": "/v1/invitations"}}
    )
    body = {
        "candidate_id": person["id"],
        "package": "basic_plus",
        "work_locations": [{"state": "NY"}],
    }
    key = {"Idempotency-Key": "invite-drop"}
    lost = await client.post("/v1/invitations", json=body, headers=key)
    retried = await client.post("/v1/invitations", json=body, headers=key)
    assert (lost.status_code, retried.status_code) == (500, 201)
    assert [i["id"] for i in await _objects(control, "invitation")] == [retried.json()["id"]]


async def test_duplicate_candidates_are_refused_after_two(client: httpx.AsyncClient) -> None:
    await candidate(client, "twin@example.com")
    await candidate(client, "TWIN@example.com")
    third = await client.post(
        "/v1/candidates",
        json={"first_name": "Wes", "last_name": "Moss", "email": "twin@example.com"},
    )
    assert third.status_code == 409
    assert third.json()["error"].startswith("Duplicate candidate detected")


async def test_lists_page_newest_first(client: httpx.AsyncClient) -> None:
    made = [await candidate(client, f"p{n}@example.com", custom_id=f"c{n}") for n in range(3)]
    first = (await client.get("/v1/candidates", params={"per_page": 2})).json()
    assert [c["id"] for c in first["data"]] == [made[2]["id"], made[1]["id"]]
    assert first["count"] == 3 and first["previous_href"] is None
    async with httpx.AsyncClient(auth=client.auth) as follow:
        second = (await follow.get(first["next_href"])).json()
    assert [c["id"] for c in second["data"]] == [made[0]["id"]] and second["next_href"] is None
    by_custom_id = (await client.get("/v1/candidates", params={"custom_id": "c1"})).json()
    assert [c["id"] for c in by_custom_id["data"]] == [made[1]["id"]]
    bad = await client.get("/v1/invitations", params={"status": "lost"})
    assert (bad.status_code, bad.json()) == (400, {"error": "status does not have a valid value"})


async def test_a_tampered_or_wrongly_keyed_signature_fails_verification(env: ChecksEnv) -> None:
    async with env.client() as client:
        await candidate(client, "signed@example.com")
    await env.receiver.wait_for("candidate.created")
    body, header = env.receiver.deliveries[0]
    assert header is not None and len(header) == 64  # hex HMAC-SHA256, no timestamp
    assert signature_valid(body, header, env.receiver.secret)
    assert not signature_valid(body.replace(b"signed", b"forged"), header, env.receiver.secret)
    assert not signature_valid(body, header, "checks_test_tempwork_sandbox_0000")  # the API key


async def test_a_receiver_with_another_secret_rejects_every_delivery() -> None:
    async with checks_sandbox(checks_webhook_secret="checks_whsec_someone_else") as env:
        async with env.client() as client:
            await candidate(client, "mallory@example.com")
        await eventually(lambda: env.receiver.rejected_signatures >= 1, "a rejected delivery")
        assert env.receiver.events == []
        async with env.control() as control:
            deliveries = (await control.get("/_sandbox/checks/webhooks")).json()["data"]
        assert deliveries[0]["attempts"][0]["http_status"] == 400


async def test_a_scheduled_report_survives_a_restart(tmp_path: Path) -> None:
    config = sandbox_config(data_file=tmp_path / "sandbox.sqlite3", checks_report_delay_seconds=1.0)
    async with running_sandbox(config) as url:
        async with checks_client(url) as client:
            person = await candidate(client, "restart+consider@example.com")
            invited = await invitation(client, person["id"])
        async with httpx.AsyncClient(base_url=url) as control:
            report = (
                await control.post(f"/_sandbox/checks/invitations/{invited['id']}/complete")
            ).json()
    assert report["status"] == "pending"  # the sandbox stopped before the report was done

    async with running_sandbox(config) as url, checks_client(url) as client:

        async def finished() -> bool:
            fetched = (await client.get(f"/v1/reports/{report['id']}")).json()
            return bool(fetched["status"] == "complete" and fetched["result"] == "consider")

        await eventually(finished, "the report to finish after the restart")
        invitation_now = (await client.get(f"/v1/invitations/{invited['id']}")).json()
        assert invitation_now["report_id"] == report["id"]


async def test_a_refused_update_changes_nothing(client: httpx.AsyncClient) -> None:
    person = await candidate(client, "steady@example.com")
    refused = await client.post(
        f"/v1/candidates/{person['id']}", json={"first_name": "Wesley", "email": "nope"}
    )
    assert refused.status_code == 400
    updated = await client.post(f"/v1/candidates/{person['id']}", json={"phone": "5555550123"})
    assert (updated.json()["first_name"], updated.json()["phone"]) == ("Wes", "5555550123")
