"""The two date formats Twilio speaks, and its `DateSent` list filters.

The 2010-04-01 API (Messages) writes RFC 2822 in GMT (`Thu, 24 Aug 2023 05:01:45 +0000`);
Verify v2 writes ISO 8601 (`2015-07-30T20:00:00Z`, attempts with milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime

from .errors import invalid_parameter


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def rfc2822(timestamp: float) -> str:
    return format_datetime(_utc(timestamp).replace(microsecond=0))


def iso8601(timestamp: float) -> str:
    return _utc(timestamp).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso8601_ms(timestamp: float) -> str:
    moment = _utc(timestamp)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def raw_dlr_done_date(timestamp: float) -> str:
    """The carrier's delivery-receipt time in status callbacks: `YYMMDDhhmm`, UTC."""
    return _utc(timestamp).strftime("%y%m%d%H%M")


@dataclass(frozen=True)
class DateBound:
    """A `DateSent` filter value: a whole day (`2024-05-01`) or an instant (what the SDK sends,
    `2024-05-01T10:00:00Z`)."""

    moment: datetime
    whole_day: bool

    def on(self, timestamp: float) -> bool:
        sent = _utc(timestamp)
        if self.whole_day:
            return sent.date() == self.moment.date()
        return int(sent.timestamp()) == int(self.moment.timestamp())

    def on_or_after(self, timestamp: float) -> bool:
        sent = _utc(timestamp)
        if self.whole_day:
            return sent.date() >= self.moment.date()
        return sent >= self.moment

    def on_or_before(self, timestamp: float) -> bool:
        sent = _utc(timestamp)
        if self.whole_day:
            return sent.date() <= self.moment.date()
        return sent <= self.moment


def parse_date_bound(value: str, param: str) -> DateBound:
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return DateBound(datetime(day.year, day.month, day.day, tzinfo=UTC), whole_day=True)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid_parameter(
            f"{param} must be a date (YYYY-MM-DD) or an ISO 8601 date-time, not {value!r}"
        ) from None
    if moment.tzinfo is None:  # Twilio reads dates in GMT
        moment = moment.replace(tzinfo=UTC)
    return DateBound(moment, whole_day=False)
