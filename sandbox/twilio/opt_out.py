"""Twilio's default opt-out handling for long codes: keywords, the opt-out list, auto replies.

A person who texts STOP (or STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) to our number is opted
out: Twilio answers with its confirmation and refuses later sends to them with 21610 until they
text START (or YES, UNSTOP). HELP and INFO get the help text. A keyword counts only as the
whole message, in any case, with surrounding spaces or punctuation.

Opt-outs are kept per recipient for the account's one number; sends through a Messaging
Service are blocked too, since that service's sender pool is the same number.
"""

from __future__ import annotations

import time
from typing import Literal

from ..outbox import address_key
from ..store import JSON, ObjectStore
from .dates import rfc2822

OptOutType = Literal["STOP", "START", "HELP"]
OPT_OUT = "_opt_out"

KEYWORDS: dict[str, OptOutType] = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), "STOP"),
    **dict.fromkeys(("START", "YES", "UNSTOP"), "START"),
    **dict.fromkeys(("HELP", "INFO"), "HELP"),
}

# Twilio's default replies on a long code.
REPLIES: dict[OptOutType, str] = {
    "STOP": "You have successfully been unsubscribed. You will not receive any more messages "
    "from this number. Reply START to resubscribe.",
    "START": "You have successfully been re-subscribed to messages from this number. Reply HELP "
    "for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
    "HELP": "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
}

_IGNORED_AROUND = " \t\r\n.!?,;:"


def keyword_of(body: str) -> OptOutType | None:
    return KEYWORDS.get(body.strip(_IGNORED_AROUND).upper())


class OptOuts:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def is_opted_out(self, number: str) -> bool:
        return self.store.get(OPT_OUT, address_key(number)) is not None

    def apply(self, keyword: OptOutType, number: str, *, our_number: str, body: str) -> None:
        key = address_key(number)
        if keyword == "STOP":
            now = time.time()
            self.store.save(
                OPT_OUT,
                {
                    "id": key,
                    "phone_number": number,
                    "our_number": our_number,
                    "keyword": body.strip(_IGNORED_AROUND).upper(),
                    "opted_out_at": rfc2822(now),
                    "_opted_out_ts": now,
                },
            )
        elif keyword == "START":
            self.store.delete(OPT_OUT, key)

    def all(self) -> list[JSON]:
        return [
            {k: v for k, v in entry.items() if k != "id" and not k.startswith("_")}
            for entry in self.store.all(OPT_OUT)
        ]
