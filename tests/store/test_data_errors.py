"""Which database errors a retry can fix, decided on PostgreSQL's own answers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from core.db import unfixable_data_error


async def _error_of(database_url: str, sql: str) -> DBAPIError:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TEMP TABLE t (n int NOT NULL CHECK (n > 0))"))
            with pytest.raises(DBAPIError) as caught:
                await conn.execute(sa.text(sql))
        return caught.value
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("SELECT convert_from('\\x00'::bytea, 'UTF8')", "refused a value"),  # U+0000
        ("SELECT 2147483647::int + 1", "refused a value"),  # out of range
        ("INSERT INTO t VALUES (NULL)", "required value is missing"),
        ("INSERT INTO t VALUES (-1)", "check constraint"),
    ],
)
async def test_data_errors_are_final(database_url: str, sql: str, words: str) -> None:
    reason = unfixable_data_error(await _error_of(database_url, sql))
    assert reason is not None and words in reason


async def test_a_lock_timeout_is_worth_retrying(database_url: str) -> None:
    error = await _error_of(
        database_url,
        "DO $$ BEGIN RAISE EXCEPTION 'busy' USING ERRCODE = 'lock_not_available'; END $$",
    )
    assert unfixable_data_error(error) is None
