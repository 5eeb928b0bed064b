"""Verify v2 (`/v2/Services/{ServiceSid}/…`): Verifications and VerificationCheck, SMS only.

Behaves like Twilio Verify with its default settings:

- a verification sends a 6-digit code, valid for 10 minutes from its creation;
- starting one for a `To` that already has a pending verification re-sends the same code on
  that verification (`send_code_attempts` grows); the 6th send is refused (60203, HTTP 429);
- a check with the right code approves it; a wrong code answers 200 `pending`/`valid: false`;
  the 6th check is refused (60202, HTTP 429) whatever the code;
- once approved, canceled or expired the verification is gone from the API: fetching or
  checking it is a 404 (20404), as Twilio deletes it. `/_sandbox/twilio/verifications` still
  shows it, with its code.

Only the service the app is configured with exists. The code text goes to the outbox with
`code` set, so a test (or a developer) can read it back.
"""

from __future__ import annotations

import secrets
import time

from ..store import JSON
from .dates import iso8601, iso8601_ms
from .errors import TwilioError, not_found
from .numbers import VERIFY_INVALID, VERIFY_LANDLINE, is_e164
from .pipeline import Params
from .sids import VERIFICATION as VERIFICATION_PREFIX
from .sids import VERIFICATION_ATTEMPT, new_sid
from .state import TwilioSandbox

VERIFICATION = "verification"
SERVICE_FRIENDLY_NAME = "Tempwork"  # the service's name appears in the code text
CODE_LENGTH = 6
CODE_TTL_SECONDS = 10 * 60
MAX_SEND_ATTEMPTS = 5
MAX_CHECK_ATTEMPTS = 5
VERIFY_BASE = "https://verify.twilio.com/v2"
# Channels Verify has that the sandbox does not fake (it cannot ring or email anyone).
OTHER_CHANNELS = ("call", "email", "whatsapp", "sna", "auto", "rcs")


def invalid_parameter(message: str) -> TwilioError:
    return TwilioError(400, 60200, message)


def start(sandbox: TwilioSandbox, service_sid: str, params: Params, path: str) -> JSON:
    """POST /Verifications: a new verification, or a re-send on the pending one."""
    _service(sandbox, service_sid, path)
    to = params.get("To") or ""
    channel = params.get("Channel") or ""
    if not is_e164(to) or to == VERIFY_INVALID:
        raise invalid_parameter("Invalid parameter: To")
    if channel in OTHER_CHANNELS:
        raise invalid_parameter(
            f"Invalid parameter: Channel ({channel} is not simulated by the Tempwork sandbox; "
            "only sms is)"
        )
    if channel != "sms":
        raise invalid_parameter("Invalid parameter: Channel")
    if to == VERIFY_LANDLINE:
        raise TwilioError(403, 60205, "SMS is not supported by landline phone number")
    if params.get("CustomCode"):
        raise invalid_parameter(
            "Invalid parameter: CustomCode (custom codes are not simulated by the Tempwork sandbox)"
        )
    now = time.time()
    verification = _pending_for(sandbox, service_sid, to, now)
    if verification is None:
        verification = _new(sandbox, service_sid, to, channel, now)
        sandbox.store.insert(VERIFICATION, verification)
    elif len(verification["send_code_attempts"]) >= MAX_SEND_ATTEMPTS:
        raise TwilioError(429, 60203, "Max send attempts reached")
    _send_code(sandbox, verification, now)
    return public(verification)


def fetch(sandbox: TwilioSandbox, service_sid: str, sid: str, path: str) -> JSON:
    _service(sandbox, service_sid, path)
    return public(_pending(sandbox, service_sid, sid, path))


def update(sandbox: TwilioSandbox, service_sid: str, sid: str, params: Params, path: str) -> JSON:
    """POST /Verifications/{Sid} `Status=approved|canceled`."""
    _service(sandbox, service_sid, path)
    status = params.get("Status")
    if status not in ("approved", "canceled"):
        raise invalid_parameter("Invalid parameter: Status")
    verification = _pending(sandbox, service_sid, sid, path)
    _finish(sandbox, verification, status, time.time())
    return public(verification)


def check(sandbox: TwilioSandbox, service_sid: str, params: Params, path: str) -> JSON:
    """POST /VerificationCheck with `Code` and `To` or `VerificationSid`."""
    _service(sandbox, service_sid, path)
    code = params.get("Code") or ""
    to = params.get("To")
    verification_sid = params.get("VerificationSid")
    if not (code.isdigit() and 4 <= len(code) <= 10):
        raise invalid_parameter("Invalid parameter: Code")
    if not to and not verification_sid:
        raise invalid_parameter("Either a 'To' number or 'VerificationSid' must be specified")
    now = time.time()
    if verification_sid:
        found = sandbox.store.get(VERIFICATION, verification_sid)
        verification = found if found and _is_pending(sandbox, found, now) else None
        if verification is not None and verification["service_sid"] != service_sid:
            verification = None
    else:
        assert to is not None
        verification = _pending_for(sandbox, service_sid, to, now)
    if verification is None:
        raise not_found(path)
    if verification["_check_attempts"] >= MAX_CHECK_ATTEMPTS:
        raise TwilioError(429, 60202, "Max check attempts reached")
    verification["_check_attempts"] += 1
    if secrets.compare_digest(code, verification["_code"]):
        _finish(sandbox, verification, "approved", now)
    else:
        verification["date_updated"] = iso8601(now)
        sandbox.store.save(VERIFICATION, verification)
    return {
        "sid": verification["sid"],
        "service_sid": verification["service_sid"],
        "account_sid": verification["account_sid"],
        "to": verification["to"],
        "channel": verification["channel"],
        "status": verification["status"],
        "valid": verification["valid"],
        "amount": None,
        "payee": None,
        "date_created": verification["date_created"],
        "date_updated": verification["date_updated"],
        "sna_attempts_error_codes": [],
    }


