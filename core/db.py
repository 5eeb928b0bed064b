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
