"""Identity activities against the sandboxes: Stripe Identity sessions through the official SDK
and the check provider over httpx — one session / candidate / invitation / adverse action per
idempotency key, however often a step is retried."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.identity import IdentityActivities, checks_client
from activities.payments import stripe_client
from models.verification import (
    AdverseActionRequest,
    BackgroundCheckRequest,
    CancelIdentitySession,
    IdentitySessionRequest,
)
from sandbox.testing import running_sandbox
from tests.conftest import eventually, sandbox_settings

ENV = ActivityEnvironment()


@pytest.fixture(scope="module")
async def sandbox() -> AsyncIterator[str]:
    async with running_sandbox() as url:
        yield url


@pytest.fixture
async def identity(sandbox: str) -> AsyncIterator[IdentityActivities]:
    settings = sandbox_settings(sandbox)
    checks = checks_client(settings)
    yield IdentityActivities(stripe_client(settings), checks)
    await checks.aclose()


async def objects(sandbox: str, path: str, kind: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=sandbox) as http:
        response = await http.get(path, params={"type": kind})
        response.raise_for_status()
        return list(response.json()["data"])


PERSON = uuid.uuid4()


def background(key: str, email: str, candidate_id: str | None = None) -> BackgroundCheckRequest:
    return BackgroundCheckRequest(
        idempotency_key=key,
        user_id=PERSON,
        candidate_id=candidate_id,
        email=email,
        first_name="Wes",
        last_name="Baker",
        package="tasker_standard",
        work_state="CA",
        work_city="San Francisco",
    )


async def test_one_identity_session_per_key_and_a_fresh_link_each_time(
    identity: IdentityActivities, sandbox: str
) -> None:
    request = IdentitySessionRequest(
        idempotency_key=f"verification-{uuid.uuid4()}:identity:1",
        user_id=uuid.uuid4(),
        email="wes@example.com",
        return_url="http://127.0.0.1:1/back",
    )
    first = await ENV.run(identity.create_session, request)
    again = await ENV.run(identity.create_session, request)  # a retried activity
    assert first.session_id == again.session_id and first.status == "requires_input"
    link = await ENV.run(identity.session_link, first.session_id)
    assert link.url and link.url != first.url  # Stripe's links are single-use
    sessions = await objects(sandbox, "/_sandbox/stripe/objects", "identity.verification_session")
    assert [s["id"] for s in sessions].count(first.session_id) == 1
    mine = next(s for s in sessions if s["id"] == first.session_id)
    assert mine["metadata"] == {"user_id": str(request.user_id)}
    cancel = CancelIdentitySession(
        idempotency_key=f"{request.idempotency_key}:cancel", session_id=first.session_id
    )
    assert await ENV.run(identity.cancel_session, cancel) == "canceled"
    assert await ENV.run(identity.cancel_session, cancel) == "canceled"  # retried: same answer


async def test_a_background_check_invites_once_and_reuses_the_candidate(
    identity: IdentityActivities, sandbox: str
) -> None:
    email = f"wes-{uuid.uuid4().hex[:6]}@example.com"
    key = f"verification-{uuid.uuid4()}:background"
    first = await ENV.run(identity.start_background_check, background(f"{key}:1", email))
    retried = await ENV.run(identity.start_background_check, background(f"{key}:1", email))
    assert retried == first and first.invitation_url.startswith(sandbox)
    second = await ENV.run(
        identity.start_background_check, background(f"{key}:2", email, first.candidate_id)
    )
    assert second.candidate_id == first.candidate_id
    assert second.invitation_id != first.invitation_id
    candidates = await objects(sandbox, "/_sandbox/checks/objects", "candidate")
    assert [c["email"] for c in candidates].count(email) == 1


async def test_rejecting_a_consider_report_files_one_adverse_action(
    identity: IdentityActivities, sandbox: str
) -> None:
    email = f"wes+consider-{uuid.uuid4().hex[:6]}@example.com"
    started = await ENV.run(identity.start_background_check, background(f"k-{uuid.uuid4()}", email))
    async with httpx.AsyncClient() as http:
        form = await http.get(started.invitation_url, params={"complete": "1"})
        assert form.status_code < 400

    async def reports() -> list[dict[str, Any]]:
        found = await objects(sandbox, "/_sandbox/checks/objects", "report")
        return [r for r in found if r["candidate_id"] == started.candidate_id]

    report = (await eventually(reports, lambda r: bool(r) and r[0]["status"] == "complete"))[0]
    assert report["result"] == "consider"
    items = await ENV.run(identity.adverse_items, report["id"])
    assert items
    request = AdverseActionRequest(
        idempotency_key=f"k-{uuid.uuid4()}:adverse",
        report_id=report["id"],
        adverse_item_ids=items,
        reason="x",
    )
    first = await ENV.run(identity.create_adverse_action, request)
    assert (await ENV.run(identity.create_adverse_action, request)) == first
    actions = await objects(sandbox, "/_sandbox/checks/objects", "adverse_action")
    assert [a["report_id"] for a in actions].count(report["id"]) == 1
    with pytest.raises(ApplicationError) as refused:  # another key: the provider says no
        await ENV.run(
            identity.create_adverse_action,
            request.model_copy(update={"idempotency_key": f"k-{uuid.uuid4()}"}),
        )
    assert refused.value.type == "BackgroundCheckRejected" and refused.value.non_retryable
