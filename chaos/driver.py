"""Drives lifecycles over HTTP the way a careful real client does: every POST carries an
``Idempotency-Key`` (kept across its retries), 429/5xx answers and dropped connections are
retried with backoff (honouring ``Retry-After``), and a command whose earlier attempt may have
landed (its answer was lost) is checked against the contract before it is called a failure.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from chaos.plan import Kind, Money, Plan
from chaos.proofs import Observed

PASSWORD = "chaos password 123"  # noqa: S105 (throwaway accounts on a throwaway local stack)
RETRYABLE = {429, 500, 502, 503, 504}
FUND_REQUESTS = 12
# The API's answer while another request with the same Idempotency-Key is still running.
KEY_IN_USE = "/problems/idempotency-key-in-use"


class LifecycleFailed(RuntimeError):
    pass


@dataclass
class Person:
    id: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Api:
    http: httpx.AsyncClient
    gate: asyncio.Semaphore  # requests in flight at once: what 2 shared cores bear
    deadline: float  # time.monotonic() after which nothing is retried any more
    retries: Counter[str] = field(default_factory=Counter)
    requests: int = 0

    async def call(
        self,
        method: str,
        path: str,
        who: Person | None = None,
        *,
        json: Any = None,
        data: Any = None,
        params: Any = None,
        key: str | None = None,
    ) -> httpx.Response:
        """One logical request, retried until it gets a definitive answer (2xx or 4xx)."""
        headers = dict(who.auth) if who else {}
        if method == "POST":
            # Routes that take no key ignore it; those that do replay the first answer.
            headers["Idempotency-Key"] = key or uuid.uuid4().hex
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.gate:
                    self.requests += 1
                    response = await self.http.request(
                        method, path, json=json, data=data, params=params, headers=headers
                    )
            except httpx.TransportError as err:
                reason, wait = type(err).__name__, None
            else:
                problem = _problem_type(response)
                if response.status_code not in RETRYABLE and problem != KEY_IN_USE:
                    return response
                reason = f"{response.status_code} {problem or ''}".strip()
                wait = _retry_after(response)
            self.retries[reason] += 1
            backoff = wait if wait is not None else min(8.0, 0.25 * 2 ** min(attempt, 6))
            if time.monotonic() + backoff > self.deadline:
                raise LifecycleFailed(f"{method} {path}: gave up after {attempt} tries ({reason})")
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))  # jitter

    async def ok(self, method: str, path: str, who: Person | None = None, **kw: Any) -> Any:
        response = await self.call(method, path, who, **kw)
        if response.status_code >= 400:
            raise LifecycleFailed(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    async def command(
        self,
        path: str,
        who: Person,
        done: Callable[[dict[str, Any]], bool],
        contract_id: str,
        json: Any = None,
    ) -> dict[str, Any]:
        """A contract command without server-side idempotency (accept, submit, approve, …):
        the workflow's validator answers 409 to a repeat, so a 409 after a lost answer is
        success if the contract shows the command's effect."""
        for _ in range(20):
            response = await self.call("POST", path, who, json=json)
            if response.status_code < 400:
                return dict(response.json())
            if response.status_code == 409:
                state = await self.contract(contract_id, who)
                if done(state):
                    return state
                await asyncio.sleep(1.0)  # e.g. a release in flight: the validator says wait
                continue
            raise LifecycleFailed(f"POST {path}: {response.status_code} {response.text[:300]}")
        raise LifecycleFailed(f"POST {path}: still 409 after 20 tries")

    async def contract(self, contract_id: str, who: Person) -> dict[str, Any]:
        return dict(await self.ok("GET", f"/v1/contracts/{contract_id}", who))

    async def until(
        self,
        contract_id: str,
        who: Person,
        what: str,
        condition: Callable[[dict[str, Any]], bool],
    ) -> dict[str, Any]:
        while True:
            state = await self.contract(contract_id, who)
            if condition(state):
                return state
            if time.monotonic() > self.deadline:
                raise LifecycleFailed(
                    f"timed out waiting for {what}: stage {state['stage']}, milestones "
                    f"{[m['status'] for m in state['milestones']]}"
                )
            await asyncio.sleep(random.uniform(0.8, 1.6))  # spread the polling


