"""What happens to each recipient's copy: the test addresses, and suppressed addresses.

A recipient whose local part ends in one of these tags gets that fate (any domain, any case):

| address              | events (one webhook batch per stage)                     |
|----------------------|----------------------------------------------------------|
| `x+bounce@...`       | processed · bounce (type bounce, 5.1.1) → on bounce list |
| `x+blocked@...`      | processed · bounce (type blocked, 5.7.1), not suppressed |
| `x+defer@...`        | processed · deferred (attempt 1) · delivered             |
| `x+dropped@...`      | processed · dropped (reason "Invalid")                   |
| `x+spamreport@...`   | processed · delivered · spamreport → on spam report list |
| `x+open@...`         | processed · delivered · open                             |
| anything else        | processed · delivered                                    |

An address on a suppression list is `dropped` instead, whatever its tag, with SendGrid's reason
("Bounced Address", "Spam Reporting Address", "Unsubscribed Address").
"""

from __future__ import annotations

from ..store import JSON

Stage = list[tuple[str, JSON]]  # (event, overrides) emitted together
Plan = list[Stage]

_TAGGED: dict[str, Plan] = {
    "bounce": [[("processed", {})], [("bounce", {})]],
    "blocked": [[("processed", {})], [("bounce", {"type": "blocked"})]],
    "defer": [[("processed", {})], [("deferred", {})], [("delivered", {})]],
    "dropped": [[("processed", {})], [("dropped", {})]],
    "spamreport": [[("processed", {})], [("delivered", {})], [("spamreport", {})]],
    "open": [[("processed", {})], [("delivered", {})], [("open", {})]],
}
TEST_TAGS = tuple(_TAGGED)
_DELIVERED: Plan = [[("processed", {})], [("delivered", {})]]


def tag_of(email: str) -> str | None:
    local = email.split("@", 1)[0].lower()
    _, plus, tag = local.rpartition("+")
    return tag if plus and tag in _TAGGED else None


def plan_for(email: str, drop_reason: str | None) -> Plan:
    if drop_reason is not None:
        return [[("processed", {})], [("dropped", {"reason": drop_reason})]]
    tag = tag_of(email)
    return _TAGGED[tag] if tag else _DELIVERED
