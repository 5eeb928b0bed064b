"""Logs for the API and the worker: one JSON object per line (or plain text for `make dev`),
carrying the request id (API), the workflow id and run id (worker) and the trace id when a
span is current, with secrets and personal data taken out of every message.

    configure_logging(settings, "api")      once per process, before anything logs

Why a filter rather than care at each call site: a provider SDK's exception text, a pydantic
error or a third-party library's debug line can quote an email address or a key we never
chose to log, so the last step before a handler writes anything scrubs it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import temporalio.activity
import temporalio.workflow
from opentelemetry import trace as otel_trace
from pydantic import SecretStr

from core.settings import Settings

# The API's request id (X-Request-Id), set per request by api/request_context.py.
REQUEST_ID: ContextVar[str | None] = ContextVar("tempwork_request_id", default=None)

REDACTED = "[redacted]"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# E.164 as we store and send numbers (+14155550100), also written with spaces or dashes.
# Deliberately not bare digit runs: UUIDs, amounts and timestamps are full of them.
PHONE = re.compile(r"(?<![\w+])\+\d(?:[ ().-]?\d){6,14}(?!\w)")
# Secrets shorter than this are not searched for: "x" would redact every x in every line.
MIN_SECRET_LENGTH = 8

# Where the Temporal SDK's loggers put the current workflow/activity (their LoggerAdapters
# add these mappings to `extra`), and the field names we write them under.
_TEMPORAL_FIELDS = {
    "workflow_id": "workflow_id",
    "run_id": "run_id",
    "workflow_run_id": "run_id",
    "workflow_type": "workflow_type",
    "activity_type": "activity_type",
    "activity_id": "activity_id",
    "attempt": "attempt",
    "update_name": "update_name",
}


def secret_values(settings: Settings) -> list[str]:
    """Every secret setting's value (JWT key, provider keys, the database password…)."""
    values: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            values.append(value.get_secret_value())
    password = _database_password(settings.database_url)
    if password:
        values.append(password)
    return [v for v in values if len(v) >= MIN_SECRET_LENGTH]


def _database_password(url: str) -> str | None:
    match = re.match(r"^[\w+]+://[^:/@]+:([^@]+)@", url)
    return match.group(1) if match else None


class Redact(logging.Filter):
    """Replaces secret values, email addresses and phone numbers in the message (its
    arguments already merged in) and in the exception text with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        ordered = sorted(set(secrets), key=len, reverse=True)  # longest first: no partial hits
        self._secrets = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def scrub(self, text: str) -> str:
        if self._secrets is not None:
            text = self._secrets.sub(REDACTED, text)
        return PHONE.sub(REDACTED, EMAIL.sub(REDACTED, text))

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = self.scrub(message), None
        if record.exc_info and record.exc_info[1] is not None:
            # Format once here so the scrubbed text is what every handler prints.
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


def context_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Request id, workflow/activity identity and trace id for this record."""
    fields: dict[str, Any] = {}
    request_id = REQUEST_ID.get()
    if request_id:
        fields["request_id"] = request_id
    for key in ("temporal_workflow", "temporal_activity"):
        details = getattr(record, key, None)
        if isinstance(details, Mapping):
            fields.update(
                {_TEMPORAL_FIELDS[k]: v for k, v in details.items() if k in _TEMPORAL_FIELDS}
            )
    if "workflow_id" not in fields and temporalio.activity.in_activity():
        # Our activities often log through their module's logger, not activity.logger.
        info = temporalio.activity.info()
        fields |= {
            "workflow_id": info.workflow_id,
            "run_id": info.workflow_run_id,
            "activity_type": info.activity_type,
            "attempt": info.attempt,
        }
    trace_id = _current_trace_id()
    if trace_id:
        fields["trace_id"] = trace_id
    return fields


def _current_trace_id() -> str | None:
    # (Imported at the top, not here: a workflow's log call runs this inside the workflow
    # sandbox, where a first import would be re-executed under its restrictions.)
    context = otel_trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **context_fields(record),
        }
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The classic line, plus the same context as ``key=value`` pairs at the end."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = context_fields(record)
        if not fields:
            return line
        head, sep, tail = line.partition("\n")  # keep a traceback below the context
        context = " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{head} [{context}]{sep}{tail}"


def handler(settings: Settings, stream: Any = None) -> logging.Handler:
    """A stream handler with the chosen format and the redaction filter (tests use it on a
    StringIO)."""
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    out.addFilter(Redact(secret_values(settings)))
    return out


def configure_logging(settings: Settings) -> None:
    """The root logger writes through our handler only; uvicorn's loggers propagate to it.
    Idempotent: a second call (tests, app factories) replaces the handler."""
    root = logging.getLogger()
    for old in list(root.handlers):
        # Ours from an earlier call, or a plain basicConfig handler that would print every
        # line a second time (test harnesses' own handlers are subclasses: they stay).
        if getattr(old, "_tempwork", False) or type(old) is logging.StreamHandler:
            root.removeHandler(old)
    ours = handler(settings)
    ours._tempwork = True  # type: ignore[attr-defined]
    root.addHandler(ours)
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()  # uvicorn's own config would print them unformatted
        uvicorn_logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    # An access log that is on goes through our handler too; one turned off
    # (`--no-access-log`: no handlers, not propagating, a line per request saved) stays off.
    if access.handlers:
        access.handlers.clear()
        access.propagate = True
    # The SDK appends its context to the message as "({'workflow_id': …})" by default; in
    # JSON those are fields already (context_fields), so the message stays the message.
    json_lines = settings.log_format == "json"
    temporalio.activity.logger.activity_info_on_message = not json_lines
    temporalio.workflow.logger.workflow_info_on_message = not json_lines