def _problem_type(response: httpx.Response) -> str | None:
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("type") if isinstance(body, dict) else None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(10.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


async def sign_up(api: Api, role: str, tag: str) -> Person:
    email = f"{role}-{tag}-{uuid.uuid4().hex[:8]}@chaos.example"
    body = {"email": email, "password": PASSWORD, "display_name": f"{role} {tag}", "role": role}
    user = await api.ok("POST", "/v1/auth/register", json=body)
    return await log_in(api, str(user["id"]), email)


async def log_in(api: Api, user_id: str, email: str) -> Person:
    token = await api.ok("POST", "/v1/auth/token", data={"username": email, "password": PASSWORD})
    return Person(user_id, email, token["access_token"])


def statuses(state: dict[str, Any]) -> list[str]:
    return [m["status"] for m in state["milestones"]]


def observe(state: dict[str, Any]) -> Observed:
    money = state.get("money") or {}
    return Observed(
        contract_id=str(state["id"]),
        stage=state["stage"],
        milestones=tuple(statuses(state)),
        money=Money(**{k: int(v) for k, v in money.items()}),
        reviews_revealed=len(state.get("reviews") or []) == 2,
    )


@dataclass
class Lifecycle:
    """One planned contract's life, from posting the job to its final state."""

    api: Api
    plan: Plan
    client: Person
    worker: Person
    support: Person
    sandbox: httpx.AsyncClient
    contract_id: str | None = None

    async def run(self) -> Observed:
        kind = self.plan.kind
        cid = await self._offer()
        if kind is Kind.DECLINED_THEN_PAID:
            await self._fund(1, "pm_card_chargeDeclined", declined=True)
        card = "pm_card_createDispute" if kind.name.startswith("CHARGEBACK") else "pm_card_visa"
        for n in range(1, len(self.plan.amounts) + 1):
            await self._fund(n, card)

        if kind is Kind.CANCEL_REFUND:
            await self._command("cancel", self.client, lambda s: s["stage"] == "cancelled")
        elif kind.name.startswith("DISPUTE"):
            await self._dispute()
        elif kind is Kind.CHARGEBACK_LOST:
            await self._chargeback("lost")
        elif kind is Kind.CHARGEBACK_WON:
            # Milestone commands wait for the bank's decision (the validator answers 409).
            await self._chargeback("won")
            await self.api.until(
                cid,
                self.client,
                "the chargeback to be won",
                lambda s: s["milestones"][0]["chargeback_status"] == "won",
            )
            await self._deliver(1)
        else:
            for n in range(1, len(self.plan.amounts) + 1):
                await self._deliver(n)
        want = self.plan.expected()
        final = await self.api.until(
            cid,
            self.client,
            f"stage {want.stage}",
            lambda s: s["stage"] == want.stage and statuses(s) == list(want.milestones),
        )
        if kind is Kind.HAPPY:
            for who in (self.client, self.worker):
                role = "client" if who is self.client else "worker"
                await self.api.command(
                    f"/v1/contracts/{cid}/reviews",
                    who,
                    lambda s, role=role: role in s["reviews_submitted_by"],  # type: ignore[misc]
                    cid,
                    json={"rating": 5, "comment": "chaos-proof"},
                )
            final = await self.api.until(
                cid, self.client, "reviews revealed", lambda s: len(s["reviews"]) == 2
            )
        return observe(final)

    async def _fund(self, n: int, card: str, *, declined: bool = False) -> None:
        """Funds milestone ``n``; with ``declined`` the card must be refused (402)."""
        assert self.contract_id is not None
        cid, i = self.contract_id, n - 1
        # Up to 12 requests: under 20 % provider faults a charge can fail several times in a
        # row (each failure puts the milestone back to pending, and nothing was charged).
        for attempt in range(1, FUND_REQUESTS + 1):
            answer = await self.api.call(
                "POST",
                f"/v1/contracts/{cid}/milestones/{n}/fund",
                self.client,
                json={"payment_method": card},
                key=f"chaos-{cid}-m{n}-fund-{card}-{attempt}",
            )
            if answer.status_code == 200 and not declined:
                return
            if answer.status_code == 402 and declined:
                return
            if answer.status_code != 409:
                raise LifecycleFailed(f"funding answered {answer.status_code} {answer.text[:300]}")
            # "it is funding": an earlier try of this request (answer lost or timed out, then
            # retried with the same key) is still charging. Its outcome is on the contract.
            state = await self.api.until(
                cid,
                self.client,
                "the funding in flight to settle",
                lambda s: s["milestones"][i]["status"] != "funding",
            )
            milestone = state["milestones"][i]
            if milestone["status"] != "pending":
                if declined:
                    raise LifecycleFailed(f"a declined card funded milestone {n}")
                return
            if declined and milestone["last_payment_error"]:
                return
            # It failed for another reason (provider unavailable): a new request, a new key.
        raise LifecycleFailed(f"milestone {n} still not funded after {FUND_REQUESTS} requests")

    async def _offer(self) -> str:
        i = self.plan.index
        job = await self.api.ok(
            "POST",
            "/v1/jobs",
            self.client,
            json={
                "title": f"Chaos job {i}",
                "description": f"lifecycle {i}: {self.plan.kind}",
                "skills": ["chaos"],
                "budget_cents": sum(self.plan.amounts),
            },
            key=f"chaos-job-{i}",
        )
        job_id = job["id"]
        applied = await self.api.call(
            "POST",
            f"/v1/jobs/{job_id}/applications",
            self.worker,
            json={"cover_letter": "I survive chaos."},
        )
        if applied.status_code == 201:
            application_id = applied.json()["id"]
        elif applied.status_code == 409:  # an earlier attempt applied; its answer was lost
            mine = await self.api.ok("GET", f"/v1/jobs/{job_id}/applications", self.worker)
            if not mine:
                raise LifecycleFailed(f"apply: 409 and no application: {applied.text[:300]}")
            application_id = mine[0]["id"]
        else:
            raise LifecycleFailed(f"apply: {applied.status_code} {applied.text[:300]}")
        milestones = [
            {"title": f"Part {n}", "amount_cents": a} for n, a in enumerate(self.plan.amounts, 1)
        ]
        hired = await self.api.call(
            "POST",
            f"/v1/jobs/{job_id}/applications/{application_id}/hire",
            self.client,
            json={"milestones": milestones},
            key=f"chaos-hire-{i}",
        )
        if hired.status_code == 201:
            cid = str(hired.json()["id"])
        elif hired.status_code == 409:  # an earlier try hired (its 5xx answer was not stored)
            cid = await self._hired_contract(job_id, application_id, hired.text)
        else:
            raise LifecycleFailed(f"hire: {hired.status_code} {hired.text[:300]}")
        self.contract_id = cid
        await self._command("accept", self.worker, lambda s: s["stage"] != "offered")
        return cid

    async def _hired_contract(self, job_id: str, application_id: str, refusal: str) -> str:
        """The contract an earlier, unanswered hire made, once the application shows it."""
        for _ in range(60):
            applications = await self.api.ok("GET", f"/v1/jobs/{job_id}/applications", self.client)
            mine = [a for a in applications if a["id"] == application_id and a["contract_id"]]
            if mine:
                return str(mine[0]["contract_id"])
            await asyncio.sleep(1)
        raise LifecycleFailed(f"hire: 409 and no contract after 60 s: {refusal[:300]}")

    async def _command(
        self, name: str, who: Person, done: Callable[[dict[str, Any]], bool], json: Any = None
    ) -> dict[str, Any]:
        assert self.contract_id is not None
        return await self.api.command(
            f"/v1/contracts/{self.contract_id}/{name}", who, done, self.contract_id, json
        )

    async def _deliver(self, n: int) -> None:
        i = n - 1
        await self._command(
            f"milestones/{n}/submit",
            self.worker,
            lambda s: s["milestones"][i]["status"] not in ("funded", "changes_requested"),
        )
        await self._command(
            f"milestones/{n}/approve",
            self.client,
            lambda s: s["milestones"][i]["status"] not in ("submitted",),
        )

    async def _dispute(self) -> None:
        kind = self.plan.kind
        await self._command(
            "milestones/1/submit", self.worker, lambda s: s["milestones"][0]["status"] != "funded"
        )
        opener = self.worker if kind is Kind.DISPUTE_TO_CLIENT else self.client
        await self._command(
            "disputes",
            opener,
            lambda s: s["dispute_open"] or s["stage"] != "active",
            json={"reason": "chaos: the work is disputed"},
        )
        await self._command(
            "disputes/resolve",
            self.support,
            lambda s: not s["dispute_open"],
            json={
                "release_cents": self.plan.release_cents,
                "refund_cents": self.plan.refund_cents,
                "note": "chaos",
            },
        )

    async def _chargeback(self, outcome: str) -> None:
        """The card's bank opens a chargeback by itself (``pm_card_createDispute``); once the
        contract shows it, the bank decides it (the sandbox's control endpoint)."""
        assert self.contract_id is not None
        cid = self.contract_id
        await self.api.until(
            cid,
            self.client,
            "the chargeback to open",
            lambda s: s["milestones"][0]["chargeback_status"] is not None,
        )
        rows = (
            await self.sandbox.get("/_sandbox/stripe/money", params={"contract_id": cid})
        ).json()["data"]
        disputes = [r for r in rows if r["object"] == "dispute"]
        if len(disputes) != 1:
            raise LifecycleFailed(f"expected one chargeback at Stripe, found {len(disputes)}")
        closed = await self.sandbox.post(
            f"/_sandbox/stripe/disputes/{disputes[0]['id']}/close", json={"outcome": outcome}
        )
        if closed.status_code != 200:
            raise LifecycleFailed(f"closing the chargeback: {closed.status_code} {closed.text}")
