"""A tiny route table for the `/v1` API (paths like Stripe's, handlers like plain functions).

Stripe's API does not fit FastAPI's per-route body models well (nested form encoding, Stripe's
own error bodies, idempotent replay around every POST), so one FastAPI endpoint receives every
`/stripe/...` request and dispatches through this table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..store import JSON
from .context import Ctx
from .errors import ApiResult

Handler = Callable[[Ctx], JSON | ApiResult]

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler


class RouteTable:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        regex = _PLACEHOLDER.sub(r"(?P<\1>[^/]+)", template)
        self.routes.append(Route(method, template, re.compile(f"^{regex}$"), handler))

    def get(self, template: str) -> Callable[[Handler], Handler]:
        return self._decorator("GET", template)

    def post(self, template: str) -> Callable[[Handler], Handler]:
        return self._decorator("POST", template)

    def _decorator(self, method: str, template: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, template, handler)
            return handler

        return register

    def extend(self, other: RouteTable) -> None:
        self.routes.extend(other.routes)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method != method:
                continue
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None
