"""The background-check provider's webhooks (Checkr-style): invitation and report events go to
the candidate's Verification workflow.

The signature is ``X-Checkr-Signature``: hex HMAC-SHA256 of the raw body with our webhook
secret, compared in constant time. Each event is recorded once by its id. The person is found
by the candidate id in our projection, or — when the webhook beat our own write — by the
candidate's ``custom_id`` at the provider.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
from fastapi import APIRouter, Header, Request

from api.deps import EngineDep, SettingsDep, TemporalDep
from api.errors import TempworkError
from api.webhooks.events import (
    bad_signature,
    counted,
    first_time,
    mark_processed,
    owner,
    signal,
)
from models.tables import VERIFICATIONS
from models.verification import BackgroundCheckUpdate

router = APIRouter()

EVENTS = {"invitation.completed", "invitation.expired", "report.created", "report.completed"}


def expected_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@router.post("/checks")
async def checks_webhook(
    request: Request,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    x_checkr_signature: str = Header(default=""),
) -> dict[str, Any]:
    body = await request.body()
    expected = expected_signature(settings.checks_webhook_secret.get_secret_value(), body)
    given = x_checkr_signature.strip().lower()
    # hmac.compare_digest raises TypeError (a 500) on a non-ASCII string: refuse it as forged.
    if not given.isascii() or not hmac.compare_digest(expected, given):
        raise bad_signature("checks")
    try:
        event = json.loads(body)
        event_id, kind, obj = str(event["id"]), str(event["type"]), event["data"]["object"]
    except (ValueError, KeyError, TypeError):
        raise bad_signature("checks") from None  # signed, yet not an event: never seen
    if not await first_time(engine, "checks", event_id, kind, event):
        counted("checks", kind, "duplicate")
        return {"received": True}
    if kind in EVENTS and obj.get("candidate_id"):
        user_id = await _candidate_owner(request, engine, str(obj["candidate_id"]))
        if user_id:
            is_report = kind.startswith("report.")
            update = BackgroundCheckUpdate(
                event_type=kind,
                candidate_id=str(obj["candidate_id"]),
                invitation_id=None if is_report else obj.get("id"),
                report_id=obj.get("id") if is_report else obj.get("report_id"),
                result=obj.get("result") if obj.get("result") in ("clear", "consider") else None,
            )
            await signal(temporal, f"verification-{user_id}", "background_check_updated", update)
    await mark_processed(engine, "checks", event_id)
    counted("checks", kind, "handled")
    return {"received": True}


async def _candidate_owner(request: Request, engine: EngineDep, candidate_id: str) -> str | None:
    known = await owner(engine, VERIFICATIONS.c.background_candidate_id, candidate_id)
    if known is not None:
        return known
    client: httpx.AsyncClient = request.app.state.checks
    try:
        response = await client.get(f"/v1/candidates/{candidate_id}")
    except httpx.HTTPError:
        raise TempworkError("provider-unavailable") from None  # the provider redelivers
    if response.status_code == 404:
        return None
    if response.status_code >= 400:
        raise TempworkError("provider-unavailable")
    custom_id = response.json().get("custom_id")
    return str(custom_id) if custom_id else None
