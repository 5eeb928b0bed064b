"""Events: Checkr's envelope around a snapshot of the object, stored and handed to webhooks.

    {"id", "object": "event", "type", "created_at", "webhook_url",
     "data": {"object": {...the full object...}}, "account_id"}

(the shape with the account's `include_object` option on, so the payload carries the object).
"""

from __future__ import annotations

import copy
import time

from ..store import JSON
from .ids import iso, new_id
from .render import public
from .state import ChecksState
from .webhooks import EVENT


def emit(state: ChecksState, event_type: str, obj: JSON) -> JSON:
    now = time.time()
    event: JSON = {
        "id": new_id(),
        "object": "event",
        "type": event_type,
        "created_at": iso(now),
        "webhook_url": state.settings.webhook_url,
        "data": {"object": copy.deepcopy(public(obj))},
        "account_id": state.account_id,
        "_created": int(now),
    }
    state.store.insert(EVENT, event)
    state.webhooks.enqueue(event, int(now))
    return event
