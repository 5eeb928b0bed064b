"""Support staff act on contracts over HTTP (/v1/support/...): the same validated updates as in
the Temporal UI and CLI, each recorded with who and why, and the queue of what needs a human.
Money is counted at the provider sandbox, not in our own tables."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

from temporalio.api.enums.v1 import EventType

from devstack.binaries import temporal_cli
from tests.api.helpers import contract_offer, fund, staff
from tests.api.test_contracts import connect_payout_account, contract
from tests.conftest import ApiClient, Infra, Person, eventually, problem

SUPPORT = "/v1/support"


def on(cid: str, action: str) -> str:
    return f"{SUPPORT}/contracts/{cid}/{action}"


async def money_at_stripe(http: ApiClient, infra: Infra, cid: str) -> dict[str, list[int]]:
    moved = (
        await http.get(infra.sandbox_url + "/_sandbox/stripe/money", params={"contract_id": cid})
    ).json()["data"]
    kinds: dict[str, list[int]] = {"charge": [], "refund": [], "transfer": []}
    for m in moved:
        if m["object"] in kinds and m["status"] in ("succeeded", "paid", None):
            kinds[m["object"]].append(m["amount"])
    return {k: sorted(v) for k, v in kinds.items()}


async def trail(support: Person, cid: str) -> list[dict[str, Any]]:
    answer = await support.get(f"{SUPPORT}/actions", params={"contract_id": cid})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def update_inputs(infra: Infra, cid: str, name: str) -> list[dict[str, Any]]:
    """What the workflow's history holds as the input of each accepted update of this name."""
    handle = infra.temporal.get_workflow_handle(f"contract-{cid}")
    found = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if request.input.name == name:
                found.append(json.loads(request.input.args.payloads[0].data))
    return found


async def funded_contract(http: ApiClient, amounts: list[int]) -> tuple[Person, Person, str]:
    client, worker, cid = await contract_offer(http, amounts)
    await connect_payout_account(http, worker)
    assert (await worker.post(f"/v1/contracts/{cid}/accept")).status_code == 200
    for n in range(1, len(amounts) + 1):
        assert (await fund(client, cid, n)).status_code == 200
    return client, worker, cid


async def test_support_gives_a_traveling_worker_two_more_days_and_says_why(
    http: ApiClient, infra: Infra
) -> None:
    client, worker, cid = await contract_offer(http, [10_000])
    support = await staff(http, infra)
    # The hire answered 201 with the contract; its projection row follows (a 404 here once,
    # with the machine loaded).
    visible = await eventually(
        lambda: client.get(f"/v1/contracts/{cid}"), lambda r: r.status_code == 200
    )
    before = dict(visible.json())
    why = "Worker is travelling until Friday and asked for two more days"

    for outsider in (client, worker):
        problem(
            await outsider.post(
                on(cid, "extend-deadline"), {"which": "offer", "by": "P2D", "reason": why}
            ),
            403,
        )
    extended = await support.post(
        on(cid, "extend-deadline"), {"which": "offer", "by": "P2D", "reason": why}
    )
    assert extended.status_code == 200, extended.text
    old, new = (datetime.fromisoformat(c["offer_expires_at"]) for c in (before, extended.json()))
    assert (new - old).days == 2

    # Who and why: in the audit table …
    [row] = await trail(support, cid)
    assert (row["action"], row["actor_id"], row["reason"]) == ("extend_deadline", support.id, why)
    assert row["details"]["which"] == "offer"
    # … and in the workflow's history, as the update's input.
    [sent] = await update_inputs(infra, cid, "extend_deadline")
    assert sent["actor"] == {"user_id": support.id, "role": "support"} and sent["reason"] == why
    assert row["update_id"] and row["workflow_id"] == f"contract-{cid}"

    # A deadline in the past or one that no longer applies is refused; nothing is recorded.
    problem(
        await support.post(
            on(cid, "extend-deadline"),
            {"which": "offer", "until": "2020-01-01T00:00:00Z", "reason": "typo"},
        ),
        422,
    )
    problem(
        await support.post(
            on(cid, "extend-deadline"), {"which": "funding", "by": "P1D", "reason": "too early"}
        ),
        409,
    )
    assert len(await trail(support, cid)) == 1


