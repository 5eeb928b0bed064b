"""Stand-in for Checkr's hosted apply flow, reached through an invitation's `invitation_url`.

`GET` shows the candidate a form with two outcomes, "clear" and "consider" (the default one,
from the email hint, is preselected). Submitting it, or `GET ...?complete=1[&result=clear|
consider]` for scripts and curl, completes the invitation: the report starts and finishes
after `report_delay_seconds`. An invitation that is completed, expired or canceled answers 410.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse

from ..store import JSON
from .context import Ctx
from .resources import invitations
from .state import ChecksState

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.6rem 1.2rem;margin-right:.5rem}}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""


def hosted_router(state: ChecksState) -> APIRouter:
    router = APIRouter()

    @router.get("/invitations/{token}", include_in_schema=False)
    async def show(token: str, request: Request) -> Response:
        ctx = Ctx.internal(state)
        invitation = _invitation(ctx, token)
        if request.query_params.get("complete") == "1":
            return _complete(ctx, invitation, request.query_params.get("result"))
        if not invitations.is_open(invitation):
            return _closed(invitation)
        return HTMLResponse(_form(ctx, invitation))

    @router.post("/invitations/{token}", include_in_schema=False)
    async def submit(token: str, request: Request) -> Response:
        ctx = Ctx.internal(state)
        invitation = _invitation(ctx, token)
        form = dict(parse_qsl((await request.body()).decode()))
        return _complete(ctx, invitation, form.get("result"))

    return router


def _invitation(ctx: Ctx, token: str) -> JSON:
    invitation = invitations.by_token(ctx, token)
    if invitation is None:
        raise HTTPException(404, "Unknown invitation")
    return invitation


def _complete(ctx: Ctx, invitation: JSON, result: str | None) -> Response:
    if result is not None and result not in invitations.RESULTS:
        raise HTTPException(400, f"result must be one of {', '.join(invitations.RESULTS)}")
    if not invitations.is_open(invitation):
        return _closed(invitation)
    with ctx.store.db.atomic():
        invitations.complete(ctx, invitation, result)
    return HTMLResponse(
        _PAGE.format(
            title="Thank you",
            body="<p>Your information was submitted. Checkr will email you when your "
            "background check is complete.</p>",
        )
    )


def _closed(invitation: JSON) -> Response:
    state = "canceled" if invitation["deleted_at"] else invitation["status"]
    return HTMLResponse(
        _PAGE.format(
            title="This invitation is no longer open",
            body=f"<p>This invitation is {escape(state)}. Ask the company for a new one.</p>",
        ),
        status_code=410,
    )


def _form(ctx: Ctx, invitation: JSON) -> str:
    default = invitations.default_result(ctx, invitation)
    candidate = ctx.get("candidate", invitation["candidate_id"]) or {}
    name = escape(f"{candidate.get('first_name') or ''} {candidate.get('last_name') or ''}")
    buttons = "".join(
        f'<button type="submit" name="result" value="{result}"'
        f"{' autofocus' if result == default else ''}>"
        f"Finish: report will be {result}{' (default)' if result == default else ''}</button>"
        for result in invitations.RESULTS
    )
    return _PAGE.format(
        title="Background check (Checkr sandbox)",
        body=f"<p>{name.strip() or 'The candidate'} would now consent and enter their "
        f"details for the <code>{escape(invitation['package'])}</code> package. In the "
        f"sandbox, choose what the finished report says.</p><form method=post>{buttons}</form>",
    )
