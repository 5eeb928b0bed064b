"""Log lines an operator can search (one JSON object each, with the request id, the
workflow id and run id) and can hand to anyone (no secret, email address or phone number)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from core.logs import REDACTED, Redact, configure_logging, handler
from core.settings import Settings
from tests.conftest import Infra, eventually, sign_up
from tests.observability.conftest import Observed

JWT_SECRET = "jwt-secret-that-signs-every-token-000"
STRIPE_KEY = "sk_test_51HxSecretStripeKey"


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        name: SecretStr("s" * 32) if field.annotation is SecretStr else "x"
        for name, field in Settings.model_fields.items()
        if field.is_required()
    }
    values |= {
        "jwt_secret": SecretStr(JWT_SECRET),
        "stripe_api_key": SecretStr(STRIPE_KEY),
        "database_url": "postgresql+psycopg://tempwork:db-password-123@db:5432/tempwork",
    }
    return Settings(**(values | overrides))


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    logger = logging.getLogger("tempwork.test.logs")
    logger.addHandler(handler(settings(), stream))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.handlers.clear()
        logger.propagate = True


def test_secrets_emails_and_phone_numbers_never_reach_a_log_line(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("charging with %s for %s", STRIPE_KEY, "ada.lovelace+jobs@example.com")
    logger.warning("texting +1 415 555 0100 and +14155550199; signing with %s", JWT_SECRET)
    try:
        raise ValueError("db refused tempwork:db-password-123 for bob@example.org")
    except ValueError:
        logger.exception("the provider said no")
    text = stream.getvalue()
    for leaked in (
        STRIPE_KEY,
        JWT_SECRET,
        "db-password-123",
        "ada.lovelace",
        "bob@example.org",
        "555 0100",
        "4155550199",
    ):
        assert leaked not in text
    first, second, third = lines(stream)
    assert first["message"] == f"charging with {REDACTED} for {REDACTED}"
    assert second["message"] == f"texting {REDACTED} and {REDACTED}; signing with {REDACTED}"
    assert third["level"] == "ERROR" and "ValueError" in third["exception"]
    assert set(first) >= {"time", "level", "logger", "message"}


def test_ids_amounts_and_times_are_not_mistaken_for_phone_numbers() -> None:
    scrub = Redact().scrub
    line = (
        "contract 01a23708-46cd-7458-be92-8479f232a320 charged 120000 cents at 2026-12-02 13:38:33"
    )
    assert scrub(line) == line


def test_text_format_carries_the_same_context() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tempwork.test.text")
    logger.addHandler(handler(settings(log_format="text"), stream))
    logger.propagate = False
    try:
        logger.warning(
            "mail to x@example.com failed",
            extra={"temporal_workflow": {"workflow_id": "contract-1", "run_id": "r1"}},
        )
    finally:
        logger.handlers.clear()
        logger.propagate = True
    assert (
        stream.getvalue()
        .rstrip()
        .endswith(f"mail to {REDACTED} failed [workflow_id=contract-1 run_id=r1]")
    )


async def test_api_and_worker_lines_carry_request_workflow_and_run_ids(
    observed: Observed, infra: Infra
) -> None:
    """The app's own setup (configure_logging, as api/main.py and workers/main.py call it):
    a request leaves lines with its id and, from the workflow it starts and its activities,
    the workflow's id and run id — and none with the person's email address."""
    stream = io.StringIO()
    configure_logging(observed.settings)
    root = logging.getLogger()
    ours = next(h for h in root.handlers if getattr(h, "_tempwork", False))
    assert isinstance(ours, logging.StreamHandler)
    previous = ours.setStream(stream)
    try:
        async with observed.http(infra) as http:
            client = await sign_up(http, "client")
            logging.getLogger("tempwork.test").info("signed up %s", client.email)
            # Asking for an email code starts the person's Verification workflow, whose
            # activity sends (and logs) the email.
            asked = await client.post("/v1/verifications/email")
            assert asked.status_code == 200, asked.text
            workflow_id = f"verification-{client.id}"
            await eventually(
                lambda: _async(lines(stream)),
                lambda found: any(
                    e.get("workflow_id") == workflow_id and e.get("activity_type") for e in found
                ),
            )
    finally:
        ours.setStream(previous)
    found = lines(stream)
    text = stream.getvalue()
    assert client.email not in text
    assert any(e["message"] == f"signed up {REDACTED}" for e in found)
    from_workflow = [e for e in found if e.get("workflow_id") == workflow_id]
    assert from_workflow and all(e["run_id"] for e in from_workflow)
    assert any(e.get("activity_type") for e in from_workflow)
    # Tracing is on here: an activity's lines name the trace its RunActivity span is in.
    assert all(len(e["trace_id"]) == 32 for e in from_workflow if e.get("activity_type")), (
        from_workflow
    )


async def _async(value: Any) -> Any:
    return value


async def test_a_requests_lines_carry_its_request_id(infra: Infra) -> None:
    """Whatever logs while a request is handled (here a route that logs, added to the real
    app) writes the request's id — the caller's X-Request-Id, or one the API made up and
    answered with."""
    from fastapi import FastAPI

    from api.main import create_app
    from sandbox.testing import serve_asgi

    app: FastAPI = create_app(infra.settings)

    @app.get("/_test/log")
    async def log_something() -> dict[str, str]:
        logging.getLogger("tempwork.api.test").warning("looking up ada@example.com")
        return {}

    stream = io.StringIO()
    ours = next(h for h in logging.getLogger().handlers if getattr(h, "_tempwork", False))
    assert isinstance(ours, logging.StreamHandler)
    previous = ours.setStream(stream)
    try:
        async with serve_asgi(app) as url, httpx.AsyncClient(base_url=url) as http:
            given = await http.get("/_test/log", headers={"X-Request-Id": "req-from-the-edge"})
            made_up = await http.get("/_test/log")
    finally:
        ours.setStream(previous)
    ids = [e.get("request_id") for e in lines(stream) if e["logger"] == "tempwork.api.test"]
    assert ids == ["req-from-the-edge", made_up.headers["x-request-id"]]
    assert given.headers["x-request-id"] == "req-from-the-edge"
    assert "ada@example.com" not in stream.getvalue()


def test_an_access_log_turned_off_stays_off() -> None:
    """`uvicorn --no-access-log` (make dev, the image) saves a line per request; taking over
    uvicorn's loggers must not turn it back on."""
    access = logging.getLogger("uvicorn.access")
    before = (list(access.handlers), access.propagate)
    access.handlers, access.propagate = [], False  # what --no-access-log leaves
    try:
        configure_logging(settings())
        assert access.propagate is False and not access.handlers
        access.addHandler(logging.NullHandler())  # an access log that is on
        configure_logging(settings())
        assert access.propagate is True and not access.handlers
    finally:
        access.handlers, access.propagate = before
