"""Invitations: Checkr's hosted apply flow. The candidate opens `invitation_url`, consents and
types their details; completing it creates the Report.

    pending --candidate completes--> completed (report created, pending)
       \\--7 days pass (or /_sandbox/.../expire)--> expired
       \\--DELETE--> deleted_at set (invitation.deleted)

Which result the report will have is decided at completion: the hosted page's choice, else
"consider" when the candidate's email local part contains `+consider`, else "clear".
"""

from __future__ import annotations

from ...store import JSON
from ..context import Ctx, Reply, RouteTable
from ..errors import CheckrError, bad_request, not_found
from ..events import emit
from ..ids import iso, new_id, new_token
from ..listing import LIST_PARAMS, list_page
from . import reports
from .candidates import CANDIDATE, work_locations
from .packages import PACKAGES

routes = RouteTable()

INVITATION = "invitation"
INVITATION_LINK = "_invitation_link"  # the hosted page's token -> its invitation
STATUSES = ("pending", "completed", "expired")
RESULTS = ("clear", "consider")
EXPIRE_JOB = "expire_invitation"
# Checkr: "The invitation is valid for 7 days".
INVITATION_TTL_SECONDS = 7 * 24 * 60 * 60


@routes.route("POST", "/v1/invitations")
def create_invitation(ctx: Ctx) -> Reply:
    p = ctx.params
    p.only("candidate_id", "package", "work_locations", "tags", not_simulated=("node",))
    p.require("candidate_id", "package", "work_locations")
    locations = work_locations(p)
    tags = p.str_list("tags")
    candidate_id, slug = p.string("candidate_id"), p.string("package")
    assert candidate_id is not None and slug is not None
    if slug not in PACKAGES:
        raise not_found("Package")
    ctx.fetch(CANDIDATE, candidate_id)
    now = ctx.now()
    invitation_id, token = new_id(), new_token()
    invitation: JSON = {
        "id": invitation_id,
        "object": INVITATION,
        "uri": f"/v1/invitations/{invitation_id}",
        "invitation_url": f"{ctx.state.settings.public_url}/checks/invitations/{token}",
        "status": "pending",
        "created_at": iso(now),
        "expires_at": iso(now + INVITATION_TTL_SECONDS),
        "completed_at": None,
        "deleted_at": None,
        "package": slug,
        "candidate_id": candidate_id,
        "report_id": None,
        "tags": tags,
        "archived": False,
        "_token": token,
        "_work_locations": locations,
    }
    ctx.create(invitation)
    ctx.store.insert(INVITATION_LINK, {"id": token, "invitation": invitation_id})
    ctx.state.scheduler.schedule(EXPIRE_JOB, {"invitation": invitation_id}, INVITATION_TTL_SECONDS)
    emit(ctx.state, "invitation.created", invitation)
    return Reply(201, invitation)


@routes.route("GET", "/v1/invitations/{id}")
def get_invitation(ctx: Ctx) -> JSON:
    ctx.params.only("include_deleted")
    invitation = ctx.fetch(INVITATION, ctx.path["id"])
    if invitation["deleted_at"] and not ctx.params.boolean("include_deleted"):
        raise not_found("Invitation")
    return invitation


@routes.route("GET", "/v1/invitations")
def list_invitations(ctx: Ctx) -> JSON:
    p = ctx.params
    p.only(*LIST_PARAMS, "candidate_id", "status")
    status = p.string("status")
    if status is not None and status not in STATUSES:
        raise CheckrError(400, "status does not have a valid value")
    filters = {k: v for k in ("candidate_id", "status") if (v := p.string(k))}
    found = [
        i
        for i in ctx.store.all(INVITATION)
        if not i["deleted_at"] and all(i[k] == v for k, v in filters.items())
    ]
    return list_page(ctx, "/v1/invitations", found, filters)


@routes.route("DELETE", "/v1/invitations/{id}")
def cancel_invitation(ctx: Ctx) -> JSON:
    ctx.params.only()
    invitation = get_invitation(ctx)
    if invitation["status"] != "pending":
        raise bad_request(f"Invitation is {invitation['status']} and cannot be canceled")
    invitation["deleted_at"] = iso(ctx.now())
    ctx.save(invitation)
    emit(ctx.state, "invitation.deleted", invitation)
    return invitation


def by_token(ctx: Ctx, token: str) -> JSON | None:
    link = ctx.store.get(INVITATION_LINK, token)
    return ctx.get(INVITATION, link["invitation"]) if link else None


def is_open(invitation: JSON) -> bool:
    return invitation["status"] == "pending" and not invitation["deleted_at"]


def default_result(ctx: Ctx, invitation: JSON) -> str:
    candidate = ctx.get(CANDIDATE, invitation["candidate_id"])
    local_part = ((candidate or {}).get("email") or "").partition("@")[0]
    return "consider" if "+consider" in local_part.lower() else "clear"


def complete(ctx: Ctx, invitation: JSON, result: str | None) -> JSON:
    """The candidate finished the hosted form: the report starts (and finishes later)."""
    assert is_open(invitation)
    report = reports.start(
        ctx,
        candidate_id=invitation["candidate_id"],
        package=invitation["package"],
        locations=invitation["_work_locations"],
        tags=invitation["tags"],
        result=result or default_result(ctx, invitation),
    )
    invitation.update(status="completed", completed_at=iso(ctx.now()), report_id=report["id"])
    ctx.save(invitation)
    emit(ctx.state, "invitation.completed", invitation)
    emit(ctx.state, "report.created", report)
    return report


def expire(ctx: Ctx, invitation: JSON) -> None:
    if not is_open(invitation):
        return
    invitation["status"] = "expired"
    invitation["expires_at"] = min(invitation["expires_at"], iso(ctx.now()))
    ctx.save(invitation)
    emit(ctx.state, "invitation.expired", invitation)
