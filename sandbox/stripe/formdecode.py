"""Stripe's nested form encoding → nested dicts and lists.

The SDK flattens `{"metadata": {"a": "1"}, "expand": ["x"]}` into `metadata[a]=1&expand[0]=x`
(always indexed for lists; older clients send `expand[]=x`, which we also accept). Values stay
strings: Stripe coerces types per parameter, and so do our parameter readers.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import StripeError, invalid_request

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")

# Marks a node built from `[]` pushes so it becomes a list even though it has no indexes.
_APPEND = "\x00append"


def decode_form(body: str) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        match = _KEY.match(key)
        if match is None:
            raise invalid_request(f"Invalid parameter name: {key}")
        path = [match.group(1), *_PART.findall(match.group(2))]
        _assign(root, path, value, key)
    decoded = _listify(root)
    if not isinstance(decoded, dict):
        raise invalid_request("Invalid request body: top-level parameters must be named.")
    return decoded


def _assign(node: dict[str, Any], path: list[str], value: str, key: str) -> None:
    for depth, part in enumerate(path[:-1]):
        name = part if part else f"{_APPEND}{len(node)}"
        child = node.get(name)
        if child is None:
            child = node[name] = {}
        elif not isinstance(child, dict):
            raise _conflict(key, path[: depth + 1])
        node = child
    last = path[-1] if path[-1] else f"{_APPEND}{len(node)}"
    if isinstance(node.get(last), dict):
        raise _conflict(key, path)
    node[last] = value


def _conflict(key: str, path: list[str]) -> StripeError:
    head = path[0] + "".join(f"[{p}]" for p in path[1:])
    return invalid_request(f"Invalid value for {head}: {key} conflicts with another parameter.")


def _listify(node: dict[str, Any]) -> Any:
    """Turn dicts whose keys are all indexes (or `[]` pushes) into lists, depth first."""
    converted = {k: _listify(v) if isinstance(v, dict) else v for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    if converted and all(k.startswith(_APPEND) for k in converted):
        return list(converted.values())
    return converted
