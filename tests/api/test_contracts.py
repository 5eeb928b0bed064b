"""Contracts over HTTP: the offer, escrow funding, delivery, approval, payout and reviews."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.api.helpers import contract_offer, fund
from tests.conftest import ApiClient, Infra, Person, eventually, problem


async def contract(person: Person, contract_id: str) -> dict[str, Any]:
    response = await person.get(f"/v1/contracts/{contract_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def released(number: int) -> Callable[[dict[str, Any]], bool]:
    return lambda c: bool(c["milestones"][number - 1]["status"] == "released")


async def connect_payout_account(http: ApiClient, worker: Person) -> dict[str, Any]:
    """The worker connects Stripe Express and finishes the hosted onboarding page."""
    started = await worker.post("/v1/payout-account")
    assert started.status_code == 200, started.text
    link = started.json()["onboarding_url"]
    assert started.json()["status"] == "onboarding" and link
    finished = await http.get(link, params={"complete": "1"}, follow_redirects=False)
    assert finished.status_code == 303
    ready = await eventually(
        lambda: worker.get("/v1/payout-account"), lambda r: r.json()["status"] == "ready"
    )
    return dict(ready.json())


async def test_a_contract_from_offer_to_revealed_reviews(http: ApiClient, infra: Infra) -> None:
    client, worker, cid = await contract_offer(http, [40_000, 60_000])
    await connect_payout_account(http, worker)

    accepted = await worker.post(f"/v1/contracts/{cid}/accept")
    assert accepted.status_code == 200 and accepted.json()["stage"] == "active"

    # A declined card answers 402 and changes nothing.
    declined = problem(await fund(client, cid, 1, "pm_card_chargeDeclined"), 402)
    assert declined["type"] == "/problems/card-declined"
    after = await contract(client, cid)
    assert after["milestones"][0]["status"] == "pending" and after["money"]["funded_cents"] == 0

    for number in (1, 2):
        funded = await fund(client, cid, number)
        assert funded.status_code == 200, funded.text
        assert funded.json()["milestones"][number - 1]["status"] == "funded"
        submitted = await worker.post(
            f"/v1/contracts/{cid}/milestones/{number}/submit", {"note": "done"}
        )
        assert submitted.json()["milestones"][number - 1]["status"] == "submitted"
        approved = await client.post(f"/v1/contracts/{cid}/milestones/{number}/approve")
        assert approved.json()["milestones"][number - 1]["status"] == "approved"
        await eventually(lambda: contract(client, cid), released(number))

    done = await eventually(lambda: contract(client, cid), lambda c: c["stage"] == "completed")
    assert done["money"] == {
        "funded_cents": 100_000,
        "escrow_cents": 0,
        "released_cents": 90_000,
        "fee_cents": 10_000,
        "refunded_cents": 0,
        "chargeback_lost_cents": 0,
    }
    assert [m["payout_cents"] for m in done["milestones"]] == [36_000, 54_000]

    # Blind reviews: the client's review is invisible until the worker's arrives.
    first = await client.post(f"/v1/contracts/{cid}/reviews", {"rating": 5, "comment": "Superb"})
    assert first.status_code == 201 and first.json()["reviews"] == []
    assert first.json()["reviews_submitted_by"] == ["client"]
    assert (await http.get(f"/v1/users/{worker.id}/reviews")).json()["count"] == 0
    await worker.post(f"/v1/contracts/{cid}/reviews", {"rating": 4, "comment": "Clear brief"})
    revealed = await eventually(
        lambda: http.get(f"/v1/users/{worker.id}/reviews"), lambda r: r.json()["count"] == 1
    )
    assert (
        revealed.json()["reviews"][0]["comment"] == "Superb"
        and revealed.json()["average_rating"] == 5.0
    )
    client_reviews = (await http.get(f"/v1/users/{client.id}/reviews")).json()
    assert client_reviews["reviews"][0]["rating"] == 4
    final = await eventually(lambda: contract(worker, cid), lambda c: len(c["reviews"]) == 2)
    assert final["stage"] == "completed"

    # The sandbox saw exactly one charge per milestone and one transfer per release.
    stripe = infra.sandbox_url + "/_sandbox/stripe/objects"
    charges = [
        c
        for c in (await http.get(stripe, params={"type": "charge"})).json()["data"]
        if c["transfer_group"] == f"contract-{cid}" and c["status"] == "succeeded"
    ]
    transfers = [
        t
        for t in (await http.get(stripe, params={"type": "transfer"})).json()["data"]
        if t["transfer_group"] == f"contract-{cid}"
    ]
    assert sorted(c["amount"] for c in charges) == [40_000, 60_000]
    assert sorted(t["amount"] for t in transfers) == [36_000, 54_000]


async def test_who_may_do_what(http: ApiClient) -> None:
    client, worker, cid = await contract_offer(http, [10_000])
    outsider = await contract_offer(http, [5_000])
    stranger = outsider[0]
    problem(
        await client.post(f"/v1/contracts/{cid}/accept"), 403
    )  # the client cannot accept their own offer
    problem(await stranger.get(f"/v1/contracts/{cid}"), 403)  # nobody reads another's contract
    problem(await stranger.post(f"/v1/contracts/{cid}/accept"), 403)
    await worker.post(f"/v1/contracts/{cid}/accept")
    problem(
        await client.post(f"/v1/contracts/{cid}/milestones/1/approve"), 409
    )  # approve before submit
    problem(await fund(worker, cid, 1), 403)  # workers do not fund
    problem(await fund(client, cid, 9), 404)  # no such milestone
    problem(await fund(client, cid, 0), 422)  # not a milestone number at all
    assert (await fund(client, cid, 1)).status_code == 200
    problem(await fund(client, cid, 1), 409)  # fund twice
    problem(await client.post(f"/v1/contracts/{cid}/milestones/1/submit"), 403)
    await worker.post(f"/v1/contracts/{cid}/milestones/1/submit")
    problem(
        await worker.post(f"/v1/contracts/{cid}/milestones/1/approve"), 403
    )  # a worker cannot approve
    problem(
        await client.post(
            f"/v1/contracts/{cid}/disputes/resolve", {"release_cents": 1, "refund_cents": 0}
        ),
        403,
    )
    problem(await client.post(f"/v1/contracts/{uuid.uuid4()}/accept"), 404)
    problem(await client.post(f"/v1/contracts/{cid}/milestones/1/request-changes", {}), 422)
    listed = (await worker.get("/v1/contracts", params={"role": "worker"})).json()["items"]
    assert [c["id"] for c in listed] == [cid]


async def test_funding_with_an_idempotency_key_charges_once(http: ApiClient, infra: Infra) -> None:
    client, worker, cid = await contract_offer(http, [25_000])
    await worker.post(f"/v1/contracts/{cid}/accept")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first, second = await fund(client, cid, 1, headers=key), await fund(client, cid, 1, headers=key)
    assert (
        first.status_code == second.status_code == 200
        and second.headers["idempotent-replayed"] == "true"
    )
    objects = (
        await http.get(infra.sandbox_url + "/_sandbox/stripe/objects", params={"type": "charge"})
    ).json()
    assert len([c for c in objects["data"] if c["transfer_group"] == f"contract-{cid}"]) == 1


async def test_release_waits_for_the_workers_payout_account(http: ApiClient) -> None:
    client, worker, cid = await contract_offer(http, [20_000])
    await worker.post(f"/v1/contracts/{cid}/accept")
    await fund(client, cid, 1)
    await worker.post(f"/v1/contracts/{cid}/milestones/1/submit")
    await client.post(f"/v1/contracts/{cid}/milestones/1/approve")
    waiting = await eventually(
        lambda: contract(client, cid), lambda c: c["waiting_for_payout_account"]
    )
    assert (
        waiting["milestones"][0]["status"] == "approved"
        and waiting["money"]["escrow_cents"] == 20_000
    )
    notices = (await worker.get("/v1/me/notifications")).json()
    assert any(n["kind"] == "payout-account-needed" for n in notices)

    await connect_payout_account(http, worker)
    paid = await eventually(
        lambda: contract(client, cid), lambda c: c["milestones"][0]["status"] == "released"
    )
    assert paid["money"]["released_cents"] == 18_000 and not paid["waiting_for_payout_account"]
