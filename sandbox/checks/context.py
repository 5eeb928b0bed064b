"""What an operation gets to work with, and the small route table of the `/v1` API.

One FastAPI endpoint receives every `/checks/v1/...` request (so authentication, faults,
idempotency and Checkr's error bodies wrap every operation the same way) and dispatches here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ..store import JSON, ObjectStore
from .errors import not_found
from .params import Params
from .state import ChecksState

# How the API names each object type in "... not found".
NOUNS = {
    "candidate": "Candidate",
    "invitation": "Invitation",
    "report": "Report",
    "adverse_action": "Adverse action",
}


@dataclass(frozen=True)
class Reply:
    status: int
    body: JSON


@dataclass
class Ctx:
    state: ChecksState
    params: Params
    path: dict[str, str] = field(default_factory=dict)

    @classmethod
    def internal(cls, state: ChecksState) -> Ctx:
        """For what the provider does on its own (a report finishing) and control endpoints."""
        return cls(state, Params({}))

    @property
    def store(self) -> ObjectStore:
        return self.state.store

    @staticmethod
    def now() -> float:
        return time.time()

    def create(self, obj: JSON) -> JSON:
        return self.store.insert(obj["object"], obj)

    def save(self, obj: JSON) -> JSON:
        return self.store.save(obj["object"], obj)

    def get(self, kind: str, object_id: str) -> JSON | None:
        return self.store.get(kind, object_id)

    def fetch(self, kind: str, object_id: str) -> JSON:
        obj = self.store.get(kind, object_id)
        if obj is None:
            raise not_found(NOUNS[kind])
        return obj


Handler = Callable[[Ctx], JSON | Reply]
H = TypeVar("H", bound=Handler)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


class RouteTable:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, method: str, template: str) -> Callable[[H], H]:
        def register(handler: H) -> H:
            regex = _PLACEHOLDER.sub(r"(?P<\1>[^/]+)", template)
            self.routes.append(Route(method, re.compile(f"^{regex}$"), handler))
            return handler

        return register

    def extend(self, other: RouteTable) -> None:
        self.routes.extend(other.routes)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method == method:
                return route, found.groupdict()
        return None
