"""Who may call what: every route of the app, by every role, on the caller's own resource and
someone else's, asked of the real app over HTTP.

The expected answer is written once per endpoint, in MATRIX below. The routes come from the
app's own route table, so a new route without an entry (or an entry for a route that is gone)
fails `test_every_route_has_a_matrix_entry`.

Two worlds of real people and real resources, built through the API:
- A, the callers' own: a client, a verified worker with a ready payout account, the client's
  job with the worker's application, their live contract (accepted, milestone 1 in escrow) and
  a completed one;
- B, someone else's: another client and verified worker, and the same kinds of things.
Client and worker callers are A's people: "own" points at A's resource, "someone else's" at B's.
Anonymous and staff callers have nothing of their own: they point at A's (for paths that name a
person, staff's "own" is themselves). Anonymous is asked three ways: with no token, with an
`alg: none` token claiming to be the admin, and with a real token whose payload was edited.

A refusal must not depend on the resource's state (who you are is checked first), so refused
cells use the world's standing resources. A cell that is allowed and changes what it touches
(`fresh=True`) gets a new resource of its own in the state it needs, so the cells can run at
once without racing; for endpoints about the caller themselves (verification steps) that is a
new caller.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx
from fastapi.routing import iter_route_contexts

from models.common import Role
from tests.api.helpers import (
    PROFILE,
    STAFF_PASSWORD,
    apply,
    fund,
    hire,
    post_job,
    put_profile,
    staff,
)
from tests.api.test_contracts import connect_payout_account
from tests.conftest import (
    PASSWORD,
    ApiClient,
    Infra,
    Person,
    eventually,
    new_phone_number,
    pass_background_check,
    problem,
    sandbox_settings,
    sign_up,
)

OWN, OTHER = "own", "someone else's"
STAFF = ("support", "admin")


class On(StrEnum):
    """What the path names, and the state an allowed caller needs it in."""

    NOTHING = "nothing (or only the caller)"
    SLUG = "a problem type"
    CREDENTIALS = "an email and password"  # own: the caller's; else someone's, wrong password
    USER = "a person"
    PROFILE = "a worker with a profile"
    CONSIDERED = "a worker whose background report waits for support"
    JOB = "a job with an application"
    APPLICATION = "an application"
    CONTRACT = "a live contract"
    OFFERED = "an offered contract"
    ACTIVE = "an accepted, unfunded contract"
    FUNDED = "a contract with milestone 1 in escrow"
    SUBMITTED = "a contract with milestone 1 submitted"
    DISPUTED = "a disputed contract"
    COMPLETED = "a completed contract"


Answer = int | tuple[int, int]  # the same for any resource, or (own resource, someone else's)


@dataclass(frozen=True)
class Call:
    """What a cell knows when it builds its request."""

    caller: Person | None
    target: dict[str, str]  # path parameters (+ "email" for CREDENTIALS)
    whose: str


Send = Callable[[Call], dict[str, Any]]


def body(value: Any) -> Send:
    return lambda _: {"json": value}


def credentials(call: Call) -> dict[str, Any]:
    if call.whose == OWN and call.caller is not None:
        password = STAFF_PASSWORD if call.caller.user["role"] in STAFF else PASSWORD
        return {"data": {"username": call.caller.email, "password": password}}
    return {"data": {"username": call.target["email"], "password": "a guess, not theirs"}}


def registration(_: Call) -> dict[str, Any]:
    email = f"new-{uuid.uuid4().hex[:10]}@example.com"
    return {"json": {"email": email, "password": PASSWORD, "display_name": "N", "role": "worker"}}


def forged_webhook(_: Call) -> dict[str, Any]:
    """Every provider's signature header, each forged: bearer tokens count for nothing here."""
    return {
        "content": b"{}",
        "headers": {
            "Content-Type": "application/json",
            "Stripe-Signature": "t=1700000000,v1=" + "0" * 64,
            "X-Twilio-Signature": "Zm9yZ2Vk",
            "X-Twilio-Email-Event-Webhook-Signature": "Zm9yZ2Vk",
            "X-Twilio-Email-Event-Webhook-Timestamp": "1700000000",
            "X-Checkr-Signature": "0" * 64,
        },
    }


