"""Twilio's REST error bodies: `{"code", "message", "more_info", "status"}` plus the HTTP status.

The SDK turns such a body into `TwilioRestException(status, uri, msg, code)`. It switches to
`TwilioServiceException` when a body also carries `type` and `title` (RFC 9457, newer
products), so those two keys must never appear here.

A raised `TwilioError` means the request changed nothing: it is answered before or instead of
the operation, never after something was stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

# Generic "this parameter value is not acceptable" for the Messages API; Verify has its own
# (60200). Used too for real parameters the sandbox refuses to fake (see NOT_SIMULATED).
INVALID_PARAMETER = 20001


@dataclass
class TwilioError(Exception):
    status: int
    code: int
    message: str
    detail: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> JSON:
        body: JSON = {
            "code": self.code,
            "message": self.message,
            "more_info": more_info(self.code),
            "status": self.status,
        }
        if self.detail is not None:
            body["detail"] = self.detail
        return body


def more_info(code: int) -> str:
    return f"https://www.twilio.com/docs/errors/{code}"


def authentication_failed() -> TwilioError:
    return TwilioError(
        401,
        20003,
        "Authenticate",
        detail="Your AccountSid or AuthToken was incorrect.",
        headers={"WWW-Authenticate": 'Basic realm="Twilio API"'},
    )


def not_found(path: str) -> TwilioError:
    """`path` as Twilio saw it: `/2010-04-01/Accounts/AC…/Messages/SM….json`, `/v2/Services/…`."""
    return TwilioError(404, 20404, f"The requested resource {path} was not found")


def method_not_allowed(method: str) -> TwilioError:
    return TwilioError(405, 20004, f"Method not allowed: {method}")


def rate_limited() -> TwilioError:
    return TwilioError(429, 20429, "Too Many Requests", headers={"Retry-After": "1"})


def internal_error(why: str) -> TwilioError:
    return TwilioError(500, 20500, f"Internal Server Error ({why})")


def invalid_parameter(message: str) -> TwilioError:
    return TwilioError(400, INVALID_PARAMETER, message)


def not_simulated(parameter: str, what: str) -> TwilioError:
    """A real Twilio parameter the sandbox does not fake: refused rather than silently ignored,
    so a test never passes against behaviour the sandbox does not have."""
    return invalid_parameter(
        f"{parameter} is a real Twilio parameter that the Tempwork sandbox does not simulate "
        f"({what}); leave it out."
    )
