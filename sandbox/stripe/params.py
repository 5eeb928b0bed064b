"""Typed readers over decoded form parameters, with Stripe's validation messages."""

from __future__ import annotations

import re
from typing import Any

from .errors import StripeError, invalid_request, parameter_missing, parameter_unknown

_INTEGER = re.compile(r"^-?\d+$")
_CURRENCY = re.compile(r"^[a-zA-Z]{3}$")

# Stripe's documented metadata limits.
_METADATA_MAX_KEYS = 50
_METADATA_MAX_KEY_LENGTH = 40
_METADATA_MAX_VALUE_LENGTH = 500


class Params:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def only(self, *allowed: str, not_simulated: tuple[str, ...] = ()) -> None:
        """Refuse parameters this endpoint does not know, as Stripe does (catches typos).

        `not_simulated` names real Stripe parameters the sandbox does not implement; they are
        refused with a message saying so, rather than silently ignored or called unknown.
        """
        for name in self.data:
            if name in not_simulated:
                raise invalid_request(
                    f"`{name}` is a real Stripe parameter that the Tempwork sandbox does not "
                    "simulate. Extend the sandbox before relying on it.",
                    param=name,
                    code="parameter_not_simulated",
                )
            if name not in allowed and name != "expand":
                raise parameter_unknown(name)

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise parameter_missing(name)
            return None
        if not isinstance(value, str):
            raise invalid_request(f"Invalid string: {_describe(value)}", param=name)
        return value

    def required_string(self, name: str) -> str:
        value = self.string(name, required=True)
        assert value is not None
        return value

    def integer(
        self, name: str, *, default: int | None = None, minimum: int | None = None
    ) -> int | None:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if not isinstance(value, str) or not _INTEGER.match(value):
            raise invalid_request(
                f"Invalid integer: {_describe(value)}", param=name, code="parameter_invalid_integer"
            )
        number = int(value)
        if minimum is not None and number < minimum:
            raise invalid_request(
                f"This value must be greater than or equal to {minimum}.", param=name
            )
        return number

    def amount(self, name: str = "amount", *, required: bool = False) -> int | None:
        """A positive integer in the currency's minor unit (never a decimal)."""
        if required and (name not in self.data or self.data[name] == ""):
            raise parameter_missing(name)
        return self.integer(name, minimum=1)

    def required_amount(self, name: str = "amount") -> int:
        value = self.amount(name, required=True)
        assert value is not None
        return value

    def boolean(self, name: str, *, default: bool = False) -> bool:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if value in ("true", "false"):
            return value == "true"
        raise invalid_request(f"Invalid boolean: {_describe(value)}", param=name)

    def choice(self, name: str, choices: tuple[str, ...], *, required: bool = False) -> str | None:
        value = self.string(name, required=required)
        if value is not None and value not in choices:
            listed = ", ".join(f"`{c}`" for c in choices)
            raise invalid_request(f"Invalid {name}: must be one of {listed}", param=name)
        return value

    def currency(self, name: str = "currency", *, required: bool = True) -> str | None:
        value = self.string(name, required=required)
        if value is None:
            return None
        if not _CURRENCY.match(value):
            raise invalid_request(f"Invalid currency: {value.lower()}.", param=name)
        return value.lower()

    def mapping(self, name: str) -> dict[str, Any] | None:
        value = self.data.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, dict):
            raise invalid_request(f"Invalid object: {name} must be a hash.", param=name)
        return value

    def str_list(self, name: str) -> list[str]:
        value = self.data.get(name)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid_request(f"Invalid array: {name} must be a list of strings.", param=name)
        return list(value)

    def metadata(self, name: str = "metadata") -> dict[str, str] | None:
        """New metadata, or None when not given. An empty string clears all keys."""
        value = self.data.get(name)
        if value is None:
            return None
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise invalid_request("Invalid object: metadata must be a hash.", param=name)
        if len(value) > _METADATA_MAX_KEYS:
            raise invalid_request(
                f"Invalid metadata: metadata can have up to {_METADATA_MAX_KEYS} keys.",
                param=name,
            )
        result: dict[str, str] = {}
        for key, item in value.items():
            if len(key) > _METADATA_MAX_KEY_LENGTH:
                raise invalid_request(
                    f"Invalid metadata: keys can be up to {_METADATA_MAX_KEY_LENGTH} characters.",
                    param=f"{name}[{key}]",
                )
            if not isinstance(item, str):
                raise invalid_request(
                    "Invalid metadata: values must be strings.", param=f"{name}[{key}]"
                )
            if len(item) > _METADATA_MAX_VALUE_LENGTH:
                raise invalid_request(
                    f"Invalid metadata: values can be up to {_METADATA_MAX_VALUE_LENGTH} "
                    "characters.",
                    param=f"{name}[{key}]",
                )
            result[key] = item
        return result


def merge_metadata(current: dict[str, str], update: dict[str, str] | None) -> dict[str, str]:
    """Stripe's update semantics: keys merge, an empty value unsets one key, "" unsets all."""
    if update is None:
        return current
    if not update:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _describe(value: Any) -> str:
    return value if isinstance(value, str) else type(value).__name__


__all__ = ["Params", "StripeError", "merge_metadata"]
