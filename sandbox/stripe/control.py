"""Sandbox-only control endpoints (`/_sandbox/stripe/...`) for tests and demos.

They do what Stripe, a cardholder or a worker would do on their own (finish onboarding, open or
decide a dispute, submit an identity document) and let tests look inside (deliveries, objects, what an idempotency key produced).
Unauthenticated on purpose: the sandbox binds to 127.0.0.1.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from ..store import JSON
from .context import Ctx
from .render import public
from .resources import accounts, disputes, identity_checks
from .state import StripeSandbox

# Object kinds a client can see (internal bookkeeping kinds start with "_").
PUBLIC_KINDS = (
    "account",
    "balance_transaction",
    "charge",
    "dispute",
    "event",
    "identity.verification_report",
    "identity.verification_session",
    "payment_intent",
    "payment_method",
    "refund",
    "transfer",
)


class DisputeDecision(BaseModel):
    outcome: Literal["won", "lost"]


class NewDispute(BaseModel):
    reason: str = "fraudulent"


class IdentityFailure(BaseModel):
    code: str | None = None  # a `last_error.code`; the session type's usual failure if omitted


def control_router(sandbox: StripeSandbox) -> APIRouter:
    router = APIRouter(tags=["sandbox: stripe"])

    def ctx() -> Ctx:
        return Ctx.internal(sandbox)

    def existing(kind: str, object_id: str) -> JSON:
        obj = sandbox.store.get(kind, object_id)
        if obj is None:
            raise HTTPException(404, f"No such {kind}: {object_id}")
        return obj

    @router.post("/accounts/{account_id}/complete_onboarding")
    async def complete_onboarding(account_id: str) -> Any:
        with sandbox.store.db.atomic():
            account = accounts.complete_onboarding(ctx(), existing("account", account_id))
        return public(account)

    @router.post("/accounts/{account_id}/disable_payouts")
    async def disable_payouts(account_id: str) -> Any:
        with sandbox.store.db.atomic():
            account = accounts.disable_payouts(ctx(), existing("account", account_id))
        return public(account)

    @router.post("/account_links/{token}/expire")
    async def expire_account_link(token: str) -> Any:
        link = existing(accounts.ACCOUNT_LINK, token)
        link["expires_at"] = link["created"] - 1
        sandbox.store.save(accounts.ACCOUNT_LINK, link)
        return {"expires_at": link["expires_at"]}

    @router.post("/charges/{charge_id}/dispute")
    async def open_dispute(charge_id: str, body: NewDispute | None = None) -> Any:
        reason = (body or NewDispute()).reason
        if reason not in disputes.REASONS:
            raise HTTPException(422, f"reason must be one of {', '.join(disputes.REASONS)}")
        with sandbox.store.db.atomic():
            dispute = disputes.open_dispute(ctx(), existing("charge", charge_id), reason)
        if dispute is None:
            raise HTTPException(409, "This charge cannot be disputed (failed/refunded/disputed)")
        return public(dispute)

    @router.post("/disputes/{dispute_id}/close")
    async def close_dispute(dispute_id: str, decision: DisputeDecision) -> Any:
        dispute = existing("dispute", dispute_id)
        if dispute["status"] not in disputes.OPEN:
            raise HTTPException(409, f"Dispute is already {dispute['status']}")
        with sandbox.store.db.atomic():
            dispute = disputes.decide(ctx(), dispute, decision.outcome)
        return public(dispute)

    @router.post("/identity/verification_sessions/{session_id}/verify")
    async def verify_identity(session_id: str) -> Any:
        """As the user submitting a valid document: processing now, verified shortly after."""
        return submit_identity(session_id, "verified", None)

    @router.post("/identity/verification_sessions/{session_id}/fail")
    async def fail_identity(session_id: str, body: IdentityFailure | None = None) -> Any:
        """As the user submitting a document that fails with `code` (back to requires_input)."""
        session = existing(identity_checks.SESSION, session_id)
        code = (body or IdentityFailure()).code or identity_checks.default_error(session)
        if code not in identity_checks.ERROR_REASONS:
            raise HTTPException(
                422, f"code must be one of {', '.join(identity_checks.ERROR_REASONS)}"
            )
        return submit_identity(session_id, "requires_input", code)

    def submit_identity(session_id: str, outcome: str, code: str | None) -> Any:
        session = existing(identity_checks.SESSION, session_id)
        if session["status"] != "requires_input" or session["redaction"] is not None:
            raise HTTPException(409, f"The session is {session['status']}, not requires_input")
        with sandbox.store.db.atomic():
            identity_checks.submit(ctx(), session, outcome, code)
        return public(session)

    @router.get("/webhooks")
    async def webhook_deliveries() -> Any:
        return {"url": sandbox.settings.webhook_url, "data": sandbox.webhooks.deliveries()}

    @router.post("/webhooks/{event_id}/resend")
    async def resend_webhook(event_id: str) -> Any:
        if sandbox.webhooks.url is None:
            raise HTTPException(409, "No webhook URL is configured")
        existing("event", event_id)
        sandbox.webhooks.resend(event_id)
        return {"event_id": event_id, "status": "pending"}

    @router.get("/objects")
    async def objects(kind: str | None = Query(default=None, alias="type")) -> Any:
        if kind is not None and kind not in PUBLIC_KINDS:
            raise HTTPException(422, f"type must be one of {', '.join(PUBLIC_KINDS)}")
        kinds = [kind] if kind else list(PUBLIC_KINDS)
        return {"data": [public(obj) for k in kinds for obj in sandbox.store.all(k)]}

    @router.get("/money")
    async def money(contract_id: str | None = None) -> Any:
        """Every charge, refund, transfer and dispute in a compact form, with the idempotency
        keys whose requests created it: what a chaos run counts duplicates with, without
        dumping whole objects. ``contract_id`` narrows it to one contract's objects."""
        return {"data": _money_movements(sandbox, contract_id)}

    @router.get("/idempotency")
    async def idempotency(key: str) -> Any:
        records = sandbox.idempotency.find_by_key(key)
        if not records:
            raise HTTPException(404, "This idempotency key has not been used")
        return {
            "data": [
                {
                    "key": record.key,
                    "method": record.method,
                    "path": record.path,
                    "status": record.status,
                    "request_id": record.request_id,
                    "created": record.created,
                    "objects": [_describe(sandbox, object_id) for object_id in record.object_ids],
                }
                for record in records
            ]
        }

    return router