async def test_support_cancels_a_funded_contract_and_the_client_is_refunded_once(
    http: ApiClient, infra: Infra
) -> None:
    client, worker, cid = await funded_contract(http, [30_000, 20_000])
    support = await staff(http, infra)
    why = "Both parties agreed by phone to end the contract"
    for outsider in (client, worker):
        problem(await outsider.post(on(cid, "cancel"), {"reason": why}), 403)

    once = {"Idempotency-Key": "cancel-ticket-4711"}
    cancelled = await support.post(on(cid, "cancel"), {"reason": why}, headers=once)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["stage"] == "cancelled"
    assert [m["status"] for m in cancelled.json()["milestones"]] == ["refunded", "refunded"]
    # A retry with the same key (a lost answer) is the same update: the same answer, once —
    # even after the contract's workflow has finished.
    await infra.temporal.get_workflow_handle(f"contract-{cid}").result()
    retried = await support.post(on(cid, "cancel"), {"reason": why}, headers=once)
    assert retried.status_code == 200 and retried.json() == cancelled.json()
    # Asked again without a key (a double click): refused, and nothing moves twice.
    problem(await support.post(on(cid, "cancel"), {"reason": why}), 409)

    after = await eventually(
        lambda: contract(client, cid), lambda c: c["money"]["refunded_cents"] == 50_000
    )
    assert after["money"]["escrow_cents"] == 0 and after["money"]["funded_cents"] == 50_000
    assert await money_at_stripe(http, infra, cid) == {
        "charge": [20_000, 30_000],
        "refund": [20_000, 30_000],
        "transfer": [],
    }
    [row] = await trail(support, cid)
    assert (row["action"], row["actor_id"], row["reason"]) == ("support_cancel", support.id, why)
    assert row["details"] == {"escrow_cents": 50_000}
    [sent] = await update_inputs(infra, cid, "support_cancel")
    assert sent["reason"] == why and sent["actor"]["user_id"] == support.id


async def test_support_releases_one_milestone_and_refunds_another(
    http: ApiClient, infra: Infra
) -> None:
    client, worker, cid = await funded_contract(http, [40_000, 10_000])
    support = await staff(http, infra)
    milestone = f"{SUPPORT}/contracts/{cid}/milestones"
    for outsider in (client, worker):
        problem(await outsider.post(f"{milestone}/1/release", {"reason": "x"}), 403)
        problem(await outsider.post(f"{milestone}/2/refund", {"reason": "x"}), 403)

    released = await support.post(
        f"{milestone}/1/release", {"reason": "Client confirmed delivery by email"}
    )
    assert released.status_code == 200, released.text
    assert released.json()["milestones"][0]["status"] == "approved"
    refunded = await support.post(f"{milestone}/2/refund", {"reason": "Never started"})
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["milestones"][1]["status"] == "refunded"
    problem(await support.post(f"{milestone}/2/refund", {"reason": "again"}), 409)
    problem(await support.post(f"{milestone}/3/refund", {"reason": "none"}), 404)

    done = await eventually(lambda: contract(client, cid), lambda c: c["stage"] == "completed")
    assert done["money"]["released_cents"] == 36_000 and done["money"]["refunded_cents"] == 10_000
    assert done["money"]["escrow_cents"] == 0
    assert await money_at_stripe(http, infra, cid) == {
        "charge": [10_000, 40_000],
        "refund": [10_000],
        "transfer": [36_000],
    }
    assert [(r["action"], r["details"]["milestone"]) for r in await trail(support, cid)] == [
        ("release_milestone", 1),
        ("refund_milestone", 2),
    ]


async def test_support_resends_the_offer_email_as_a_new_delivery(
    http: ApiClient, infra: Infra
) -> None:
    _, worker, cid = await contract_offer(http, [10_000])
    support = await staff(http, infra)

    async def offer_emails() -> list[dict[str, Any]]:
        answer = await support.get(f"{SUPPORT}/users/{worker.id}/deliveries")
        return [
            d
            for d in answer.json()
            if d["kind"] == "offer" and d["channel"] == "email" and cid in d["dedupe_key"]
        ]

    await eventually(offer_emails, lambda ds: len(ds) == 1 and ds[0]["status"] != "sending")
    body = {"notice": "offer", "reason": "Worker says the offer email never arrived"}
    problem(await worker.post(on(cid, "resend-notification"), body), 403)
    resent = await support.post(on(cid, "resend-notification"), body)
    assert resent.status_code == 200, resent.text

    emails = await eventually(offer_emails, lambda ds: len(ds) == 2)
    keys = {d["dedupe_key"] for d in emails}
    assert len(keys) == 2  # a delivery of its own, not deduplicated into the first
    assert any(":resend:" in k for k in keys)
    problem(
        await support.post(on(cid, "resend-notification"), {"notice": "nothing", "reason": "?"}),
        404,
    )
    [row] = await trail(support, cid)
    assert row["action"] == "resend_notification" and row["details"]["to"] == worker.id


