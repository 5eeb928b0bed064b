"""What people are told by email and text over a contract's whole life, counted where it
lands (the sandbox outbox), against `make dev`'s processes: every notice exactly once — also
when the worker process is killed while SendGrid holds a send — and no texts after STOP."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.stack import Stack
from models.tables import DELIVERIES
from tests.api.helpers import apply, fund, hire, post_job
from tests.conftest import ApiClient, Person, eventually, sent_to, sign_up

JOB_TITLE = "Bakery website"
CLIENT_EMAILS = {
    "Your Tempwork verification code",
    "Your identity is verified",
    f"New application for “{JOB_TITLE}”",
    "Your offer was accepted",
    "Work submitted for milestone 1",
    "Work submitted for milestone 2",
    "Contract completed — leave a review",
}
WORKER_EMAILS = {
    "Your Tempwork verification code",
    "Your identity is verified",
    "You have a new contract offer",
    "Milestone 1 funded",
    "Milestone 2 funded",
    "Milestone 1 paid",
    "Milestone 2 paid",
    "Contract completed — leave a review",
}
CLIENT_TEXTS = (
    "your offer was accepted",
    "work was submitted for milestone 1",
    "work was submitted for milestone 2",
)
WORKER_TEXTS = (
    "new contract offer",
    "milestone 1 is funded",
    "milestone 2 is funded",
    "milestone 1 paid",
    "milestone 2 paid",
)


async def emails(api: ApiClient, person: Person) -> Counter[str]:
    return Counter(m["subject"] for m in await sent_to(api, person.email, channel="email"))


async def texts(api: ApiClient, person: Person) -> list[str]:
    """Our texts to the person (not Twilio's own replies, nor Verify's codes)."""
    assert person.phone
    found = await sent_to(api, person.phone, channel="sms")
    return [m["body"] for m in found if m["body"].startswith("Tempwork: ")]


async def contract_with_ready_payouts(api: ApiClient, client: Person, worker: Person) -> str:
    job = await post_job(client, title=JOB_TITLE)
    application = await apply(worker, job["id"])
    cid = str((await hire(client, job["id"], application["id"], [50_000, 100_000]))["id"])
    link = (await worker.post("/v1/payout-account")).json()["onboarding_url"]
    await api.get(link, params={"complete": "1"})
    await eventually(
        lambda: worker.get("/v1/payout-account"), lambda r: r.json()["status"] == "ready"
    )
    assert (await worker.post(f"/v1/contracts/{cid}/accept")).status_code == 200
    return cid


async def deliver_and_finish(
    api: ApiClient, client: Person, worker: Person, cid: str, n: int
) -> None:
    await worker.post(f"/v1/contracts/{cid}/milestones/{n}/submit", {"note": f"part {n}"})
    assert (await client.post(f"/v1/contracts/{cid}/milestones/{n}/approve")).status_code == 200


async def test_each_notice_is_sent_once_even_when_the_worker_dies_mid_send(
    stack: Stack, api: ApiClient, db: AsyncEngine
) -> None:
    client = await sign_up(api, "client", "Carla", verified=True)
    worker = await sign_up(api, "worker", "Wes", verified=True)
    cid = await contract_with_ready_payouts(api, client, worker)
    # Let the notices so far go out, so the fault below catches the funding email.
    await eventually(lambda: emails(api, client), lambda s: "Your offer was accepted" in s)
    await eventually(lambda: texts(api, client), lambda t: len(t) == 1)

    async with httpx.AsyncClient(base_url=stack.sandbox_url) as sandbox:
        # SendGrid accepts the "milestone funded" email, then takes 5 s to answer; the worker
        # process is killed meanwhile. The retry on the new worker must not send it again.
        await sandbox.post(
            "/_sandbox/faults",
            json={"hang_after_commit_ms": {"path_prefix": "/sendgrid/v3/mail/send", "ms": 5_000}},
        )
        assert (await fund(client, cid, 1)).status_code == 200
        await eventually(
            lambda: emails(api, worker), lambda sent: "Milestone 1 funded" in sent, timeout=20
        )
        stack.processes["worker"].kill()
        await sandbox.delete("/_sandbox/faults")
    stack.restart_worker()

    await deliver_and_finish(api, client, worker, cid, 1)
    assert (await fund(client, cid, 2, timeout=120)).status_code == 200
    await deliver_and_finish(api, client, worker, cid, 2)
    await eventually(
        lambda: client.get(f"/v1/contracts/{cid}"),
        lambda r: r.json()["stage"] == "completed",
        timeout=120,
    )

    # Everyone got everything (the crashed send's retry waits out its 30 s timeout) …
    await eventually(lambda: emails(api, worker), lambda s: set(s) >= WORKER_EMAILS, timeout=90)
    await eventually(lambda: emails(api, client), lambda s: set(s) >= CLIENT_EMAILS, timeout=30)
    await eventually(lambda: texts(api, worker), lambda t: len(t) >= len(WORKER_TEXTS), timeout=30)
    await eventually(lambda: texts(api, client), lambda t: len(t) >= len(CLIENT_TEXTS), timeout=30)
    # … exactly once each.
    for person, expected in ((worker, WORKER_EMAILS), (client, CLIENT_EMAILS)):
        sent = await emails(api, person)
        assert set(sent) == expected, sent
        assert max(sent.values()) == 1, sent
    for person, expected_texts in ((worker, WORKER_TEXTS), (client, CLIENT_TEXTS)):
        sent_texts = await texts(api, person)
        assert len(sent_texts) == len(set(sent_texts)) == len(expected_texts), sent_texts
        for fragment in expected_texts:
            assert sum(fragment in t for t in sent_texts) == 1, (fragment, sent_texts)

    # The crash really happened mid-send: once the dead attempt times out (30 s), the step
    # runs again on the new worker — and finds the email already sent.
    async def funding_email() -> Any:
        async with db.connect() as conn:
            return (
                await conn.execute(
                    sa.select(DELIVERIES.c.attempts, DELIVERIES.c.status).where(
                        DELIVERIES.c.user_id == worker.id,
                        DELIVERIES.c.channel == "email",
                        DELIVERIES.c.kind == "funded",
                        DELIVERIES.c.dedupe_key.like("%:funded-1:%"),
                    )
                )
            ).one()

    crashed = await eventually(funding_email, lambda row: row.attempts == 2, timeout=90)
    assert crashed.status in ("sent", "delivered")
    assert (await emails(api, worker))["Milestone 1 funded"] == 1


async def test_a_worker_who_replied_stop_gets_email_but_no_texts(
    stack: Stack, api: ApiClient
) -> None:
    client = await sign_up(api, "client")
    worker = await sign_up(api, "worker", verified=True)
    assert worker.phone
    async with httpx.AsyncClient(base_url=stack.sandbox_url) as sandbox:
        stop = {"from": worker.phone, "body": "STOP"}
        (await sandbox.post("/_sandbox/twilio/inbound", json=stop)).raise_for_status()
    await eventually(
        lambda: worker.get("/v1/me/notification-preferences"), lambda r: r.json()["sms"] is False
    )
    cid = await contract_with_ready_payouts(api, client, worker)
    assert (await fund(client, cid, 1)).status_code == 200
    await eventually(lambda: emails(api, worker), lambda s: "Milestone 1 funded" in s)

    assert await texts(api, worker) == []  # the offer and the funding: email only
    everything = [m["body"] for m in await sent_to(api, worker.phone, channel="sms")]
    assert any("unsubscribed" in body.lower() for body in everything)  # Twilio's own answer
