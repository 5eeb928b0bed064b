"""Phone numbers: E.164 checks, Twilio's magic test numbers, and SMS segment counting.

Twilio's test credentials give some `+1500555…` numbers a fixed outcome
(https://www.twilio.com/docs/iam/test-credentials). The sandbox honours the documented ones
and adds three of its own for what happens *after* acceptance (test credentials never report
delivery), so the app can rehearse undelivered and failed texts.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# NANP numbers are +1 and ten digits whose area code does not start with 0 or 1; elsewhere
# E.164 allows up to 15 digits after the +.
_NANP = re.compile(r"\+1[2-9]\d{9}")
_INTERNATIONAL = re.compile(r"\+[2-9]\d{6,14}")


def is_e164(number: str) -> bool:
    return _NANP.fullmatch(number) is not None or _INTERNATIONAL.fullmatch(number) is not None


def country_of(number: str) -> str:
    """ISO country for webhook `FromCountry`/`ToCountry` (only NANP is known to the sandbox)."""
    return "US" if _NANP.fullmatch(number) else ""


@dataclass(frozen=True)
class Refusal:
    """A Messages API error fixed to a magic number: (code, message) with HTTP 400."""

    code: int
    message: str


@dataclass(frozen=True)
class CarrierOutcome:
    """How the carrier ends an accepted message sent to a number."""

    status: str  # delivered | undelivered | failed
    error_code: int | None = None
    error_message: str | None = None


DELIVERED = CarrierOutcome("delivered")

# Twilio's documented magic `To` numbers for Messages.
MAGIC_RECIPIENTS: dict[str, Refusal] = {
    "+15005550001": Refusal(21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550002": Refusal(
        21612,
        "The 'To' phone number: +15005550002, is not currently reachable using the 'From' "
        "phone number: {sender} via SMS.",
    ),
    "+15005550003": Refusal(
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by the 'To' "
        "number: +15005550003.",
    ),
    "+15005550004": Refusal(21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": Refusal(21614, "To number: +15005550009, is not a mobile number"),
}

# Twilio's documented magic `From` numbers (only +15005550006 may send).
MAGIC_SENDERS: dict[str, Refusal] = {
    "+15005550001": Refusal(
        21212,
        "The 'From' number +15005550001 is not a valid phone number, shortcode, or "
        "alphanumeric sender ID.",
    ),
    "+15005550007": Refusal(
        21606,
        "The From phone number +15005550007 is not a valid, SMS-capable inbound phone number "
        "or short code for your account.",
    ),
    "+15005550008": Refusal(
        21611, "This 'From' number has exceeded the maximum number of queued messages"
    ),
}

# The sandbox's own: accepted (201), then the carrier reports a failure.
MAGIC_OUTCOMES: dict[str, CarrierOutcome] = {
    "+15005550010": CarrierOutcome("undelivered", 30003, "Unreachable destination handset"),
    "+15005550011": CarrierOutcome("undelivered", 30005, "Unknown destination handset"),
    "+15005550012": CarrierOutcome("failed", 30008, "Unknown error"),
}

# Verify: the Messages magic numbers that mean something for a verification.
VERIFY_INVALID = "+15005550001"  # → 60200
VERIFY_LANDLINE = "+15005550009"  # not SMS-capable → 60205


def outcome_for(recipient: str) -> CarrierOutcome:
    return MAGIC_OUTCOMES.get(recipient, DELIVERED)


# GSM 03.38: the basic set costs one septet, the extension set two (escape + char). Any other
# character forces UCS-2 for the whole message.
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = set("^{}\\[~]|€\f")


def segments(body: str) -> int:
    """How many SMS segments Twilio bills for `body` (160/153 GSM-7, 70/67 UCS-2)."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENSION for ch in body):
        septets = sum(2 if ch in _GSM_EXTENSION else 1 for ch in body)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(body.encode("utf-16-le")) // 2  # emoji are two UTF-16 units
    return 1 if units <= 70 else math.ceil(units / 67)
