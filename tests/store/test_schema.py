"""The Alembic migrations and the SQLModel tables describe the same schema."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the tables)


def _columns_and_tables_only(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    # Indexes, constraint triggers and functions live in the migrations only (they are the
    # database's business); tables and columns must match exactly.
    return type_ in ("table", "column")


async def test_migrations_match_the_models(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:

            def diff(sync_conn: sa.Connection) -> list[Any]:
                context = MigrationContext.configure(
                    sync_conn,
                    opts={"include_object": _columns_and_tables_only, "compare_type": True},
                )
                return list(compare_metadata(context, SQLModel.metadata))

            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    ignorable = {"alembic_version"}
    real = [d for d in differences if not (d[0] == "remove_table" and d[1].name in ignorable)]
    assert real == [], real