def public(verification: JSON) -> JSON:
    return {k: v for k, v in verification.items() if k != "id" and not k.startswith("_")}


def sandbox_view(sandbox: TwilioSandbox, verification: JSON) -> JSON:
    """What `/_sandbox/twilio/verifications` shows: the resource plus its secret parts."""
    _is_pending(sandbox, verification, time.time())  # marks it expired when it is
    return {
        **public(verification),
        "code": verification["_code"],
        "check_attempts": verification["_check_attempts"],
        "expires_at": iso8601(verification["_expires_at"]),
    }


def expire(sandbox: TwilioSandbox, verification: JSON) -> None:
    """Age a verification past its 10 minutes (control endpoint)."""
    verification["_expires_at"] = time.time() - 1
    _is_pending(sandbox, verification, time.time())


def _service(sandbox: TwilioSandbox, service_sid: str, path: str) -> None:
    if service_sid != sandbox.settings.verify_service_sid:
        raise not_found(path)


def _new(sandbox: TwilioSandbox, service_sid: str, to: str, channel: str, now: float) -> JSON:
    sid = new_sid(VERIFICATION_PREFIX)
    return {
        "id": sid,
        "sid": sid,
        "service_sid": service_sid,
        "account_sid": sandbox.settings.account_sid,
        "to": to,
        "channel": channel,
        "status": "pending",
        "valid": False,
        "date_created": iso8601(now),
        "date_updated": iso8601(now),
        "lookup": {},
        "amount": None,
        "payee": None,
        "send_code_attempts": [],
        "sna": None,
        "url": f"{VERIFY_BASE}/Services/{service_sid}/Verifications/{sid}",
        "_code": "".join(secrets.choice("0123456789") for _ in range(CODE_LENGTH)),
        "_expires_at": now + CODE_TTL_SECONDS,
        "_check_attempts": 0,
    }


def _send_code(sandbox: TwilioSandbox, verification: JSON, now: float) -> None:
    attempt_sid = new_sid(VERIFICATION_ATTEMPT)
    verification["send_code_attempts"].append(
        {"attempt_sid": attempt_sid, "channel": verification["channel"], "time": iso8601_ms(now)}
    )
    verification["date_updated"] = iso8601(now)
    sandbox.store.save(VERIFICATION, verification)
    code = verification["_code"]
    sandbox.outbox.record(
        provider="twilio",
        channel="sms",
        to=verification["to"],
        sender=SERVICE_FRIENDLY_NAME,  # Verify texts from Twilio's own senders, not our number
        body=f"Your {SERVICE_FRIENDLY_NAME} verification code is: {code}",
        provider_message_id=verification["sid"],
        code=code,
        details={
            "service_sid": verification["service_sid"],
            "attempt_sid": attempt_sid,
            "attempt": len(verification["send_code_attempts"]),
        },
    )


def _finish(sandbox: TwilioSandbox, verification: JSON, status: str, now: float) -> None:
    verification["status"] = status
    verification["valid"] = status == "approved"
    verification["date_updated"] = iso8601(now)
    sandbox.store.save(VERIFICATION, verification)


def _is_pending(sandbox: TwilioSandbox, verification: JSON, now: float) -> bool:
    if verification["status"] == "pending" and now >= verification["_expires_at"]:
        verification["status"] = "expired"
        verification["date_updated"] = iso8601(verification["_expires_at"])
        sandbox.store.save(VERIFICATION, verification)
    return bool(verification["status"] == "pending")


def _pending_for(sandbox: TwilioSandbox, service_sid: str, to: str, now: float) -> JSON | None:
    for verification in reversed(sandbox.store.all(VERIFICATION)):
        if (
            verification["to"] == to
            and verification["service_sid"] == service_sid
            and _is_pending(sandbox, verification, now)
        ):
            return verification
    return None


def _pending(sandbox: TwilioSandbox, service_sid: str, sid_or_to: str, path: str) -> JSON:
    """A pending verification by SID or, as Twilio also accepts, by its `To` number."""
    now = time.time()
    if sid_or_to.startswith(VERIFICATION_PREFIX):
        found = sandbox.store.get(VERIFICATION, sid_or_to)
        if found and found["service_sid"] == service_sid and _is_pending(sandbox, found, now):
            return found
    else:
        found = _pending_for(sandbox, service_sid, sid_or_to, now)
        if found is not None:
            return found
    raise not_found(path)
