"""Stand-in for Stripe's hosted identity verification, reached through a session's `url`.

`GET` shows two choices: submit a valid document, or submit one that fails with a chosen
`last_error` code. Submitting the form, or `GET ...?outcome=verified` /
`GET ...?outcome=requires_input&error=<code>` (for scripts and curl), moves the session to
`processing`; the verdict follows after `identity_delay_seconds`. With a `return_url` the user
is redirected there (303), as Stripe does. Like Stripe's, a link works once and for 48 hours,
and only while the session waits for input: anything else answers 410 Gone.
"""

from __future__ import annotations

import time
from html import escape
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from ..store import JSON
from .context import Ctx
from .resources.identity_checks import ERROR_REASONS, LINK, SESSION, default_error, submit
from .state import StripeSandbox

OUTCOMES = ("verified", "requires_input")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.6rem 1.2rem;margin:.4rem 0}}select{{font-size:1rem}}</style>
</head><body><h1>{title}</h1>{body}</body></html>
"""


def identity_router(sandbox: StripeSandbox) -> APIRouter:
    router = APIRouter()

    @router.get("/identity/verify/{token}", include_in_schema=False)
    async def show(token: str, request: Request) -> Response:
        link, session = _lookup(sandbox, token)
        outcome = request.query_params.get("outcome")
        if outcome is not None:
            return _submit(sandbox, link, session, outcome, request.query_params.get("error"))
        if not _usable(link, session):
            return _gone()
        return HTMLResponse(_form(session))

    @router.post("/identity/verify/{token}", include_in_schema=False)
    async def submitted(token: str, request: Request) -> Response:
        link, session = _lookup(sandbox, token)
        form = dict(parse_qsl((await request.body()).decode()))
        return _submit(sandbox, link, session, form.get("outcome", ""), form.get("error"))

    return router


def _lookup(sandbox: StripeSandbox, token: str) -> tuple[JSON, JSON]:
    link = sandbox.store.get(LINK, token)
    session = sandbox.store.get(SESSION, link["session"]) if link else None
    if link is None or session is None:
        raise HTTPException(404, "Unknown verification link")
    return link, session


def _usable(link: JSON, session: JSON) -> bool:
    return (
        not link["used"]
        and time.time() <= link["expires_at"]
        and session["status"] == "requires_input"
        and session["redaction"] is None
    )


def _submit(
    sandbox: StripeSandbox, link: JSON, session: JSON, outcome: str, error: str | None
) -> Response:
    if outcome not in OUTCOMES:
        raise HTTPException(400, f"outcome must be one of {', '.join(OUTCOMES)}")
    code = None
    if outcome == "requires_input":
        code = error or default_error(session)
        if code not in ERROR_REASONS:
            raise HTTPException(400, f"error must be one of {', '.join(ERROR_REASONS)}")
    if not _usable(link, session):
        return _gone()
    with sandbox.store.db.atomic():
        link["used"] = True
        sandbox.store.save(LINK, link)
        submit(Ctx.internal(sandbox), session, outcome, code)
    if session["_return_url"]:
        return RedirectResponse(session["_return_url"], status_code=303)
    return HTMLResponse(
        _PAGE.format(
            title="Thanks, you're all done",
            body="<p>Your information was submitted. You can close this window.</p>",
        )
    )


def _gone() -> Response:
    return HTMLResponse(
        _PAGE.format(
            title="This link is no longer valid",
            body="<p>Verification links work once, for 48 hours, and only while the "
            "verification waits for you. Go back to the app to get a new link.</p>",
        ),
        status_code=410,
    )


def _form(session: JSON) -> str:
    default = default_error(session)
    choices = "".join(
        f'<option value="{code}"{" selected" if code == default else ""}>{code}: '
        f"{escape(reason)}</option>"
        for code, reason in ERROR_REASONS.items()
    )
    checks = escape(session["type"].replace("_", " "))
    return _PAGE.format(
        title="Verify your identity (Stripe sandbox)",
        body=f"<p>Session <code>{escape(session['id'])}</code> asks for a {checks} check. "
        "On Stripe the user would now photograph an ID; here one click stands in for it.</p>"
        '<form method="post"><input type="hidden" name="outcome" value="verified">'
        "<button type=submit>Submit a valid document</button></form>"
        '<form method="post"><input type="hidden" name="outcome" value="requires_input">'
        f'<select name="error">{choices}</select><br>'
        "<button type=submit>Submit a document that fails</button></form>",
    )
