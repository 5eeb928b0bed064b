"""Checkr's error bodies: `{"error": "<message>"}` with the HTTP status saying what kind.

Checkr's OpenAPI spec gives every error response that one shape (e.g. 401 "Bad authentication
error", 404 "Candidate not found", 400 "Email is not a valid email address"). A raised
`CheckrError` means nothing was changed, so it is never stored under an idempotency key
(Checkr stores only 2xx responses).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..store import JSON


@dataclass
class CheckrError(Exception):
    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> JSON:
        return {"error": self.message}


def bad_request(message: str) -> CheckrError:
    return CheckrError(400, message)


def not_found(noun: str) -> CheckrError:
    """`Candidate not found`, `Package not found`: the spec's 404 wording."""
    return CheckrError(404, f"{noun} not found")


def missing(*names: str) -> CheckrError:
    # Checkr's API validates parameters Grape-style: "candidate_id is missing, package is missing".
    return CheckrError(400, ", ".join(f"{name} is missing" for name in names))


def invalid(name: str) -> CheckrError:
    return CheckrError(400, f"{name} is invalid")