@dataclass(frozen=True)
class Rule:
    anonymous: int
    client: Answer
    worker: Answer
    support: Answer
    admin: Answer
    on: On = On.NOTHING
    fresh: bool = False  # an allowed call changes its resource: each gets one of its own
    send: Send = field(default=lambda _: {})


def everyone(status: int, **kw: Any) -> Rule:
    return Rule(status, status, status, status, status, **kw)


def signed_in(status: int, **kw: Any) -> Rule:
    return Rule(401, status, status, status, status, **kw)


def staff_only(status: int, **kw: Any) -> Rule:
    return Rule(401, 403, 403, status, status, **kw)


def clients(own: int, **kw: Any) -> Rule:
    """Only the client whose resource it is."""
    return Rule(401, (own, 403), 403, 403, 403, **kw)


def workers(own: int, **kw: Any) -> Rule:
    """Only the worker whose resource it is."""
    return Rule(401, 403, (own, 403), 403, 403, **kw)


def parties(own: int, **kw: Any) -> Rule:
    """Both parties to the contract, nobody else (not even staff: they resolve, not act)."""
    return Rule(401, (own, 403), (own, 403), 403, 403, **kw)


CONTRACT = "/v1/contracts/{contract_id}"
MILESTONE = CONTRACT + "/milestones/{number}"
APPLICATION = "/v1/jobs/{job_id}/applications/{application_id}"
SUPPORT_CONTRACT = "/v1/support/contracts/{contract_id}"

