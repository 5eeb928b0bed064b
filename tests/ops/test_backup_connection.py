"""How ops.backup hands the services' database URL to pg_dump and pg_restore."""

from __future__ import annotations

from ops.backup import _without_rows, libpq_args


def test_the_password_travels_in_the_environment_never_on_the_command_line() -> None:
    args, env = libpq_args(
        "postgresql+asyncpg://tempwork:s3cr%40t@db.internal:5433/tempwork?ssl=require"
    )
    assert args == [
        "--dbname=tempwork",
        "--host=db.internal",
        "--port=5433",
        "--username=tempwork",
    ]
    assert not any("s3cr" in a for a in args)
    assert env["PGPASSWORD"] == "s3cr@t"  # URL-decoded
    assert env["PGSSLMODE"] == "require"  # asyncpg's ?ssl= is libpq's sslmode


def test_a_url_without_password_sets_none() -> None:
    args, env = libpq_args("postgresql+psycopg://tempwork@127.0.0.1:55432/tempwork")
    assert "--host=127.0.0.1" in args and "PGPASSWORD" not in env and "PGSSLMODE" not in env


def test_a_failed_restore_names_what_failed_but_no_ones_data() -> None:
    stderr = (
        'pg_restore: error: COPY failed for table "users": ERROR:  duplicate key value\n'
        "DETAIL:  Key (lower(email))=(ann@example.com) already exists.\n"
        'CONTEXT:  COPY users, line 3: "5f0c…\tann@example.com\t$argon2id$v=19$…"\n'
        "DETAIL:  Failing row contains (ann@example.com, 5).\n"
    )
    said = _without_rows(stderr)
    assert "ann@example.com" not in said and "argon2" not in said
    assert 'COPY failed for table "users"' in said and "COPY users, line 3" in said
