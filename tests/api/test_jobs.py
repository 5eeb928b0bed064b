"""Jobs over HTTP: posting (idempotently), search and pagination, applications, hiring."""

from __future__ import annotations

import uuid

from tests.api.helpers import apply, hire, post_job
from tests.conftest import ApiClient, Infra, eventually, problem, sign_up


async def test_a_client_posts_a_job_and_anyone_can_read_it(http: ApiClient) -> None:
    client = await sign_up(http, "client")
    job = await post_job(client, skills=["Python", "python", "Temporal"])
    assert job["status"] == "open" and job["client_id"] == client.id
    assert job["skills"] == ["python", "temporal"]  # normalised and deduplicated
    got = await http.get(f"/v1/jobs/{job['id']}")
    assert got.status_code == 200 and got.json()["title"] == job["title"]


async def test_posting_with_the_same_idempotency_key_creates_one_job(
    http: ApiClient,
) -> None:
    client = await sign_up(http, "client")
    body = {
        "title": f"Translate a menu {uuid.uuid4().hex[:6]}",
        "description": "French to English",
        "skills": ["translation"],
        "budget_cents": 5_000,
    }
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/v1/jobs", body, headers=key)
    second = await client.post("/v1/jobs", body, headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json() and second.headers["idempotent-replayed"] == "true"
    # Searchable once the search queue has indexed it (within a second or so).
    found = await eventually(
        lambda: http.get("/v1/jobs", params={"q": str(body["title"])}),
        lambda r: bool(r.json()["items"]),
    )
    assert [j["id"] for j in found.json()["items"]] == [first.json()["id"]]
    # The same key with a different body is a client error, and changes nothing.
    changed = await client.post("/v1/jobs", body | {"budget_cents": 9_000}, headers=key)
    assert problem(changed, 422)["type"] == "/problems/idempotency-key-reused"


async def test_search_by_text_skills_budget_and_status_with_cursor_pages(
    http: ApiClient,
) -> None:
    client = await sign_up(http, "client")
    tag = uuid.uuid4().hex[:8]  # keeps this test's jobs apart from others in the shared database
    cheap = await post_job(
        client, title=f"Knit a scarf {tag}", skills=["knitting", tag], budget_cents=3_000
    )
    pricey = await post_job(
        client, title=f"Knit a blanket {tag}", skills=["knitting", tag], budget_cents=30_000
    )
    other = await post_job(
        client, title=f"Paint a fence {tag}", skills=["painting", tag], budget_cents=20_000
    )

    async def ids(**params: str | int) -> list[str]:
        response = await http.get("/v1/jobs", params={"skills": tag, **params})
        assert response.status_code == 200, response.text
        return [j["id"] for j in response.json()["items"]]

    # newest first, once the search queue has indexed all three
    assert await eventually(ids, lambda found: len(found) == 3) == [
        other["id"],
        pricey["id"],
        cheap["id"],
    ]
    assert await ids(q="knitting blanket") == [pricey["id"]]  # full-text, stemmed
    assert await ids(q="knit") == [pricey["id"], cheap["id"]]
    assert set(await ids(skills=f"knitting,{tag}")) == {cheap["id"], pricey["id"]}
    assert await ids(min_budget=10_000, max_budget=25_000) == [other["id"]]

    page1 = (await http.get("/v1/jobs", params={"skills": tag, "limit": 2})).json()
    page2 = (
        await http.get(
            "/v1/jobs", params={"skills": tag, "limit": 2, "cursor": page1["next_cursor"]}
        )
    ).json()
    assert [j["id"] for j in page1["items"] + page2["items"]] == [
        other["id"],
        pricey["id"],
        cheap["id"],
    ]
    assert page2["next_cursor"] is None

    closed = await client.post(f"/v1/jobs/{other['id']}/close")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert await eventually(lambda: ids(status="closed"), bool) == [other["id"]]
    assert other["id"] not in await ids()  # the default lists open jobs


async def test_bad_input_gets_a_problem_and_nothing_is_created(http: ApiClient) -> None:
    client = await sign_up(http, "client")
    tag = uuid.uuid4().hex
    body = problem(
        await client.post("/v1/jobs", {"title": tag, "description": "x", "budget_cents": -5}), 422
    )
    assert any(e["loc"][-1] == "budget_cents" for e in body["errors"])
    assert (await http.get("/v1/jobs", params={"q": tag})).json()["items"] == []
    problem(await http.get("/v1/jobs", params={"cursor": "garbage"}), 422)
    problem(await http.get(f"/v1/jobs/{uuid.uuid4()}"), 404)
    problem(await http.get("/v1/jobs/not-a-uuid"), 422)


async def test_roles_and_ownership_are_enforced(http: ApiClient) -> None:
    client, stranger = await sign_up(http, "client"), await sign_up(http, "client")
    worker = await sign_up(http, "worker", verified=True)
    problem(
        await worker.post("/v1/jobs", {"title": "Nope", "description": "x", "budget_cents": 100}),
        403,
    )
    job = await post_job(client)
    problem(await client.post(f"/v1/jobs/{job['id']}/applications", {"cover_letter": "me"}), 403)
    application = await apply(worker, job["id"])
    # A worker cannot apply twice; a stranger cannot hire or close someone else's job.
    assert problem(
        await worker.post(f"/v1/jobs/{job['id']}/applications", {"cover_letter": "again"}), 409
    )
    hire_path = f"/v1/jobs/{job['id']}/applications/{application['id']}/hire"
    problem(
        await stranger.post(hire_path, {"milestones": [{"title": "A", "amount_cents": 1000}]}), 403
    )
    problem(await stranger.post(f"/v1/jobs/{job['id']}/close"), 403)
    problem(await client.post(hire_path, {"milestones": []}), 422)
    # The worker sees their own application; the owner sees all; a stranger sees none.
    assert [a["id"] for a in (await worker.get(f"/v1/jobs/{job['id']}/applications")).json()] == [
        application["id"]
    ]
    assert len((await client.get(f"/v1/jobs/{job['id']}/applications")).json()) == 1
    problem(await stranger.get(f"/v1/jobs/{job['id']}/applications"), 403)


async def test_hiring_fills_the_job_and_is_idempotent(http: ApiClient) -> None:
    client, worker, late = (
        await sign_up(http, "client"),
        await sign_up(http, "worker", verified=True),
        await sign_up(http, "worker"),  # applies too late: a closed job says so first
    )
    job = await post_job(client)
    application = await apply(worker, job["id"])
    path = f"/v1/jobs/{job['id']}/applications/{application['id']}/hire"
    body = {
        "milestones": [
            {"title": "Design", "amount_cents": 40_000},
            {"title": "Build", "amount_cents": 60_000},
        ]
    }
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post(path, body, headers=key)
    again = await client.post(path, body, headers=key)
    assert (
        first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    )
    contract = first.json()
    assert contract["stage"] == "offered" and contract["total_cents"] == 100_000
    assert [m["status"] for m in contract["milestones"]] == ["pending", "pending"]
    assert (await http.get(f"/v1/jobs/{job['id']}")).json()[
        "status"
    ] == "closed"  # 1 position, filled
    problem(
        await late.post(f"/v1/jobs/{job['id']}/applications", {"cover_letter": "too late"}), 409
    )
    # Without a key, hiring the same application again is refused by the workflow.
    problem(await client.post(path, body), 409)
    hired = (await client.get(f"/v1/jobs/{job['id']}/applications")).json()[0]
    assert hired["status"] == "hired" and hired["contract_id"] == contract["id"]


async def test_rejected_commands_never_enter_the_workflow_history(
    http: ApiClient, infra: Infra
) -> None:
    client, worker = await sign_up(http, "client"), await sign_up(http, "worker", verified=True)
    job = await post_job(client)
    application = await apply(worker, job["id"])
    for _ in range(3):  # duplicate applications, a missing application, a stranger's close
        problem(
            await worker.post(f"/v1/jobs/{job['id']}/applications", {"cover_letter": "again"}), 409
        )
    missing = f"/v1/jobs/{job['id']}/applications/{uuid.uuid4()}/hire"
    problem(await client.post(missing, {"milestones": [{"title": "A", "amount_cents": 1000}]}), 404)
    await hire(client, job["id"], application["id"], [1000])

    history = await infra.temporal.get_workflow_handle(f"job-{job['id']}").fetch_history()
    accepted = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert accepted == ["publish", "apply", "hire"]
