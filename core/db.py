"""The async SQLAlchemy engine (one per process). Queries use SQLAlchemy Core on the table
handles in ``models.tables``: explicit SQL, no hidden lazy loads."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

if TYPE_CHECKING:  # settings import core.rate_limits, which imports this module
    from core.settings import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        # No ping before each checkout: it was one more round trip on every request. After a
        # PostgreSQL restart the first statement on a stale connection fails instead (503
        # database-unavailable with Retry-After; a local activity retries), and SQLAlchemy
        # then replaces every pooled connection older than the failure.
        pool_pre_ping=settings.database_pool_pre_ping,
        connect_args={} if settings.database_prepared_statements else {"prepare_threshold": None},
    )


def create_search_engine(settings: Settings) -> AsyncEngine:
    """Search's own pool: statements planned with their own words (never prepared), in
    autocommit (reads only), cancelled by PostgreSQL past the search timeout."""
    return create_async_engine(
        settings.database_url,
        pool_size=settings.search_pool_size,
        max_overflow=settings.search_pool_size,
        isolation_level="AUTOCOMMIT",
        connect_args={
            "prepare_threshold": None,
            "options": f"-c statement_timeout={settings.search_statement_timeout_ms}",
        },
    )


_AUTOCOMMIT: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()


def autocommit(engine: AsyncEngine) -> AsyncConnection:
    """A pooled connection in autocommit (``async with autocommit(engine) as conn``) for
    reads and single-statement writes: psycopg then sends no BEGIN before the statement and
    the pool no ROLLBACK when the connection comes back — two round trips of the three a
    one-statement read or upsert took. Each statement commits by itself, so several writes
    that must land together use ``engine.begin()``."""
    view = _AUTOCOMMIT.get(engine)
    if view is None:
        view = _AUTOCOMMIT[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return view.connect()


# SQLSTATEs a retry cannot fix: the same row will be refused the same way every time.
# Class 22 (data exception: U+0000 in text, a number out of range, a bad date…) and the
# integrity kinds that do not depend on another write landing first. A foreign-key violation
# (23503) is left retryable: a projection may simply have overtaken the row it points to.
_FINAL_INTEGRITY = {
    "23502": "a required value is missing",
    "23505": "it duplicates a unique value",
    "23514": "it breaks a check constraint",
    "23P01": "it overlaps an existing row",
}


def unfixable_data_error(error: BaseException) -> str | None:
    """Plain words for a database error that retrying cannot fix, or None when it might be
    transient (connection loss, serialization failure, a row not there yet)."""
    sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None) or getattr(
        error, "sqlstate", None
    )
    if not isinstance(sqlstate, str):
        return None
    if sqlstate.startswith("22"):
        return f"PostgreSQL refused a value in it (SQLSTATE {sqlstate})"
    if sqlstate in _FINAL_INTEGRITY:
        return f"{_FINAL_INTEGRITY[sqlstate]} (SQLSTATE {sqlstate})"
    return None
