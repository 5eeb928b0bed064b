"""Rate limits shared by every API process: the state lives in PostgreSQL, which every
process already talks to, so a guesser gains nothing by spreading requests over processes
(no in-process counters anywhere).

Each limit is a GCRA bucket ("generic cell rate algorithm", the token bucket written as one
timestamp): a key's row holds its *theoretical arrival time* ``tat``. One request costs
``period / count``; it is allowed while ``tat`` stays within ``period`` of now, so up to
``count`` requests pass in a burst and then one every ``period / count``. One row per key,
one UPSERT per request (taken under the row's lock, so concurrent processes agree), and the
wait is exact: ``Retry-After`` says when the next request will pass.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.db import autocommit

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Limit:
    """``count`` requests per ``period``; written "10/15m" in settings (units s, m, h, d)."""

    count: int
    period: timedelta

    @classmethod
    def parse(cls, text: str) -> Limit:
        found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)?\s*([smhd])\s*", text)
        if not found or int(found[1]) < 1:
            raise ValueError('a limit looks like "10/15m": a count, then a period (s, m, h, d)')
        seconds = int(found[2] or 1) * _UNITS[found[3]]
        return cls(int(found[1]), timedelta(seconds=seconds))

    @property
    def cost(self) -> timedelta:
        return self.period / self.count

    def __str__(self) -> str:
        return f"{self.count}/{int(self.period.total_seconds())}s"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        from_text = core_schema.no_info_plain_validator_function(
            lambda v: v if isinstance(v, Limit) else cls.parse(str(v))
        )
        return core_schema.json_or_python_schema(
            json_schema=from_text,
            python_schema=from_text,
            serialization=core_schema.to_string_ser_schema(),
        )


# Allowed: move tat one cost forward. Refused (the WHERE fails): the row is left as it is.
_TAKE = sa.text(
    """
    INSERT INTO rate_limits AS r (key, tat) VALUES (:key, now() + CAST(:cost AS interval))
    ON CONFLICT (key) DO UPDATE SET tat = greatest(r.tat, now()) + CAST(:cost AS interval)
        WHERE greatest(r.tat, now()) + CAST(:cost AS interval)
            <= now() + CAST(:period AS interval)
    RETURNING tat
    """
)
_WAIT = sa.text(
    "SELECT extract(epoch FROM greatest(tat, now()) + CAST(:cost AS interval)"
    " - CAST(:period AS interval) - now()) FROM rate_limits WHERE key = :key"
)
# Rows whose bucket is full again carry no information; dropped now and then.
_FORGET = sa.text("DELETE FROM rate_limits WHERE tat < now() - interval '1 hour'")


class RateLimits:
    # Housekeeping, not counting: every so many takes, a process drops stale rows.
    FORGET_EVERY = 1000

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._takes = 0

    async def take(self, key: str, limit: Limit) -> int | None:
        """Spends one request of ``key``'s allowance: None when allowed, else the seconds to
        wait (at least 1) before the next request will be."""
        params = {"key": key, "cost": limit.cost, "period": limit.period}
        self._takes += 1
        if self._takes % self.FORGET_EVERY == 0:
            await self.forget_expired()
        # One atomic statement spends or refuses; the wait that follows a refusal is only
        # advice, so neither needs a transaction around it.
        async with autocommit(self._engine) as conn:
            if (await conn.execute(_TAKE, params)).first() is not None:
                return None
            return await self._wait(conn, params)

    async def wait(self, key: str, limit: Limit) -> int | None:
        """Like ``take`` without spending: would one more request of ``key`` be refused?"""
        params = {"key": key, "cost": limit.cost, "period": limit.period}
        async with autocommit(self._engine) as conn:
            return await self._wait(conn, params)

    async def forget_expired(self) -> int:
        async with autocommit(self._engine) as conn:
            return (await conn.execute(_FORGET)).rowcount

    @staticmethod
    async def _wait(conn: AsyncConnection, params: dict[str, Any]) -> int | None:
        seconds = (await conn.execute(_WAIT, params)).scalar()
        if seconds is None or float(seconds) <= 0:
            return None
        return max(1, math.ceil(float(seconds)))
