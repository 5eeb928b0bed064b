"""The async SQLAlchemy engine (one per process). Queries use SQLAlchemy Core on the table
handles in ``models.tables``: explicit SQL, no hidden lazy loads."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core.settings import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        pool_pre_ping=True,
    )


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
