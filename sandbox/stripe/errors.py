"""Stripe error bodies: `{"error": {"type", "code", "param", "message", ...}}` plus status.

A raised `StripeError` means the request was refused *before* it changed anything, so it is
never stored under an idempotency key (Stripe: "results are only saved if an API endpoint
started executing"). Outcomes that did change state, such as a card decline that leaves a
failed charge behind, are returned as `ApiResult` instead and are stored and replayed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass
class StripeError(Exception):
    status: int
    type: str
    message: str
    code: str | None = None
    param: str | None = None
    extra: JSON = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    # Stripe links errors to the account's request log, which an unauthenticated caller lacks.
    with_log_url: bool = True

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self, request_id: str) -> JSON:
        return error_body(
            self.type,
            self.message,
            request_id,
            code=self.code,
            param=self.param,
            extra=self.extra,
            with_log_url=self.with_log_url,
        )


@dataclass(frozen=True)
class ApiResult:
    """A completed call's answer, stored for idempotent replay whatever its status."""

    status: int
    body: JSON


def error_body(
    type_: str,
    message: str,
    request_id: str,
    *,
    code: str | None = None,
    param: str | None = None,
    extra: JSON | None = None,
    with_log_url: bool = True,
) -> JSON:
    error: JSON = {"type": type_, "message": message, **(extra or {})}
    if code is not None:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param is not None:
        error["param"] = param
    if with_log_url:
        error["request_log_url"] = (
            f"https://dashboard.stripe.com/test/logs/{request_id}?t={int(time.time())}"
        )
    return {"error": error}


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> StripeError:
    return StripeError(status, "invalid_request_error", message, code=code, param=param)


def parameter_missing(param: str) -> StripeError:
    return invalid_request(
        f"Missing required param: {param}.", param=param, code="parameter_missing"
    )


def parameter_unknown(param: str) -> StripeError:
    return invalid_request(
        f"Received unknown parameter: {param}", param=param, code="parameter_unknown"
    )


def resource_missing(
    noun: str, object_id: str, *, param: str = "id", status: int = 404
) -> StripeError:
    # Stripe answers 404 for a missing path id and 400 for a missing id passed as a parameter.
    return invalid_request(
        f"No such {noun}: '{object_id}'", param=param, code="resource_missing", status=status
    )


def mask_key(key: str) -> str:
    """`sk_test_****abcd`: Stripe never echoes a full secret key back, and neither do we."""
    prefix_end = key.find("_", key.find("_") + 1) + 1 if key.count("_") >= 2 else 0
    prefix = key[:prefix_end]
    rest = key[prefix_end:]
    if len(rest) <= 4:
        return prefix + "*" * len(rest)
    return prefix + "*" * (len(rest) - 4) + rest[-4:]