# The answer per endpoint: 401 without a valid token; 403 for a role or a relation that may
# not; otherwise what that call does to a resource in the state named by `on`.
MATRIX: dict[str, Rule] = {
    # --- public: docs, problem types, health, metrics -------------------------------------
    "GET /openapi.json": everyone(200),
    "GET /docs": everyone(200),
    "GET /docs/oauth2-redirect": everyone(200),
    "GET /redoc": everyone(200),
    "GET /problems/{slug}": everyone(200, on=On.SLUG),
    "GET /health/live": everyone(200),
    "GET /health/ready": everyone(200),
    "GET /metrics": everyone(200),
    # --- accounts ------------------------------------------------------------------------
    "POST /v1/auth/register": everyone(201, send=registration),
    # Your own email and password log you in; someone else's email with a guess does not.
    "POST /v1/auth/token": Rule(
        401, (200, 401), (200, 401), (200, 401), (200, 401), on=On.CREDENTIALS, send=credentials
    ),
    "GET /v1/me": signed_in(200),
    "GET /v1/me/notifications": signed_in(200),
    "GET /v1/me/notification-preferences": signed_in(200),
    "PUT /v1/me/notification-preferences": signed_in(200, send=body({"email": True, "sms": True})),
    "GET /v1/users/{user_id}/reviews": everyone(200, on=On.USER),  # revealed reviews are public
    # --- worker profiles and finding workers (A's worker has a profile) ---------------------
    "PUT /v1/me/profile": Rule(401, 403, 200, 403, 403, send=body(PROFILE)),
    "GET /v1/me/profile": Rule(401, 403, 200, 403, 403),
    "GET /v1/workers": signed_in(200),
    "GET /v1/workers/{user_id}": signed_in(200, on=On.PROFILE),
    # --- jobs and applications -----------------------------------------------------------
    "POST /v1/jobs": Rule(
        401,
        201,
        403,
        403,
        403,
        send=body({"title": "Fence", "description": "d", "budget_cents": 9}),
    ),
    "GET /v1/jobs": everyone(200),
    "GET /v1/jobs/{job_id}": everyone(200, on=On.JOB),
    "POST /v1/jobs/{job_id}/close": clients(200, on=On.JOB, fresh=True),
    # Own: the job the worker already applied to (409); someone else's: a job new to them.
    "POST /v1/jobs/{job_id}/applications": Rule(
        401, 403, (409, 201), 403, 403, on=On.JOB, send=body({"cover_letter": "Hire me"})
    ),
    # The job's client and staff see every application; a worker sees only their own.
    "GET /v1/jobs/{job_id}/applications": Rule(401, (200, 403), 200, 200, 200, on=On.JOB),
    "POST " + APPLICATION + "/shortlist": clients(200, on=On.APPLICATION, fresh=True),
    "POST " + APPLICATION + "/decline": clients(200, on=On.APPLICATION, fresh=True),
    "POST " + APPLICATION + "/hire": clients(
        201,
        on=On.APPLICATION,
        fresh=True,
        send=body({"milestones": [{"title": "All", "amount_cents": 10_000}]}),
    ),
    # --- contracts -----------------------------------------------------------------------
    "GET /v1/contracts": signed_in(200),  # each sees their own (staff: all)
    "GET " + CONTRACT: Rule(401, (200, 403), (200, 403), 200, 200, on=On.CONTRACT),
    "POST " + CONTRACT + "/accept": workers(200, on=On.OFFERED, fresh=True),
    "POST " + CONTRACT + "/decline": workers(200, on=On.OFFERED, fresh=True),
    "POST " + CONTRACT + "/cancel": parties(200, on=On.ACTIVE, fresh=True),
    "POST " + MILESTONE + "/fund": clients(
        200, on=On.ACTIVE, fresh=True, send=body({"payment_method": "pm_card_visa"})
    ),
    "POST " + MILESTONE + "/submit": workers(
        200, on=On.FUNDED, fresh=True, send=body({"note": "done"})
    ),
    "POST " + MILESTONE + "/approve": clients(200, on=On.SUBMITTED, fresh=True),
    "POST " + MILESTONE + "/request-changes": clients(
        200, on=On.SUBMITTED, fresh=True, send=body({"reason": "More cowbell"})
    ),
    "POST " + CONTRACT + "/disputes": parties(
        200, on=On.FUNDED, fresh=True, send=body({"reason": "Not as agreed"})
    ),
    "POST " + CONTRACT + "/disputes/resolve": staff_only(
        200,
        on=On.DISPUTED,
        fresh=True,
        send=body({"release_cents": 0, "refund_cents": 10_000, "note": "refund"}),
    ),
    "POST " + CONTRACT + "/support/resume": staff_only(200, on=On.ACTIVE, fresh=True),
    # Each party reviews once; the two reviews do not interfere, so they share the contract.
    "POST " + CONTRACT + "/reviews": parties(
        201, on=On.COMPLETED, send=body({"rating": 5, "comment": "Great"})
    ),
    # --- a worker's payout account (A's worker has a ready one) ----------------------------
    "POST /v1/payout-account": Rule(401, 403, 200, 403, 403),
    "GET /v1/payout-account": Rule(401, 403, 200, 403, 403),
    # --- one's own verification: every call is about the caller (fresh: a new caller each) -
    "GET /v1/verifications": signed_in(200),
    "POST /v1/verifications/email": signed_in(200, fresh=True),
    # No code is outstanding for anyone (A's worker is verified): a guess is refused for the
    # state, never for the role.
    "POST /v1/verifications/email/confirm": signed_in(409, send=body({"code": "000000"})),
    "POST /v1/verifications/phone": signed_in(
        200, fresh=True, send=lambda _: {"json": {"phone_number": new_phone_number()}}
    ),
    "POST /v1/verifications/phone/confirm": signed_in(409, send=body({"code": "000000"})),
    "POST /v1/verifications/identity": signed_in(200, fresh=True),
    "POST /v1/verifications/background": Rule(
        401,
        403,
        200,
        403,
        403,
        fresh=True,
        send=body({"first_name": "W", "last_name": "B", "work_state": "CA", "work_city": "X"}),
    ),
    # --- support -------------------------------------------------------------------------
    "GET /v1/support/verifications": staff_only(200),
    "GET /v1/support/verifications/{user_id}": staff_only(200, on=On.USER),
    "POST /v1/support/verifications/{user_id}/adjudicate": staff_only(
        200,
        on=On.CONSIDERED,
        fresh=True,
        send=body({"decision": "approve", "reason": "Old and unrelated to the work"}),
    ),
    "GET /v1/support/users/{user_id}/deliveries": staff_only(200, on=On.USER),
    # Support acting on a contract: the same validated updates as from the Temporal UI / CLI.
    "POST " + SUPPORT_CONTRACT + "/extend-deadline": staff_only(
        200,
        on=On.OFFERED,
        fresh=True,
        send=body({"which": "offer", "by": "P1D", "reason": "The worker asked for a day"}),
    ),
    "POST " + SUPPORT_CONTRACT + "/cancel": staff_only(
        200, on=On.ACTIVE, fresh=True, send=body({"reason": "Both parties agreed"})
    ),
    "POST " + SUPPORT_CONTRACT + "/milestones/{number}/release": staff_only(
        200, on=On.FUNDED, fresh=True, send=body({"reason": "The client confirmed by phone"})
    ),
    "POST " + SUPPORT_CONTRACT + "/milestones/{number}/refund": staff_only(
        200, on=On.FUNDED, fresh=True, send=body({"reason": "Never started"})
    ),
    # Accepted: the offer notice it resends was written before the acceptance.
    "POST " + SUPPORT_CONTRACT + "/resend-notification": staff_only(
        200, on=On.ACTIVE, fresh=True, send=body({"notice": "offer", "reason": "Never arrived"})
    ),
    # Notes do not interfere with each other or anything else: the standing contract.
    "POST " + SUPPORT_CONTRACT + "/notes": staff_only(
        200, on=On.CONTRACT, send=body({"note": "Called the client", "reason": "Follow-up"})
    ),
    # The standing contract needs no support: staff may ask, and are told so (409).
    "POST " + SUPPORT_CONTRACT + "/clear-needs-support": staff_only(
        409, on=On.CONTRACT, send=body({"reason": "Checked"})
    ),
    "GET /v1/support/actions": staff_only(200),
    "GET /v1/support/queue": staff_only(200),
    # --- provider webhooks: signed by the provider, never by a bearer token -----------------
    "POST /webhooks/stripe": everyone(400, send=forged_webhook),
    "POST /webhooks/twilio": everyone(400, send=forged_webhook),
    "POST /webhooks/sendgrid": everyone(400, send=forged_webhook),
    "POST /webhooks/checks": everyone(400, send=forged_webhook),
}


