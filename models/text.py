"""Text a person typed, checked before anything keeps it: ``Text`` is the one type of every
free-text field the API accepts (bodies and query parameters alike).

PostgreSQL refuses U+0000 in text and JSONB, and providers refuse most control characters: a
value with them must be answered 422 at the door, naming the field, not accepted and then fail
forever in a projection or a provider call. Newlines and tabs are fine. Lone surrogates (which
JSON's ``\\ud800`` escapes can produce) cannot be encoded as UTF-8 at all.

The OpenAPI schema carries the rule as a ``pattern`` so clients (and the schema fuzzer) know it;
the check itself is the validator, which names the offending character.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

# Everything but C0/C1 controls (tab and newline allowed) and DEL, as an ECMA-262 regex.
PRINTABLE_PATTERN = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"


def _printable(value: str) -> str:
    for char in value:
        if char in "\n\t":
            continue
        category = unicodedata.category(char)
        if category in ("Cc", "Cs"):  # control characters, lone surrogates
            raise ValueError(f"contains a control character (U+{ord(char):04X})")
    return value


class _DocumentedPrintable:
    """Adds the rule to the JSON schema without a second (less helpful) pattern check."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema: dict[str, Any] = handler(core_schema)
        schema.setdefault("pattern", PRINTABLE_PATTERN)
        return schema


# Put it after any StringConstraints in the same Annotated, or give the limits with Field(...).
PRINTABLE = AfterValidator(_printable)
Text = Annotated[str, PRINTABLE, _DocumentedPrintable()]


def storable(value: Any) -> Any:
    """A provider's payload made fit for PostgreSQL JSONB, which refuses U+0000 and cannot
    encode lone surrogates: those become U+FFFD. Only for what we keep as a record of what a
    provider sent (signed, so it cannot be refused like a person's input); the rest is as is."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        return value
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value