async def test_notes_are_kept_with_their_author_and_bad_requests_are_refused(
    http: ApiClient, infra: Infra
) -> None:
    client, _, cid = await contract_offer(http, [10_000])
    support = await staff(http, infra)
    note = {"note": "Client called: funds on Monday.", "reason": "phone call"}
    problem(await client.post(on(cid, "notes"), note), 403)
    added = await support.post(on(cid, "notes"), note)
    assert added.status_code == 200, added.text
    [row] = await trail(support, cid)
    assert row["details"] == {"note": "Client called: funds on Monday."}

    problem(await support.post(on(cid, "notes"), {"note": "x", "reason": "   "}), 422)
    problem(await support.post(on(cid, "notes"), {"note": "x" * 5_000, "reason": "long"}), 422)
    problem(await support.post(on(cid, "notes"), {"note": "x"}), 422)  # no reason
    problem(
        await support.post(on(cid, "extend-deadline"), {"which": "offer", "reason": "no date"}),
        422,
    )
    # Hostile input: control characters, absurd numbers and durations; nothing is recorded.
    for body in (
        {"note": "x", "reason": "why\u0000not"},
        {"note": "bell\u0007", "reason": "why"},
    ):
        problem(await support.post(on(cid, "notes"), body), 422)
    for path, body in (
        (f"{on(cid, 'milestones')}/{10**20}/refund", {"reason": "why"}),
        (f"{on(cid, 'milestones')}/-1/release", {"reason": "why"}),
        (on(cid, "extend-deadline"), {"which": "offer", "by": "P99999999D", "reason": "why"}),
        (on(cid, "extend-deadline"), {"which": "offer", "by": "-P1D", "reason": "why"}),
    ):
        problem(await support.post(path, body), 422)
    assert len(await trail(support, cid)) == 1
    unknown = "00000000-0000-4000-8000-000000000000"
    problem(await support.post(on(unknown, "notes"), note), 404)
    problem(await client.get(f"{SUPPORT}/actions", params={"contract_id": cid}), 403)


async def test_the_queue_lists_what_needs_a_human_oldest_first_until_support_clears_it(
    http: ApiClient, infra: Infra
) -> None:
    support = await staff(http, infra)
    first_client, _, first = await funded_contract(http, [10_000])
    disputed = await first_client.post(
        f"/v1/contracts/{first}/disputes", {"reason": "The work was never delivered"}
    )
    assert disputed.status_code == 200, disputed.text
    _, _, second = await contract_offer(http, [10_000])
    handle = infra.temporal.get_workflow_handle(f"contract-{second}")
    await handle.signal("reconciliation_mismatch", "refund missing at Stripe")

    async def queue() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:  # every page, two at a time: the pages join up in order
            params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await support.get(f"{SUPPORT}/queue", params=params)).json()
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return items

    items = await eventually(queue, lambda q: {first, second} <= {i["id"] for i in q})
    assert [i["since"] for i in items] == sorted(i["since"] for i in items)
    ours = [i for i in items if i["id"] in (first, second)]
    assert [(i["kind"], i["id"]) for i in ours] == [("dispute", first), ("contract", second)]
    assert ours[0]["reason"] == "dispute opened by the client: The work was never delivered"
    assert ours[1]["reason"] == "reconciliation: refund missing at Stripe"
    assert ours[1]["workflow_id"] == f"contract-{second}"
    problem(await first_client.get(f"{SUPPORT}/queue"), 403)

    # A dispute is resolved, not cleared; the reconciliation flag is cleared once checked.
    problem(await support.post(on(first, "clear-needs-support"), {"reason": "x"}), 409)
    cleared = await support.post(
        on(second, "clear-needs-support"), {"reason": "Stripe shows the refund; ledger is right"}
    )
    assert cleared.status_code == 200 and not cleared.json()["needs_support"]
    problem(await support.post(on(second, "clear-needs-support"), {"reason": "again"}), 409)
    left = await queue()
    assert second not in {i["id"] for i in left} and first in {i["id"] for i in left}
    [row] = await trail(support, second)
    assert row["details"] == {"was": "reconciliation: refund missing at Stripe"}


async def test_the_temporal_cli_sends_the_same_update_and_leaves_the_same_trail(
    http: ApiClient, infra: Infra
) -> None:
    """What the runbook tells support to type, run as typed: `temporal workflow update
    execute` with a JSON input naming the actor and the reason."""
    client, _, cid = await contract_offer(http, [10_000])
    support = await staff(http, infra)
    command = {
        "actor": {"user_id": support.id, "role": "support"},
        "reason": "Client asked on the phone",
        "note": "Will fund after the holidays",
    }

    async def temporal(name: str, payload: dict[str, Any]) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            temporal_cli(),
            "workflow",
            "update",
            "execute",
            "--address",
            infra.settings.temporal_address,
            "--namespace",
            infra.settings.temporal_namespace,
            "-w",
            f"contract-{cid}",
            "--name",
            name,
            "--input",
            json.dumps(payload),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
        return process.returncode or 0, out.decode()

    status, out = await temporal("add_note", command)
    assert status == 0, out
    note = await contract(client, cid)  # the public view does not show notes …
    assert "notes" not in note
    [row] = await trail(support, cid)  # … the audit trail does, with who and why
    assert (row["action"], row["actor_id"], row["reason"]) == (
        "add_note",
        support.id,
        "Client asked on the phone",
    )
    # The validator refuses a client posing as support, and a missing reason, in the CLI too.
    status, out = await temporal(
        "add_note", command | {"actor": {"user_id": client.id, "role": "client"}}
    )
    assert status != 0 and "only support staff" in out
    status, out = await temporal("add_note", {k: v for k, v in command.items() if k != "reason"})
    assert status != 0
    assert len(await trail(support, cid)) == 1
