"""Finding workers over HTTP: profiles, the facts workflows add to them, ranked search with
filters and distance, every sort order paged once, and bad input refused.

Each test keeps to its own people with a skill named after the test run (``tag``) or a place
nobody else uses, because the database is shared with the rest of the suite."""

from __future__ import annotations

import math
import random
import uuid
from typing import Any

from tests.api.helpers import PROFILE, apply, fund, hire, post_job, put_profile
from tests.api.test_contracts import connect_payout_account, contract
from tests.conftest import ApiClient, Person, eventually, problem, sign_up


def offset(lat: float, lon: float, km_north: float, km_east: float = 0.0) -> dict[str, float]:
    """A point so many km from (lat, lon): small distances on the sphere."""
    return {
        "latitude": lat + km_north / 111.195,
        "longitude": lon + km_east / (111.195 * math.cos(math.radians(lat))),
    }


def somewhere() -> tuple[float, float]:
    """A town of our own, far from every other test's people."""
    return random.uniform(-50, 50), random.uniform(-170, 170)


async def worker_with_profile(
    http: ApiClient, at: dict[str, float], *, verified: bool = False, **profile: Any
) -> Person:
    worker = await sign_up(http, "worker", verified=verified)
    area = {"city": "Testville", "radius_km": 30, **at}
    await put_profile(worker, service_area=area, **profile)
    return worker


async def completed_with_review(http: ApiClient, worker: Person, stars: int) -> str:
    """A client hires the worker, pays, approves; both review; the reviews are revealed."""
    client = await sign_up(http, "client")
    job = await post_job(client, title="Fix a leaking kitchen tap")
    application = await apply(worker, job["id"])
    cid = str((await hire(client, job["id"], application["id"], [20_000]))["id"])
    assert (await worker.post(f"/v1/contracts/{cid}/accept")).status_code == 200
    assert (await fund(client, cid, 1)).status_code == 200
    submitted = await worker.post(f"/v1/contracts/{cid}/milestones/1/submit", {"note": "done"})
    assert submitted.status_code == 200
    assert (await client.post(f"/v1/contracts/{cid}/milestones/1/approve")).status_code == 200
    await eventually(lambda: contract(client, cid), lambda c: c["stage"] == "completed")
    for author, rating in ((client, stars), (worker, 5)):
        review = await author.post(
            f"/v1/contracts/{cid}/reviews", {"rating": rating, "comment": "ok"}
        )
        assert review.status_code == 201, review.text
    return cid


async def test_a_client_finds_a_verified_well_rated_plumber_nearby_first(http: ApiClient) -> None:
    lat, lon = somewhere()
    tag = uuid.uuid4().hex[:8]
    skills = ["plumbing", tag]
    # Listed first: verified, five stars from a real contract, 2 km away.
    trusted = await worker_with_profile(
        http, offset(lat, lon, 2), verified=True, skills=skills, headline="Plumber, 20 years"
    )
    await connect_payout_account(http, trusted)
    await completed_with_review(http, trusted, stars=5)
    # Then: unverified, no reviews, 8 km away — still inside the 10 km asked for.
    newcomer = await worker_with_profile(
        http, offset(lat, lon, -8), skills=skills, headline="Plumber, new in town"
    )
    # Not listed: a plumber 30 km away, and a worker who never wrote a profile.
    await worker_with_profile(http, offset(lat, lon, 30), skills=skills, headline="Plumber")
    await sign_up(http, "worker", verified=True)
    client = await sign_up(http, "client")

    # The facts reach the profile from the workflows: badges, rating, completed work.
    async def facts() -> dict[str, Any]:
        return dict((await client.get(f"/v1/workers/{trusted.id}")).json())

    profile = await eventually(facts, lambda p: p["rating"]["count"] == 1)
    assert profile["rating"] == {"average": 5.0, "count": 1}
    assert {"email", "phone", "identity"} <= set(profile["badges"])
    assert profile["completed_contracts"] == 1
    assert profile["response_minutes"] is not None

    found = await client.get(
        "/v1/workers",
        params={"q": "plumber", "near": f"{lat},{lon}", "radius_km": 10, "skills": tag},
    )
    assert found.status_code == 200, found.text
    hits = found.json()["items"]
    assert [h["user_id"] for h in hits] == [trusted.id, newcomer.id]
    assert [h["distance_km"] for h in hits] == [2.0, 8.0]
    assert hits[0]["badges"] and hits[1]["badges"] == []
    assert "latitude" not in hits[0] and "email" not in hits[0]  # where exactly: only the city

    # Filters narrow the same search.
    async def ids(**params: Any) -> list[str]:
        response = await client.get("/v1/workers", params={"skills": tag, **params})
        assert response.status_code == 200, response.text
        return [h["user_id"] for h in response.json()["items"]]

    near = {"near": f"{lat},{lon}", "radius_km": 10}
    assert await ids(**near, verified="true") == [trusted.id]
    assert await ids(**near, verified="false") == [newcomer.id]
    assert await ids(**near, min_rating=4.5) == [trusted.id]
    # Between the indexed half-star bands, and below the lowest: the exact average decides.
    assert await ids(**near, min_rating=4.96) == [trusted.id]
    assert await ids(**near, min_rating=0.2) == [trusted.id]  # rated at all
    assert await ids(**near, max_rate=1_000) == []
    assert len(await ids(**near | {"radius_km": 50})) == 3
    assert await ids(**near, sort="distance") == [trusted.id, newcomer.id]


