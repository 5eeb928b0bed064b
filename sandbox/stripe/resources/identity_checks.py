"""What happens to a VerificationSession after the user acts: submission, verdict, redaction.

    requires_input --submit--> processing --(identity_delay_seconds)--> verified
          ^                                                       \\--> requires_input + last_error
          \\-- user-session errors (consent_declined, abandoned, ...) skip `processing`

A verdict writes a VerificationReport (`last_verification_report`). In test mode Stripe returns
fixed test data for verified sessions (Jenny Rosen, born 1901-01-01, 1234 Main St., San
Francisco), and so does the sandbox. Redaction is asynchronous on Stripe ("may take up to four
days"): `redaction.status` is `processing` until a scheduled job replaces personal data with
`[redacted]`, scrubs the session's past events and emits `...redacted`.
"""

from __future__ import annotations

import copy
from typing import Any

from ...store import JSON
from ..context import Ctx
from ..events import emit
from ..ids import new_id, new_token
from ..render import public

SESSION = "identity.verification_session"
REPORT = "identity.verification_report"
LINK = "_identity_link"
OUTCOME_JOB = "identity_outcome"
REDACT_JOB = "identity_redact"
# Stripe: the session `url` "expires after 48 hours and can only be used once".
LINK_TTL_SECONDS = 48 * 60 * 60
REDACTED = "[redacted]"

# `last_error.code` values (Stripe's `gelato_session_last_error`), with reasons in Stripe's words.
ERROR_REASONS = {
    "abandoned": "The user began the verification but didn't submit it.",
    "consent_declined": "The user declined to be verified by Stripe.",
    "country_not_supported": "The provided document's issuing country isn't supported.",
    "device_not_supported": "The user's device doesn't have a camera or can't capture images.",
    "document_expired": "The provided identity document has expired.",
    "document_type_not_supported": "The provided identity document isn't one of the session's "
    "allowed document types.",
    "document_unverified_other": "Stripe couldn't verify the provided identity document.",
    "email_unverified_other": "Stripe couldn't verify the provided email address.",
    "email_verification_declined": "The user declined to verify their email address.",
    "id_number_insufficient_document_data": "The provided document didn't contain enough data "
    "to match against the ID number.",
    "id_number_mismatch": "The information provided couldn't be verified.",
    "id_number_unverified_other": "Stripe couldn't verify the provided ID number.",
    "phone_unverified_other": "Stripe couldn't verify the provided phone number.",
    "phone_verification_declined": "The user declined to verify their phone number.",
    "selfie_document_missing_photo": "The provided identity document didn't contain a picture "
    "of a face.",
    "selfie_face_mismatch": "The captured face image didn't match with the document's face.",
    "selfie_manipulated": "The captured face image was manipulated.",
    "selfie_unverified_other": "Stripe couldn't verify the provided selfie.",
    "under_supported_age": "Stripe doesn't verify users under the age of majority.",
}
# Failures of the user's session rather than of a check: nothing was submitted to process.
SESSION_ERRORS = (
    "abandoned",
    "consent_declined",
    "device_not_supported",
    "email_verification_declined",
    "phone_verification_declined",
)

_TEST_PERSON: JSON = {
    "first_name": "Jenny",
    "last_name": "Rosen",
    "dob": {"day": 1, "month": 1, "year": 1901},
    "address": {
        "city": "San Francisco",
        "country": "US",
        "line1": "1234 Main St.",
        "line2": None,
        "postal_code": "94111",
        "state": "CA",
    },
    "id_number": "000000000",
    "id_number_type": "us_ssn",
}


def default_error(session: JSON) -> str:
    return "id_number_mismatch" if session["type"] == "id_number" else "document_unverified_other"


def issue_link(ctx: Ctx, session: JSON) -> None:
    """A fresh single-use `url` (and `client_secret`), as Stripe hands out on create/retrieve."""
    token = new_token()
    now = ctx.now()
    ctx.store.insert(
        LINK,
        {
            "id": token,
            "session": session["id"],
            "created": now,
            "expires_at": now + LINK_TTL_SECONDS,
            "used": False,
        },
    )
    session["url"] = f"{ctx.sandbox.settings.public_url}/stripe/identity/verify/{token}"
    session["client_secret"] = f"{session['id']}_secret_{new_token()}"


def close_links(session: JSON) -> None:
    # Only a session waiting for the user has a way in; Stripe nulls both once it moves on.
    session["url"] = None
    session["client_secret"] = None


def submit(ctx: Ctx, session: JSON, outcome: str, code: str | None) -> JSON:
    """The user finished the hosted flow: `outcome` is "verified" or "requires_input" (+ code)."""
    if outcome == "requires_input" and code in SESSION_ERRORS:
        _fail(ctx, session, code)
        return session
    close_links(session)
    session["status"] = "processing"
    ctx.save(session)
    emit(ctx, "identity.verification_session.processing", session)
    ctx.sandbox.scheduler.schedule(
        OUTCOME_JOB,
        {"session": session["id"], "outcome": outcome, "code": code},
        ctx.sandbox.settings.identity_delay_seconds,
    )
    return session


def settle(ctx: Ctx, session: JSON, outcome: str, code: str | None) -> None:
    """The checks finished processing (a scheduled job)."""
    if session["status"] != "processing":
        return  # canceled or redacted meanwhile
    if outcome == "verified":
        report = _report(ctx, session, error_code=None)
        session.update(
            status="verified",
            last_error=None,
            last_verification_report=report["id"],
            _verified_outputs=_verified_outputs(session),
        )
        ctx.save(session)
        emit(ctx, "identity.verification_session.verified", session)
        return
    _fail(ctx, session, code or default_error(session))


