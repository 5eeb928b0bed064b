"""What the on-call commands (stuck, show, reset, replay) share: the client, durations as
people type them, payloads as short text, and reading a history from its end."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client
from temporalio.converter import DataConverter

# Long enough to recognise a value, short enough that a history stays one screen wide.
MAX_VALUE_CHARS = 160

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``10m``, ``2h``, ``7d`` (argparse type: a ValueError becomes a usage error)."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (examples: 90s, 10m, 2h, 7d)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def describe_duration(d: timedelta) -> str:
    """``7d``, ``2d23h59m59s``, ``90s``: what a timer or threshold means at a glance."""
    seconds = int(d.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


async def connect() -> Client:
    """The same client (address, namespace, TLS, pydantic data converter) the services use."""
    from core.settings import get_settings
    from core.temporal import connect as connect_with

    return await connect_with(get_settings())


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


def event_time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime().replace(tzinfo=UTC)


def short(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """A decoded value as one line of JSON, cut at ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def decode(converter: DataConverter, payloads: Sequence[Payload]) -> list[Any]:
    """Payloads as plain values (dicts for pydantic models: no type hints on this side); one
    that does not decode is shown by its encoding rather than failing the whole command."""
    values: list[Any] = []
    for payload in payloads:
        try:
            values.extend(await converter.decode([payload]))
        except Exception:
            encoding = payload.metadata.get("encoding", b"?").decode(errors="replace")
            values.append(f"<{encoding}, {len(payload.data)} bytes>")
    return values


async def shown(converter: DataConverter, payloads: Sequence[Payload]) -> str:
    values = await decode(converter, payloads)
    if not values:
        return "nothing"
    # As JSON, strings quoted: "settled order-7" reads as one value, not as prose.
    value = values[0] if len(values) == 1 else values
    return short(json.dumps(value, default=str, ensure_ascii=False))


async def reverse_events(
    client: Client, workflow_id: str, run_id: str = "", *, page_size: int = 100
) -> AsyncIterator[HistoryEvent]:
    """The run's events newest first: what is stuck is usually near the end of a history."""
    token = b""
    while True:
        response = await client.workflow_service.get_workflow_execution_history_reverse(
            GetWorkflowExecutionHistoryReverseRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                maximum_page_size=page_size,
                next_page_token=token,
            )
        )
        for event in response.history.events:
            yield event
        token = response.next_page_token
        if not token:
            return