async def test_max_rate_keeps_exactly_the_workers_at_or_under_it(http: ApiClient) -> None:
    """Rates are indexed in bands (30 $/h or less, 40 $/h or less…); a limit on a band's edge,
    between two bands or above the highest keeps exactly the rates at or under it."""
    lat, lon = somewhere()
    tag = uuid.uuid4().hex[:8]
    rates = (2_999, 3_000, 3_001, 60_000)
    workers = {
        rate: await worker_with_profile(
            http, offset(lat, lon, 1), skills=[tag], hourly_rate_cents=rate
        )
        for rate in rates
    }
    client = await sign_up(http, "client")

    async def under(limit: int) -> set[str]:
        response = await client.get(
            "/v1/workers",
            params={"q": "plumber", "skills": tag, "max_rate": limit, "near": f"{lat},{lon}"},
        )
        assert response.status_code == 200, response.text
        return {h["user_id"] for h in response.json()["items"]}

    for limit in (2_998, 2_999, 3_000, 3_001, 50_000, 59_999, 60_000, 1_000_000):
        assert await under(limit) == {w.id for r, w in workers.items() if r <= limit}, limit


async def test_text_relevance_headline_then_skills_then_anywhere_and_prefix(
    http: ApiClient,
) -> None:
    lat, lon = somewhere()
    tag = uuid.uuid4().hex[:8]
    here = offset(lat, lon, 1)
    in_bio = await worker_with_profile(
        http, here, skills=["carpentry", tag], headline="Handy help", bio="I also do tiling."
    )
    in_skills = await worker_with_profile(
        http, here, skills=["tiling", tag], headline="Bathrooms and kitchens"
    )
    in_headline = await worker_with_profile(
        http, here, skills=["tiling", tag], headline="Tiling specialist"
    )
    client = await sign_up(http, "client")

    async def ids(q: str) -> list[str]:
        response = await client.get("/v1/workers", params={"q": q, "skills": tag})
        assert response.status_code == 200, response.text
        return [h["user_id"] for h in response.json()["items"]]

    expected = [in_headline.id, in_skills.id, in_bio.id]
    assert await ids("tiling") == expected
    assert await ids("tiles") == expected  # stemmed: tiles, tiling → tile
    assert await ids("tiling special*") == [in_headline.id]  # a prefix, as you type
    assert await ids("tiling special") == []  # without the *, words match whole
    assert await ids("tiling specialist") == [in_headline.id]  # every word must match
    assert await ids('"tiling specialist"') == [in_headline.id]
    assert await ids("tiling -specialist") == [in_skills.id, in_bio.id]
    assert set(await ids("the")) == set(expected)  # only stop words: no text condition


