"""Kinds of rejection a workflow can answer a command with.

Workflows raise ``ApplicationError(type=<kind>)`` from update validators and handlers; the API
maps each kind to one HTTP status in ``api/errors.py``. Keeping the vocabulary here (no I/O)
lets workflow code and the API share it without importing each other.
"""

from enum import StrEnum


class Rejection(StrEnum):
    INVALID_STATE = "InvalidState"  # 409: the command does not fit the current state
    FORBIDDEN = "Forbidden"  # 403: this person may not do this
    NOT_FOUND = "NotFound"  # 404: e.g. an application or milestone that does not exist
    INVALID = "Invalid"  # 422: the command is malformed for this workflow
    NOT_VERIFIED = "NotVerified"  # 403: verification level too low
    CARD_DECLINED = "CardDeclined"  # 402: the client's card was declined
    PAYMENT_FAILED = "PaymentFailed"  # 402: payment did not complete (e.g. needs action)
    PROVIDER_UNAVAILABLE = "ProviderUnavailable"  # 503: the provider did not answer in time
    TOO_MANY_REQUESTS = "TooManyRequests"  # 429: wait (details: retry_after_seconds)
    WRONG_CODE = "WrongCode"  # 422: the verification code is wrong (details: attempts_left)
    CODE_LOCKED = "CodeLocked"  # 409: too many wrong codes; ask for a new one
    CODE_EXPIRED = "CodeExpired"  # 409: the code ran out; ask for a new one
    INVALID_PHONE = "InvalidPhoneNumber"  # 422: the number cannot receive text messages
    UNDELIVERABLE = "Undeliverable"  # 422: the provider refuses this address for good
    NOT_SAVED = "NotSaved"  # 500: valid, but the database refused it; support is on it


# An activity's error type for a write the database refuses for good (a data error): not
# retried; the workflow holds for support instead (see workflows/common.py `store`).
UNSTORABLE = "UnstorableData"
