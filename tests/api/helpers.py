"""Story helpers for API tests: the steps a client and a worker take, over HTTP."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from core.accounts import create_user
from models.common import Role
from tests.conftest import ApiClient, Infra, Person, placeholder_settings_env, sign_up


@asynccontextmanager
async def app_with(infra: Infra, **settings: Any) -> AsyncIterator[ApiClient]:
    """Another API process on the same database, Temporal and sandboxes, with some settings
    changed (tight limits, small bounds) without touching the shared test app."""
    from api.main import create_app
    from sandbox.testing import serve_asgi

    app = create_app(infra.settings.model_copy(update=settings))
    async with serve_asgi(app) as url, ApiClient(url, infra.sandbox_url) as client:
        yield client


def openapi_schema() -> dict[str, Any]:
    """The app's OpenAPI document, built without a running stack."""
    os.environ.update({k: v for k, v in placeholder_settings_env().items() if k not in os.environ})
    from api.main import create_app

    return create_app().openapi()


async def post_job(client: Person, **overrides: Any) -> dict[str, Any]:
    body = {
        "title": "Landing page for a bakery",
        "description": "A warm, fast landing page with an order form.",
        "skills": ["react", "css"],
        "budget_cents": 120_000,
    } | overrides
    response = await client.post("/v1/jobs", body)
    assert response.status_code == 201, response.text
    return dict(response.json())


PROFILE: dict[str, Any] = {
    "headline": "Licensed plumber, emergency repairs",
    "bio": "Twenty years of leaks, boilers and bathrooms.",
    "skills": ["plumbing", "heating"],
    "hourly_rate_cents": 6_500,
    "service_area": {
        "city": "Oakland",
        "latitude": 37.8044,
        "longitude": -122.2712,
        "radius_km": 25,
    },
}


async def put_profile(worker: Person, **overrides: Any) -> dict[str, Any]:
    response = await worker.put("/v1/me/profile", PROFILE | overrides)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def apply(worker: Person, job_id: str) -> dict[str, Any]:
    response = await worker.post(
        f"/v1/jobs/{job_id}/applications", {"cover_letter": "I bake and code."}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def hire(
    client: Person, job_id: str, application_id: str, amounts: list[int]
) -> dict[str, Any]:
    milestones = [{"title": f"Milestone {i}", "amount_cents": a} for i, a in enumerate(amounts, 1)]
    response = await client.post(
        f"/v1/jobs/{job_id}/applications/{application_id}/hire", {"milestones": milestones}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def contract_offer(http: ApiClient, amounts: list[int]) -> tuple[Person, Person, str]:
    """A client posts a job, a verified worker applies and is hired: returns
    (client, worker, contract id)."""
    client, worker = await sign_up(http, "client"), await sign_up(http, "worker", verified=True)
    job = await post_job(client)
    application = await apply(worker, job["id"])
    contract = await hire(client, job["id"], application["id"], amounts)
    return client, worker, str(contract["id"])


async def fund(
    client: Person, contract_id: str, milestone: int, card: str = "pm_card_visa", **kw: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/contracts/{contract_id}/milestones/{milestone}/fund", {"payment_method": card}, **kw
    )


STAFF_PASSWORD = "support password 123"


async def staff(http: ApiClient, infra: Infra, role: Role = Role.SUPPORT) -> Person:
    """Support and admin accounts are created by ops (`ops create-user`), not by registration."""
    email, password = f"{role}-{uuid.uuid4().hex[:8]}@example.com", STAFF_PASSWORD
    name = "Sam Support" if role is Role.SUPPORT else "Ada Admin"
    user = await create_user(infra.engine, email, password, name, role)
    token = await http.post("/v1/auth/token", data={"username": email, "password": password})
    return Person(http, user.model_dump(mode="json"), token.json()["access_token"])
