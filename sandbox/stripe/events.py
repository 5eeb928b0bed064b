"""Event objects for every state change, handed to the webhook sender."""

from __future__ import annotations

import copy

from ..store import JSON
from .context import Ctx
from .ids import new_id
from .render import public
from .state import API_VERSION


def emit(
    ctx: Ctx,
    event_type: str,
    obj: JSON,
    *,
    previous: JSON | None = None,
    account: str | None = None,
) -> JSON:
    """Record `event_type` with a snapshot of `obj` as it is now.

    `previous` is the object before an update; like Stripe's `data.previous_attributes`, the event
    carries the old values of the top-level fields that changed. `account` is set for events
    about a connected account (Connect webhooks carry the account id at the top level).
    """
    data: JSON = {"object": public(obj)}
    if previous is not None:
        data["previous_attributes"] = {
            key: copy.deepcopy(previous.get(key))
            for key in obj
            if not key.startswith("_") and previous.get(key) != obj.get(key)
        }
    event: JSON = {
        "id": new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": ctx.now(),
        "data": data,
        "livemode": False,
        "pending_webhooks": 1 if ctx.sandbox.webhooks.enabled else 0,
        "request": {"id": ctx.request_id, "idempotency_key": ctx.idempotency_key},
        "type": event_type,
    }
    if account is not None:
        event["account"] = account
    ctx.store.insert("event", event)
    ctx.sandbox.webhooks.enqueue(event)
    return event