def route_table() -> set[str]:
    """Every "METHOD /path" the app answers, read from its route table (HEAD is implied by
    GET; a route without methods, e.g. a mount, shows as ANY so it needs an entry too)."""
    from api.main import create_app

    app = create_app(sandbox_settings("http://sandbox.invalid"))
    return {
        f"{method} {route.path}"
        for route in iter_route_contexts(app.routes)
        for method in (route.methods or {"ANY"})
        if method != "HEAD"
    }


def test_every_route_has_a_matrix_entry() -> None:
    routes = route_table()
    assert routes - MATRIX.keys() == set(), "routes without an authorization matrix entry"
    assert MATRIX.keys() - routes == set(), "matrix entries for routes that do not exist"


# --- the worlds ---------------------------------------------------------------------------

Params = dict[str, str]


@dataclass
class World:
    http: ApiClient
    client: Person
    worker: Person
    job: Params = field(default_factory=dict)  # job_id + the worker's application_id
    contract: Params = field(default_factory=dict)
    completed: Params = field(default_factory=dict)
    # What must never appear in an answer to an outsider: ids of applications and contracts
    # (a completed contract's id is public in its revealed reviews) and people's emails.
    private: set[str] = field(default_factory=set)

    async def application(self) -> Params:
        job = await post_job(self.client)
        application = await apply(self.worker, job["id"])
        self.private.add(application["id"])
        return {"job_id": job["id"], "application_id": application["id"]}

    async def contract_in(self, on: On) -> Params:
        """A new contract between this world's client and worker, in the state `on` names."""
        applied = await self.application()
        contract_id = (
            await hire(self.client, applied["job_id"], applied["application_id"], [10_000])
        )["id"]
        self.private.add(contract_id)
        path, params = f"/v1/contracts/{contract_id}", {"contract_id": contract_id, "number": "1"}
        recipes: dict[On, list[tuple[Person, str, Any]]] = {
            On.OFFERED: [],
            On.ACTIVE: [(self.worker, "/accept", None)],
            On.FUNDED: [(self.worker, "/accept", None), (self.client, "fund", None)],
            On.SUBMITTED: [
                (self.worker, "/accept", None),
                (self.client, "fund", None),
                (self.worker, "/milestones/1/submit", {"note": "done"}),
            ],
            On.DISPUTED: [
                (self.worker, "/accept", None),
                (self.client, "fund", None),
                (self.client, "/disputes", {"reason": "late"}),
            ],
            On.COMPLETED: [
                (self.worker, "/accept", None),
                (self.client, "fund", None),
                (self.worker, "/milestones/1/submit", {"note": "done"}),
                (self.client, "/milestones/1/approve", None),
            ],
        }
        for person, step, payload in recipes[on]:
            if step == "fund":
                done = await fund(person, contract_id, 1)
            else:
                done = await person.post(path + step, payload)
            assert done.status_code == 200, f"{step}: {done.text}"
        if on is On.COMPLETED:  # the release to the worker's payout account completes it
            await eventually(
                lambda: self.client.get(path), lambda r: r.json()["stage"] == "completed"
            )
            self.private.discard(contract_id)
        return params

    async def fresh(self, on: On) -> Params:
        if on is On.JOB:
            job_id = (await post_job(self.client))["id"]
            return {"job_id": job_id}
        if on is On.APPLICATION:
            return await self.application()
        if on is On.CONSIDERED:
            worker = await sign_up(self.http, "worker")
            await pass_background_check(worker, "consider")
            return {"user_id": worker.id}
        return await self.contract_in(on)

    def standing(self, on: On) -> Params:
        """The resource a refused (or harmless) call points at."""
        if on in (On.JOB, On.APPLICATION):
            return self.job
        if on in (On.USER, On.PROFILE, On.CONSIDERED):
            return {"user_id": self.worker.id}
        if on is On.CREDENTIALS:
            return {"email": self.client.email}
        if on is On.SLUG:
            return {"slug": "forbidden"}
        if on is On.COMPLETED and self.completed:
            return self.completed
        return self.contract