_MONEY_KINDS = ("charge", "refund", "transfer", "dispute")


def _money_movements(sandbox: StripeSandbox, contract_id: str | None) -> list[JSON]:
    created_by: dict[str, list[str]] = {}
    for record in sandbox.idempotency.all_records():
        for object_id in record.object_ids:
            created_by.setdefault(object_id, []).append(record.key)
    charge_contract = {
        c["id"]: (c["metadata"] or {}).get("contract_id") for c in sandbox.store.all("charge")
    }
    rows: list[JSON] = []
    for kind in _MONEY_KINDS:
        for obj in sandbox.store.all(kind):
            metadata = obj.get("metadata") or {}
            # Disputes carry no metadata of ours: they belong to their charge's contract.
            contract = metadata.get("contract_id") or charge_contract.get(obj.get("charge") or "")
            if contract_id is not None and contract != contract_id:
                continue
            rows.append(
                {
                    "object": kind,
                    "id": obj["id"],
                    "amount": obj["amount"],
                    "status": obj.get("status"),
                    "contract_id": contract,
                    "milestone": metadata.get("milestone"),
                    "step": metadata.get("step"),
                    "payment_intent": obj.get("payment_intent"),
                    "charge": obj.get("charge"),
                    "idempotency_keys": created_by.get(obj["id"], []),
                }
            )
    return rows


def _describe(sandbox: StripeSandbox, object_id: str) -> JSON:
    found = sandbox.store.find(object_id)
    return {"id": object_id, "object": found[0] if found else None}
