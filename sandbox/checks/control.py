"""Sandbox-only control endpoints (`/_sandbox/checks/...`) for tests and demos.

They do what a candidate or Checkr would do on their own (finish the form, let an invitation
lapse, finish a report, send the final adverse-action notice) and let tests look inside.
Unauthenticated on purpose: the sandbox binds to 127.0.0.1.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from ..store import JSON
from .context import Ctx
from .render import public
from .resources import adverse_actions, invitations, reports
from .state import ChecksState
from .webhooks import EVENT

PUBLIC_KINDS = ("candidate", "invitation", "report", "adverse_action", "event")


class Completion(BaseModel):
    # Omitted: the email hint decides (`+consider` in the local part), as on the hosted page.
    result: Literal["clear", "consider"] | None = None


def control_router(state: ChecksState) -> APIRouter:
    router = APIRouter(tags=["sandbox: checks"])

    def existing(kind: str, object_id: str) -> JSON:
        obj = state.store.get(kind, object_id)
        if obj is None:
            raise HTTPException(404, f"No such {kind}: {object_id}")
        return obj

    @router.post("/invitations/{invitation_id}/complete")
    async def complete_invitation(invitation_id: str, body: Completion | None = None) -> Any:
        """As the candidate submitting the hosted form; answers the new (pending) report."""
        invitation = existing(invitations.INVITATION, invitation_id)
        if not invitations.is_open(invitation):
            raise HTTPException(409, f"The invitation is {invitation['status']}, not pending")
        with state.store.db.atomic():
            report = invitations.complete(
                Ctx.internal(state), invitation, (body or Completion()).result
            )
        return public(report)

    @router.post("/invitations/{invitation_id}/expire")
    async def expire_invitation(invitation_id: str) -> Any:
        """As if the 7 days had passed (`invitation.expired`)."""
        invitation = existing(invitations.INVITATION, invitation_id)
        if not invitations.is_open(invitation):
            raise HTTPException(409, f"The invitation is {invitation['status']}, not pending")
        with state.store.db.atomic():
            invitations.expire(Ctx.internal(state), invitation)
        return public(invitation)

    @router.post("/reports/{report_id}/complete")
    async def complete_report(report_id: str) -> Any:
        """Finish a pending report now instead of after `report_delay_seconds`."""
        report = existing(reports.REPORT, report_id)
        if report["status"] != "pending":
            raise HTTPException(409, f"The report is {report['status']}, not pending")
        with state.store.db.atomic():
            reports.finish(Ctx.internal(state), report)
        return public(report)

    @router.post("/adverse_actions/{action_id}/post_notice")
    async def send_post_notice(action_id: str) -> Any:
        """End the waiting period now: the final notice goes out (`report.post_adverse_action`)."""
        action = existing(adverse_actions.ADVERSE_ACTION, action_id)
        if action["status"] != "pending":
            raise HTTPException(409, f"The adverse action is {action['status']}, not pending")
        with state.store.db.atomic():
            adverse_actions.send_post_notice(Ctx.internal(state), action)
        return public(action)

    @router.get("/webhooks")
    async def webhook_deliveries() -> Any:
        return {"url": state.settings.webhook_url, "data": state.webhooks.deliveries()}

    @router.post("/webhooks/{event_id}/resend")
    async def resend_webhook(event_id: str) -> Any:
        if state.webhooks.url is None:
            raise HTTPException(409, "No webhook URL is configured")
        existing(EVENT, event_id)
        state.webhooks.resend(event_id)
        return {"event_id": event_id, "status": "pending"}

    @router.get("/objects")
    async def objects(kind: str | None = Query(default=None, alias="type")) -> Any:
        if kind is not None and kind not in PUBLIC_KINDS:
            raise HTTPException(422, f"type must be one of {', '.join(PUBLIC_KINDS)}")
        kinds = [kind] if kind else list(PUBLIC_KINDS)
        return {"data": [public(obj) for k in kinds for obj in state.store.all(k)]}

    return router