async def none() -> Params:
    return {}


async def build_world(http: ApiClient, *, with_completed_contract: bool) -> World:
    client, worker = await asyncio.gather(
        sign_up(http, "client"), sign_up(http, "worker", verified=True)
    )
    world = World(http, client, worker)
    world.private |= {client.email, worker.email}
    await put_profile(worker)
    if with_completed_contract:
        await connect_payout_account(http, worker)
    world.job = await world.application()
    world.contract, world.completed = await asyncio.gather(
        world.contract_in(On.FUNDED),
        world.contract_in(On.COMPLETED) if with_completed_contract else none(),
    )
    return world


# --- the cells ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    endpoint: str
    role: str  # anonymous (and how), client, worker, support, admin
    whose: str
    expected: int

    def __str__(self) -> str:
        if MATRIX[self.endpoint].on in (On.NOTHING, On.SLUG):
            return f"{self.endpoint} as {self.role}"
        return f"{self.endpoint} as {self.role} on {self.whose} resource"


def cells_of(endpoint: str, rule: Rule) -> list[Cell]:
    out = [
        Cell(
            endpoint, anonymous, OWN if rule.on in (On.NOTHING, On.SLUG) else OTHER, rule.anonymous
        )
        for anonymous in ("anonymous", "anonymous (alg none)", "anonymous (edited token)")
    ]
    for role in ("client", "worker", *STAFF):
        answer: Answer = getattr(rule, role)
        if isinstance(answer, tuple):
            out += [Cell(endpoint, role, OWN, answer[0]), Cell(endpoint, role, OTHER, answer[1])]
        elif rule.on in (On.NOTHING, On.SLUG):
            out.append(Cell(endpoint, role, OWN, answer))
        elif role in STAFF:  # staff own nothing: they point at someone else's
            out.append(Cell(endpoint, role, OTHER, answer))
        else:
            out += [Cell(endpoint, role, OWN, answer), Cell(endpoint, role, OTHER, answer)]
    return out