async def pages(person: Person, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of a search, two at a time, following next_cursor to the end."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        response = await person.get(
            path, params=params | {"limit": 2, **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("more than 50 pages")


async def test_every_sort_order_pages_through_every_worker_exactly_once(http: ApiClient) -> None:
    lat, lon = somewhere()
    tag = uuid.uuid4().hex[:8]
    # Seven workers, two of them at the very same spot (a distance tie), some sharing words.
    spots = [1, 3, 3, 5, 7, 9, 11]
    workers = [
        await worker_with_profile(
            http,
            offset(lat, lon, km),
            skills=["gardening", tag],
            headline="Gardener" if i % 2 else "Hedges and lawns, gardener",
            hourly_rate_cents=4_000 + 500 * i,
        )
        for i, km in enumerate(spots)
    ]
    everyone = {w.id for w in workers}
    client = await sign_up(http, "client")
    near = {"near": f"{lat},{lon}", "radius_km": 20}
    for params in (
        {"sort": "relevance"},
        {"sort": "relevance", "q": "gardener"},
        {"sort": "relevance", "q": "hedges"},
        {"sort": "rating"},
        {"sort": "distance", **near},
        {"sort": "relevance", **near},
    ):
        items = await pages(client, "/v1/workers", {"skills": tag, **params})
        ids = [i["user_id"] for i in items]
        assert len(ids) == len(set(ids)), f"a worker twice with {params}"
        expected = {w.id for w in workers[::2]} if params.get("q") == "hedges" else everyone
        assert set(ids) == expected, f"a worker missing with {params}"
        if params["sort"] == "distance":
            distances = [i["distance_km"] for i in items]
            assert distances == sorted(distances)


async def test_every_job_sort_order_pages_through_every_job_exactly_once(
    http: ApiClient,
) -> None:
    lat, lon = somewhere()
    tag = uuid.uuid4().hex[:8]
    client = await sign_up(http, "client")
    jobs = []
    for i, km in enumerate([1, 2, 4, 8, 16]):
        place = {"city": "Testville", **offset(lat, lon, km)}
        jobs.append(
            await post_job(
                client,
                title="Mow the lawn" if i % 2 else "Trim the hedges and mow",
                skills=["gardening", tag],
                budget_cents=10_000 + 1_000 * (i % 3),  # budget ties too
                on_site=True,
                location=place if i != 4 else None,  # one remote job
            )
        )
    everyone = {j["id"] for j in jobs}
    located = {j["id"] for j in jobs[:4]}
    await eventually(  # searchable once the search queue has indexed them
        lambda: pages(client, "/v1/jobs", {"skills": tag}), lambda found: len(found) == 5
    )
    near = {"near": f"{lat},{lon}", "radius_km": 10}
    for params, expected in (
        ({"sort": "relevance"}, everyone),
        ({"sort": "newest"}, everyone),
        ({"sort": "budget"}, everyone),
        ({"q": "mow"}, everyone),
        ({"q": "hedges", "sort": "budget"}, {jobs[0]["id"], jobs[2]["id"], jobs[4]["id"]}),
        ({**near, "sort": "relevance"}, located),
        ({**near, "sort": "newest"}, located),
    ):
        items = await pages(client, "/v1/jobs", {"skills": tag, **params})
        ids = [i["id"] for i in items]
        assert len(ids) == len(set(ids)), f"a job twice with {params}"
        assert set(ids) == expected, f"a job missing with {params}"
        if params.get("sort") == "budget":
            budgets = [i["budget_cents"] for i in items]
            assert budgets == sorted(budgets, reverse=True)
        if params.get("sort") == "newest":
            assert ids == [j["id"] for j in reversed(jobs) if j["id"] in expected]
        if "near" in params:
            assert all(i["distance_km"] <= 10 for i in items)
            assert items[0]["location"]["city"] == "Testville"


async def test_bad_coordinates_radius_and_cursors_answer_422(http: ApiClient) -> None:
    client = await sign_up(http, "client")
    worker = await sign_up(http, "worker")
    for path in ("/v1/workers", "/v1/jobs"):
        for params in (
            {"near": "91,0"},  # latitude beyond the pole
            {"near": "0,181"},
            {"near": "somewhere"},
            {"near": "40.7"},
            {"near": "40.7,-74,3"},
            {"near": "nan,nan"},
            {"near": "40.7,-74", "radius_km": 0},
            {"near": "40.7,-74", "radius_km": -3},
            {"near": "40.7,-74", "radius_km": 501},
            {"near": "40.7,-74", "radius_km": "far"},
            {"radius_km": 10},  # a radius around nothing
            {"sort": "distance"},  # nearest to nothing
            {"cursor": "garbage"},
            {"sort": "sideways"},
            {"q": "plumb\x00er"},  # U+0000 and other control characters
            {"skills": "pipe\x07s"},
            {"near": "40.7\x00,-74"},
            {"limit": 1_000},
            {"cursor": "x" * 600},
        ):
            body = problem(await client.get(path, params=params), 422)
            assert body["type"] == "/problems/validation-error", (path, params)
    for params in ({"min_rating": 6}, {"max_rate": -1}, {"max_rate": 10**20}):
        problem(await client.get("/v1/workers", params=params), 422)
    # A cursor from one search does not page through another.
    tag = uuid.uuid4().hex[:8]
    lat, lon = somewhere()
    for km in (1, 2, 3):
        await worker_with_profile(http, offset(lat, lon, km), skills=["painting", tag])
    first = (await client.get("/v1/workers", params={"skills": tag, "limit": 1})).json()
    other = await client.get(
        "/v1/workers",
        params={"skills": tag, "limit": 1, "sort": "rating", "cursor": first["next_cursor"]},
    )
    assert "different search" in problem(other, 422)["detail"]
    # A profile with nonsense in it is refused whole, and nothing is saved.
    bad_area = PROFILE["service_area"] | {"latitude": 123}
    problem(await worker.put("/v1/me/profile", PROFILE | {"service_area": bad_area}), 422)
    problem(await worker.put("/v1/me/profile", PROFILE | {"skills": []}), 422)
    problem(await worker.put("/v1/me/profile", PROFILE | {"hourly_rate_cents": 0}), 422)
    problem(await worker.put("/v1/me/profile", PROFILE | {"headline": "Plumber\x00"}), 422)
    problem(await worker.put("/v1/me/profile", PROFILE | {"hourly_rate_cents": 10**20}), 422)
    problem(await worker.get("/v1/me/profile"), 404)
    problem(await client.get(f"/v1/workers/{worker.id}"), 404)  # no profile: not listed