def _fail(ctx: Ctx, session: JSON, code: str) -> None:
    if code not in SESSION_ERRORS:
        session["last_verification_report"] = _report(ctx, session, error_code=code)["id"]
    session["status"] = "requires_input"
    session["last_error"] = {"code": code, "reason": ERROR_REASONS[code]}
    # The user may try again at once; the app fetches the new url with a retrieve.
    issue_link(ctx, session)
    ctx.save(session)
    emit(ctx, "identity.verification_session.requires_input", session)


def _verified_outputs(session: JSON) -> JSON:
    person = _TEST_PERSON
    wants_id_number = session["type"] == "id_number" or bool(
        session["options"].get("document", {}).get("require_id_number")
    )
    return {
        "address": copy.deepcopy(person["address"]) if session["type"] == "document" else None,
        "dob": dict(person["dob"]),
        # Only email/phone verification (`options[email|phone]`, not simulated) verifies these.
        "email": None,
        "first_name": person["first_name"],
        "id_number": person["id_number"] if wants_id_number else None,
        "id_number_type": person["id_number_type"] if wants_id_number else None,
        "last_name": person["last_name"],
        "phone": None,
        "sex": None,
        "unparsed_place_of_birth": None,
        "unparsed_sex": None,
    }


def _check(error_code: str | None) -> tuple[str, JSON]:
    """One check's `status` and `error` (Stripe reports `{code: null, reason: null}` on success)."""
    if error_code is None:
        return "verified", {"code": None, "reason": None}
    return "unverified", {"code": error_code, "reason": ERROR_REASONS[error_code]}


def _failed_check(error_code: str | None) -> str | None:
    """Which check a failure belongs to: the selfie's, the ID number's, else the document's."""
    if error_code is None:
        return None
    if error_code.startswith("selfie_"):
        return "selfie"
    if error_code.startswith("id_number_"):
        return "id_number"
    return "document"


def _report(ctx: Ctx, session: JSON, *, error_code: str | None) -> JSON:
    """The VerificationReport of one attempt, with the check that failed marked `unverified`."""
    person = _TEST_PERSON
    document_options = session["options"].get("document", {})
    failed = _failed_check(error_code)

    def check(name: str) -> tuple[str, JSON]:
        return _check(error_code if failed == name else None)

    report: JSON = {
        "id": new_id("vr"),
        "object": REPORT,
        "client_reference_id": session["client_reference_id"],
        "created": ctx.now(),
        "livemode": False,
        "options": copy.deepcopy(session["options"]),
        "type": session["type"],
        "verification_session": session["id"],
    }
    if session["type"] == "document":
        status, error = check("document")
        report["document"] = {
            "address": copy.deepcopy(person["address"]),
            "dob": None,
            "error": error,
            "expiration_date": {"day": 1, "month": 12, "year": 2030},
            "files": [],
            "first_name": person["first_name"],
            "issued_date": {"day": 1, "month": 12, "year": 2020},
            "issuing_country": "US",
            "last_name": person["last_name"],
            "status": status,
            "type": (document_options.get("allowed_types") or ["driving_license"])[0],
        }
        if document_options.get("require_matching_selfie"):
            status, error = check("selfie")
            report["selfie"] = {
                "document": None,
                "error": error,
                "selfie": None,
                "status": status,
            }
    if session["type"] == "id_number" or document_options.get("require_id_number"):
        status, error = check("id_number")
        report["id_number"] = {
            "dob": None,
            "error": error,
            "first_name": person["first_name"],
            "id_number": None,
            "id_number_type": person["id_number_type"],
            "last_name": person["last_name"],
            "status": status,
        }
    ctx.create(report)
    return report


def finish_redaction(ctx: Ctx, session: JSON) -> None:
    """Replace personal data with placeholders everywhere the session left it (a job)."""
    if session.get("redaction") != {"status": "processing"}:
        return
    session["_provided_details"] = _placeholders(session.get("_provided_details"))
    session["_verified_outputs"] = _placeholders(session.get("_verified_outputs"))
    session["metadata"] = {}
    session["redaction"] = {"status": "redacted"}
    ctx.save(session)
    for report in ctx.store.all(REPORT):
        if report["verification_session"] == session["id"]:
            for check in ("document", "id_number"):
                if report.get(check):
                    report[check] = _placeholders(report[check], keep=("error", "status", "type"))
            ctx.save(report)
    # Stripe redacts "Events, request logs, etc." too: past snapshots lose the personal data.
    snapshot = public(session)
    for event in ctx.store.all("event"):
        if event["data"]["object"].get("id") == session["id"]:
            event["data"] = {"object": copy.deepcopy(snapshot)}
            ctx.store.save("event", event)
    emit(ctx, "identity.verification_session.redacted", session)


def _placeholders(value: Any, keep: tuple[str, ...] = ()) -> Any:
    if isinstance(value, dict):
        return {k: v if k in keep else _placeholders(v) for k, v in value.items()}
    if isinstance(value, str):
        return REDACTED
    if isinstance(value, int) and not isinstance(value, bool):
        return None  # dates of birth and the like have no string placeholder
    return value
