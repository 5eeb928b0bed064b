"""Text a person typed, checked before anything keeps it.

PostgreSQL refuses U+0000 in text and JSONB, and providers refuse most control characters: a
value with them must be answered 422 at the door, not accepted and then fail forever in a
projection or a provider call. Newlines and tabs are fine.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator


def _printable(value: str) -> str:
    for char in value:
        if char in "\n\t":
            continue
        category = unicodedata.category(char)
        if category in ("Cc", "Cs"):  # control characters, lone surrogates
            raise ValueError(f"contains a control character (U+{ord(char):04X})")
    return value


# Put it after any StringConstraints in the same Annotated (nesting an Annotated type inside
# another one that adds StringConstraints silently drops this validator).
PRINTABLE = AfterValidator(_printable)
PlainText = Annotated[str, PRINTABLE]
