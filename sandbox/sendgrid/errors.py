"""SendGrid's error answers: `{"errors": [{"message", "field", "help"}]}` plus a status.

Mail Send lists every problem it found, each with the field path (`personalizations.0.to.0.email`)
and a link into SendGrid's error reference; other endpoints give a message and, at most, a field.
The official Python SDK raises `python_http_client.exceptions.HTTPError` subclasses carrying
`.status_code` and `.body` (these bytes).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Response

HELP_BASE = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
RATE_LIMIT_PER_MINUTE = 600  # SendGrid's documented default for most v3 endpoints

ErrorEntry = dict[str, Any]


def entry(message: str, field: str | None = None, help_anchor: str | None = None) -> ErrorEntry:
    """One Mail Send-style error; `help_anchor` is the fragment of SendGrid's error reference."""
    return {
        "message": message,
        "field": field,
        "help": f"{HELP_BASE}#{help_anchor}" if help_anchor else None,
    }


@dataclass
class SendGridError(Exception):
    status: int
    errors: list[ErrorEntry]
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.errors[0]["message"] if self.errors else str(self.status))

    def response(self) -> Response:
        return json_response({"errors": self.errors}, self.status, self.headers)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),  # compact, as SendGrid
        status,
        headers or {},
        media_type="application/json",
    )


def bad_request(errors: list[ErrorEntry]) -> SendGridError:
    return SendGridError(400, errors)


def authorization_required() -> SendGridError:
    return SendGridError(401, [entry("authorization required")])


def invalid_grant() -> SendGridError:
    return SendGridError(
        401, [entry("The provided authorization grant is invalid, expired, or revoked")]
    )


def not_found(field_name: str | None = None) -> SendGridError:
    return SendGridError(404, [{"message": "not found", "field": field_name}])


def method_not_allowed() -> SendGridError:
    return SendGridError(405, [{"field": None, "message": "method not allowed"}])


def too_many_requests() -> SendGridError:
    # SendGrid sends no Retry-After; clients are meant to wait until X-RateLimit-Reset.
    reset = int(time.time()) + 1
    return SendGridError(
        429,
        [{"field": None, "message": "too many requests"}],
        {
            "X-RateLimit-Limit": str(RATE_LIMIT_PER_MINUTE),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
        },
    )


def internal_error() -> SendGridError:
    return SendGridError(500, [{"field": None, "message": "internal server error"}])


def content_too_large() -> SendGridError:
    return SendGridError(413, [{"field": None, "message": "content too large"}])
