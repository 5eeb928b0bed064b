"""Reading events back (`GET /v1/events`), e.g. to reconcile after missed webhooks."""

from __future__ import annotations

from fnmatch import fnmatchcase

from ...store import JSON
from ..context import Ctx
from ..listing import list_response
from ..routing import RouteTable
from .common import retrieve

routes = RouteTable()


@routes.get("/v1/events/{id}")
def get_event(ctx: Ctx) -> JSON:
    return retrieve(ctx, "event")


@routes.get("/v1/events")
def list_events(ctx: Ctx) -> JSON:
    # `type` accepts Stripe's `*` wildcard (e.g. `charge.dispute.*`); `types[]` is any-of.
    return list_response(
        ctx,
        "/v1/events",
        "event",
        filters={
            "type": lambda event, pattern: fnmatchcase(event["type"], str(pattern)),
            "types": lambda event, wanted: event["type"] in wanted,
            "delivery_success": lambda event, value: (
                (event["pending_webhooks"] == 0) == (value == "true")
            ),
        },
    )
