"""A worker's email, phone and identity verification against the local sandboxes, the way a
person does it: codes read from the sandbox outbox (their inbox and phone), the identity page
"clicked" (Stripe's signed webhook then tells the app). Used by ``make demo`` and ``make bench``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx


class VerificationFailed(RuntimeError):
    pass


async def code_sent_to(sandbox: httpx.AsyncClient, to: str) -> str:
    """The newest code in the sandbox outbox for an email address or phone number."""
    for _ in range(100):
        messages = (await sandbox.get("/_sandbox/outbox", params={"to": to})).json()["data"]
        codes = [m["code"] for m in messages if m.get("code")]
        if codes:
            return str(codes[0])
        await asyncio.sleep(0.05)
    raise VerificationFailed(f"no code arrived for {to} (is the sandbox running?)")


def _ok(what: str, response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise VerificationFailed(f"{what} failed: {response.status_code} {response.text}")
    return dict(response.json())


async def verify(
    http: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    say: Callable[[str], None] = lambda _: None,
) -> str:
    """Verifies the person behind ``headers``; answers their email address."""
    me = _ok("reading the account", await http.get("/v1/me", headers=headers))
    _ok("asking for an email code", await http.post("/v1/verifications/email", headers=headers))
    code = await code_sent_to(sandbox, me["email"])
    confirm = {"code": code}
    _ok(
        "confirming the email",
        await http.post("/v1/verifications/email/confirm", headers=headers, json=confirm),
    )
    say(f"types the code from the email ({code})")
    phone = f"+1415{uuid.uuid4().int % 10_000_000:07d}"
    number = {"phone_number": phone}
    _ok(
        "asking for a text",
        await http.post("/v1/verifications/phone", headers=headers, json=number),
    )
    code = await code_sent_to(sandbox, phone)
    confirm = {"code": code}
    _ok(
        "confirming the phone",
        await http.post("/v1/verifications/phone/confirm", headers=headers, json=confirm),
    )
    say(f"types the code texted to {phone} ({code})")
    started = _ok(
        "opening the identity check", await http.post("/v1/verifications/identity", headers=headers)
    )
    url = next(s["url"] for s in started["steps"] if s["step"] == "identity")
    await sandbox.get(url, params={"outcome": "verified"})
    for _ in range(200):
        view = _ok("reading verification", await http.get("/v1/verifications", headers=headers))
        if view["can_apply"]:
            say(f"has a verified document: {', '.join(view['verified_steps'])} done")
            return str(me["email"])
        await asyncio.sleep(0.05)
    raise VerificationFailed("the identity check was not verified in time")
