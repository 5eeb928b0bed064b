"""``Idempotency-Key`` for POSTs that create things or move money.

The first request with a key runs and its answer (2xx or 4xx) is stored; the same key with
the same request replays that answer (``Idempotent-Replayed: true``) without doing anything
again; the same key with a different request is a 422; a key whose first request is still
running is a 409 with ``Retry-After``. 5xx answers are not stored, so the client can retry.
Keys are scoped to the user. Behind this, every workflow command is itself idempotent, so a
request abandoned mid-flight (API crash) can safely run again after ``STALE_AFTER``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from api.errors import PROBLEM_JSON, TempworkError, problem
from models.tables import IDEMPOTENCY_KEYS

STALE_AFTER = timedelta(minutes=2)
_NAMESPACE = uuid.UUID("7f6c2d0e-3b7a-4b8e-9a51-3c1d2e4f5a60")


def derived_id(user_id: uuid.UUID, key: str | None, purpose: str) -> uuid.UUID:
    """A resource id fixed by the idempotency key, so even a re-run creates the same thing."""
    return uuid.uuid5(_NAMESPACE, f"{user_id}:{purpose}:{key}") if key else uuid.uuid4()


def fingerprint(request: Request, body: BaseModel | None) -> str:
    payload = body.model_dump(mode="json") if body is not None else None
    raw = json.dumps([request.method, request.url.path, payload], sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


async def run_once(
    engine: AsyncEngine,
    request: Request,
    user_id: uuid.UUID,
    key: str | None,
    body: BaseModel | None,
    status_code: int,
    produce: Callable[[], Awaitable[BaseModel]],
) -> JSONResponse:
    if key is None:
        return JSONResponse((await produce()).model_dump(mode="json"), status_code)

    request_print = fingerprint(request, body)
    where = (IDEMPOTENCY_KEYS.c.user_id == user_id) & (IDEMPOTENCY_KEYS.c.key == key)
    async with engine.begin() as conn:
        claimed = (
            await conn.execute(
                insert(IDEMPOTENCY_KEYS)
                .values(user_id=user_id, key=key, request_fingerprint=request_print)
                .on_conflict_do_nothing()
                .returning(IDEMPOTENCY_KEYS.c.key)
            )
        ).first()
        if claimed is None:
            row = (
                (await conn.execute(sa.select(IDEMPOTENCY_KEYS).where(where).with_for_update()))
                .mappings()
                .one()
            )
            if row["request_fingerprint"] != request_print:
                raise TempworkError(
                    "idempotency-key-reused",
                    "this Idempotency-Key was used for a different request",
                )
            if row["status_code"] is not None:
                return _replay(row["status_code"], row["response_body"])
            if datetime.now(UTC) - row["created_at"] < STALE_AFTER:
                raise TempworkError("idempotency-key-in-use")
            await conn.execute(
                sa.update(IDEMPOTENCY_KEYS).where(where).values(created_at=sa.func.now())
            )

    try:
        result = await produce()
    except TempworkError as err:
        if err.status >= 500:
            await _forget(engine, where)
        else:
            response = problem(err.slug, err.detail, request.url.path, **err.extra)
            await _remember(engine, where, response.status_code, json.loads(bytes(response.body)))
        raise
    except BaseException:
        await _forget(engine, where)
        raise
    body_json: Any = result.model_dump(mode="json")
    await _remember(engine, where, status_code, body_json)
    return JSONResponse(body_json, status_code)


def _replay(status_code: int, body: Any) -> JSONResponse:
    media = PROBLEM_JSON if status_code >= 400 else "application/json"
    return JSONResponse(
        body, status_code, headers={"Idempotent-Replayed": "true"}, media_type=media
    )


async def _remember(engine: AsyncEngine, where: Any, status_code: int, body: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(IDEMPOTENCY_KEYS)
            .where(where)
            .values(status_code=status_code, response_body=body)
        )


async def _forget(engine: AsyncEngine, where: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.delete(IDEMPOTENCY_KEYS).where(where))
