"""Request parameters: JSON bodies, Rails-style forms (`curl -d 'work_locations[][state]=CA'`,
as Checkr's own examples send them) and query strings, read with Checkr's messages.

Forms carry only strings, so readers coerce per parameter (`"true"` is a boolean for
`copy_requested`), as Checkr's API does.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import CheckrError, bad_request, invalid, missing

_SEGMENT = re.compile(r"^\[?([^\[\]]+)\]?")


def decode_body(content_type: str, body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "application/json":
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise bad_request("Request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise bad_request("Request body must be a JSON object")
        return data
    if media_type in ("", "application/x-www-form-urlencoded"):
        return decode_form(body.decode(errors="replace"))
    raise CheckrError(
        415, f"Content type {media_type} is not supported here (use JSON or a urlencoded form)"
    )


def decode_form(raw: str) -> dict[str, Any]:
    """Rack's nesting rules: `a[b]=1` a hash, `a[]=1` a list, `a[][b]=1&a[][c]=2` one list item
    per repeated key (a new item starts when the current one already has the key)."""
    params: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        _assign(params, key, value)
    return params


def _assign(params: dict[str, Any], name: str, value: str) -> None:
    found = _SEGMENT.match(name)
    if found is None:
        raise bad_request(f"{name} is not a valid parameter name")
    key, rest = found.group(1), name[found.end() :]
    if rest == "":
        params[key] = value
    elif rest == "[]":
        items = params.setdefault(key, [])
        if not isinstance(items, list):
            raise invalid(key)
        items.append(value)
    elif rest.startswith("[]["):
        items = params.setdefault(key, [])
        if not isinstance(items, list):
            raise invalid(key)
        child = rest[2:]
        child_key = _SEGMENT.match(child)
        last = items[-1] if items else None
        if isinstance(last, dict) and child_key and child_key.group(1) not in last:
            _assign(last, child, value)
        else:
            item: dict[str, Any] = {}
            _assign(item, child, value)
            items.append(item)
    else:
        nested = params.setdefault(key, {})
        if not isinstance(nested, dict):
            raise invalid(key)
        _assign(nested, rest, value)


class Params:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def only(self, *allowed: str, not_simulated: tuple[str, ...] = ()) -> None:
        """Refuse what this endpoint does not take. Real Checkr parameters the sandbox does not
        simulate say so, rather than being silently ignored (the app would think they work)."""
        for name in self.data:
            if name in not_simulated:
                raise bad_request(
                    f"{name} is a real Checkr parameter that the Tempwork sandbox does not "
                    "simulate. Extend the sandbox before relying on it."
                )
            if name not in allowed:
                raise bad_request(f"{name} is not a recognized parameter")

    def require(self, *names: str) -> None:
        absent = [n for n in names if self.data.get(n) in (None, "", [])]
        if absent:
            raise missing(*absent)

    def string(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise invalid(name)
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return bool(value == "true")
        raise invalid(name)

    def integer(self, name: str, default: int, *, minimum: int, maximum: int | None) -> int:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise CheckrError(400, f"{name} does not have a valid value") from None
        if number < minimum or (maximum is not None and number > maximum):
            raise CheckrError(400, f"{name} does not have a valid value")
        return number

    def str_list(self, name: str) -> list[str]:
        value = self.data.get(name)
        if value is None or value == "":
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid(name)
        return list(value)

    def mapping(self, name: str) -> dict[str, Any] | None:
        value = self.data.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, dict):
            raise invalid(name)
        return value

    def hashes(self, name: str) -> list[dict[str, Any]]:
        """A list of objects (`work_locations`); a form's `a[0][b]` arrives as a hash of them."""
        value = self.data.get(name)
        if value is None or value == "":
            return []
        if isinstance(value, dict) and all(k.isdigit() for k in value):
            value = [value[k] for k in sorted(value, key=int)]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise invalid(name)
        return list(value)