def unsigned_token(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def edited_token(token: str, claims: dict[str, Any]) -> str:
    """A real token with its payload swapped: the signature no longer matches."""
    header, _, signature = token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


@dataclass
class Outcome:
    cell: Cell
    response: httpx.Response
    caller_world: World | None


async def test_authorization_matrix(http: ApiClient, infra: Infra) -> None:
    started = time.monotonic()
    a, b = await asyncio.gather(
        build_world(http, with_completed_contract=True),
        build_world(http, with_completed_contract=False),
    )
    support, admin = await asyncio.gather(
        staff(http, infra, Role.SUPPORT), staff(http, infra, Role.ADMIN)
    )
    admin_claims = {"sub": admin.id, "role": "admin", "exp": int(time.time()) + 3600}
    anonymous_headers = {
        "anonymous": {},
        "anonymous (alg none)": {"Authorization": f"Bearer {unsigned_token(admin_claims)}"},
        "anonymous (edited token)": {
            "Authorization": f"Bearer {edited_token(a.worker.token, admin_claims)}"
        },
    }
    callers = {"client": a.client, "worker": a.worker, "support": support, "admin": admin}
    contract_b_before = (await b.client.get(f"/v1/contracts/{b.contract['contract_id']}")).json()
    setup = time.monotonic() - started

    limit = asyncio.Semaphore(8)  # more at once only queues on the worker (two cores)

    async def run(cell: Cell) -> Outcome:
        rule = MATRIX[cell.endpoint]
        method, path = cell.endpoint.split(" ", 1)
        allowed_change = rule.fresh and 200 <= cell.expected < 300
        async with limit:
            caller = callers.get(cell.role)
            if allowed_change and rule.on is On.NOTHING and caller is not None:
                caller = await new_caller(cell.role)
            world = b if cell.role in ("client", "worker") and cell.whose == OTHER else a
            if rule.on in (On.USER, On.CREDENTIALS) and cell.whose == OWN and caller:
                target = {"user_id": caller.id}
            elif allowed_change and rule.on is not On.NOTHING:
                target = await world.fresh(rule.on)
            else:
                target = world.standing(rule.on)
            request = rule.send(Call(caller, target, cell.whose))
            headers = anonymous_headers.get(cell.role, caller.auth if caller else {})
            response = await http.request(
                method,
                path.format(**target),
                headers={**headers, **request.pop("headers", {})},
                **request,
            )
        caller_world = a if cell.role in ("client", "worker") else None
        return Outcome(cell, response, caller_world)

    async def new_caller(role: str) -> Person:
        if role in STAFF:
            return await staff(http, infra, Role(role))
        return await sign_up(http, role)

    cells = [
        cell for endpoint in sorted(route_table()) for cell in cells_of(endpoint, MATRIX[endpoint])
    ]
    outcomes = await asyncio.gather(*(run(cell) for cell in cells))
    ran = time.monotonic() - started - setup

    wrong: list[str] = []
    for outcome in outcomes:
        cell, response = outcome.cell, outcome.response
        if response.status_code != cell.expected:
            wrong.append(
                f"{cell}: expected {cell.expected}, got {response.status_code} {response.text[:200]}"
            )
            continue
        if response.status_code >= 400:
            try:
                problem(response, cell.expected)
            except AssertionError as err:
                wrong.append(f"{cell}: not a problem+json answer: {err}")
            if response.status_code == 401 and response.headers.get("www-authenticate") != "Bearer":
                wrong.append(f"{cell}: 401 without WWW-Authenticate: Bearer")
            continue
        # An allowed answer shows nothing private of a world the caller has no part in.
        if cell.role in STAFF:
            continue
        outsiders = [b] if outcome.caller_world is a else [a, b]
        leaked = {secret for w in outsiders for secret in w.private if secret in response.text}
        if leaked:
            wrong.append(f"{cell}: answer shows someone else's {sorted(leaked)}")

    # Nothing that was refused changed someone else's contract.
    contract_b_after = (await b.client.get(f"/v1/contracts/{b.contract['contract_id']}")).json()
    assert contract_b_after == contract_b_before
    assert not wrong, f"{len(wrong)} of {len(cells)} cells differ:\n" + "\n".join(sorted(wrong))
    print(f"authorization matrix: {len(cells)} calls in {ran:.1f}s after {setup:.1f}s of setup")
