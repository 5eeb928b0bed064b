"""Small helpers every resource module uses."""

from __future__ import annotations

from ...store import JSON
from ..context import Ctx
from ..expand import expand


def respond(ctx: Ctx, obj: JSON) -> JSON:
    """The object as the client asked to see it (honouring `expand[]`)."""
    return expand(ctx, obj, ctx.params.str_list("expand"))


def retrieve(ctx: Ctx, kind: str) -> JSON:
    ctx.params.only()
    return respond(ctx, ctx.fetch(kind, ctx.path["id"]))
