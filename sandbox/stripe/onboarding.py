"""Stand-in for Stripe's hosted Connect onboarding, reached through an AccountLink's `url`.

`GET` shows a one-button page; submitting it (or `GET ...?complete=1`, for scripts and curl)
finishes onboarding and redirects (303) to the link's `return_url`. Like Stripe's, links are
single-use and short-lived: an expired or used link sends the worker to `refresh_url`, where
the app is expected to create a fresh link.
"""

from __future__ import annotations

import time
from html import escape

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from ..store import JSON
from .context import Ctx
from .resources.accounts import ACCOUNT_LINK, complete_onboarding
from .state import StripeSandbox

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>{extra_head}
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.6rem 1.2rem}}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""


def onboarding_router(sandbox: StripeSandbox) -> APIRouter:
    router = APIRouter()

    @router.get("/connect/onboarding/{token}", include_in_schema=False)
    async def show(token: str, request: Request) -> Response:
        link = _link(sandbox, token)
        if request.query_params.get("complete") == "1":
            return _complete(sandbox, link)
        if _expired(link):
            refresh = escape(link["refresh_url"], quote=True)
            return HTMLResponse(
                _PAGE.format(
                    title="This link has expired",
                    extra_head=f'<meta http-equiv="refresh" content="0;url={refresh}">',
                    body=f"<p>Onboarding links work once and for a few minutes. "
                    f'<a href="{refresh}">Get a new link</a>.</p>',
                )
            )
        account = escape(link["account"])
        return HTMLResponse(
            _PAGE.format(
                title="Tempwork payouts (Stripe sandbox)",
                extra_head="",
                body=f"<p>Account <code>{account}</code> would now enter identity and bank "
                "details on Stripe. In the sandbox one click stands in for all of it.</p>"
                '<form method="post"><button type="submit">Complete onboarding</button></form>',
            )
        )

    @router.post("/connect/onboarding/{token}", include_in_schema=False)
    async def submit(token: str) -> Response:
        return _complete(sandbox, _link(sandbox, token))

    return router


def _link(sandbox: StripeSandbox, token: str) -> JSON:
    link = sandbox.store.get(ACCOUNT_LINK, token)
    if link is None:
        raise HTTPException(404, "Unknown onboarding link")
    return link


def _expired(link: JSON) -> bool:
    return bool(link["used"]) or time.time() > link["expires_at"]


def _complete(sandbox: StripeSandbox, link: JSON) -> Response:
    if _expired(link):
        return RedirectResponse(link["refresh_url"], status_code=303)
    with sandbox.store.db.atomic():
        account = sandbox.store.get("account", link["account"])
        if account is None:
            raise HTTPException(404, "The account of this link no longer exists")
        complete_onboarding(Ctx.internal(sandbox), account)
        link["used"] = True
        sandbox.store.save(ACCOUNT_LINK, link)
    return RedirectResponse(link["return_url"], status_code=303)
