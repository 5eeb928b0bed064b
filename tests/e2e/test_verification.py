"""A new worker earns the right to apply, over HTTP against `make dev`'s processes: the email
code read from the sandbox outbox, the phone code texted by Twilio Verify, the identity
document checked on Stripe's (sandbox) page whose signed webhook reports the result, and the
background check filled in on the provider's form — then applies to an on-site job."""

from __future__ import annotations

from typing import Any

from tests.api.helpers import apply, post_job
from tests.conftest import (
    ApiClient,
    eventually,
    latest_code,
    new_phone_number,
    problem,
    sign_up,
    step_status,
)


def step(response: Any, name: str) -> dict[str, Any]:
    return dict(next(s for s in response.json()["steps"] if s["step"] == name))


async def test_a_worker_verifies_every_step_then_applies(api: ApiClient) -> None:
    client, worker = await sign_up(api, "client", "Carla"), await sign_up(api, "worker", "Wes")
    job = await post_job(client, title="Fix the garden fence", on_site=True)
    refused = problem(
        await worker.post(f"/v1/jobs/{job['id']}/applications", {"cover_letter": "Hi"}), 403
    )
    assert refused["missing_steps"] == ["email", "phone", "identity", "background"]

    # Email: a 6-digit code arrives (the sandbox outbox is Wes's inbox).
    assert step(await worker.post("/v1/verifications/email"), "email")["status"] == "code_sent"
    code = await latest_code(api, worker.email)
    assert len(code) == 6
    verified = await worker.post("/v1/verifications/email/confirm", {"code": code})
    assert step(verified, "email")["status"] == "verified"

    # Phone: Twilio Verify texts the code.
    number = new_phone_number()
    assert (
        await worker.post("/v1/verifications/phone", {"phone_number": number})
    ).status_code == 200
    texted = await latest_code(api, number)
    verified = await worker.post("/v1/verifications/phone/confirm", {"code": texted})
    assert step(verified, "phone")["status"] == "verified"

    # Identity: Stripe's page, then Stripe's signed webhook says "verified".
    link = step(await worker.post("/v1/verifications/identity"), "identity")["url"]
    assert link.startswith("http")
    page = await api.get(link, params={"outcome": "verified"})
    assert page.status_code in (200, 303)
    await eventually(lambda: step_status(worker, "identity"), lambda s: s == "verified", timeout=30)

    # Still not enough for on-site work.
    refused = problem(
        await worker.post(f"/v1/jobs/{job['id']}/applications", {"cover_letter": "Hi"}), 403
    )
    assert refused["missing_steps"] == ["background"]

    # Background: the provider's form, then its signed report.completed webhook.
    started = await worker.post(
        "/v1/verifications/background",
        {"first_name": "Wes", "last_name": "Baker", "work_state": "CA"},
    )
    form = step(started, "background")["url"]
    assert (await api.get(form, params={"complete": "1", "result": "clear"})).status_code < 400
    await eventually(
        lambda: step_status(worker, "background"), lambda s: s == "verified", timeout=30
    )

    view = (await worker.get("/v1/verifications")).json()
    assert view["verified_steps"] == ["email", "phone", "identity", "background"]
    assert (await worker.get("/v1/me")).json()["verification_level"] == 4
    assert (await apply(worker, job["id"]))["status"] == "applied"
