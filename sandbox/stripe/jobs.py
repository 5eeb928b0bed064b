"""Delayed happenings the Stripe sandbox schedules, bound to their handlers."""

from __future__ import annotations

from ..store import JSON
from .context import Ctx
from .resources import disputes, identity_checks, payment_intents
from .state import StripeSandbox


def register_jobs(sandbox: StripeSandbox) -> None:
    def open_dispute(payload: JSON) -> None:
        ctx = Ctx.internal(sandbox)
        charge = ctx.get("charge", payload["charge"])
        if charge is not None:
            disputes.open_dispute(ctx, charge, payload.get("reason", "fraudulent"))

    def decide_dispute(payload: JSON) -> None:
        ctx = Ctx.internal(sandbox)
        dispute = ctx.get("dispute", payload["dispute"])
        if dispute is not None:
            disputes.decide(ctx, dispute, payload["outcome"])

    def settle_identity(payload: JSON) -> None:
        ctx = Ctx.internal(sandbox)
        session = ctx.get(identity_checks.SESSION, payload["session"])
        if session is not None:
            identity_checks.settle(ctx, session, payload["outcome"], payload.get("code"))

    def finish_redaction(payload: JSON) -> None:
        ctx = Ctx.internal(sandbox)
        session = ctx.get(identity_checks.SESSION, payload["session"])
        if session is not None:
            identity_checks.finish_redaction(ctx, session)

    sandbox.scheduler.register(payment_intents.DISPUTE_JOB, open_dispute)
    sandbox.scheduler.register(disputes.DECIDE_JOB, decide_dispute)
    sandbox.scheduler.register(identity_checks.OUTCOME_JOB, settle_identity)
    sandbox.scheduler.register(identity_checks.REDACT_JOB, finish_redaction)
