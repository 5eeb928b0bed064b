"""The whole marketplace on one machine: PostgreSQL, Temporal (+ Web UI), the provider
sandboxes, the worker and the API — each a real process, started in dependency order and
stopped in reverse. ``make dev`` runs it on fixed ports; the end-to-end tests on free ones.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from devstack.postgres import EmbeddedPostgres
from devstack.processes import ManagedProcess, free_port, http_ok, port_open
from devstack.temporal import temporal_dev_server
from sandbox.sendgrid.keys import new_signing_key

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Ports:
    postgres: int
    temporal: int
    temporal_ui: int | None
    sandbox: int
    api: int
    # The worker's /health/* and /metrics (workers/health.py); None: any free port.
    worker_health: int | None = None

    @classmethod
    def free(cls, *, ui: bool = False) -> Ports:
        return cls(
            free_port(),
            free_port(),
            free_port() if ui else None,
            free_port(),
            free_port(),
            free_port(),
        )


def new_secrets() -> dict[str, str]:
    """Fresh local credentials: nothing secret is ever committed or shared between machines.
    The sandboxes are started with the same values, so the app's SDKs authenticate to them
    and their webhooks verify in the app."""
    signing_key, verification_key = new_signing_key()
    return {
        "TEMPWORK_JWT_SECRET": secrets.token_urlsafe(48),
        "TEMPWORK_VERIFICATION_CODE_SECRET": secrets.token_urlsafe(48),
        "TEMPWORK_STRIPE_API_KEY": f"sk_test_{secrets.token_urlsafe(24)}",
        "TEMPWORK_STRIPE_WEBHOOK_SECRET": f"whsec_{secrets.token_urlsafe(24)}",
        "TEMPWORK_SENDGRID_API_KEY": f"SG.{secrets.token_urlsafe(16)}.{secrets.token_urlsafe(32)}",
        # The sandbox signs SendGrid events with the private half (never given to the app).
        "TEMPWORK_SANDBOX_SENDGRID_SIGNING_KEY": signing_key,
        "TEMPWORK_SENDGRID_WEBHOOK_PUBLIC_KEY": verification_key,
        "TEMPWORK_TWILIO_ACCOUNT_SID": f"AC{secrets.token_hex(16)}",
        "TEMPWORK_TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        "TEMPWORK_TWILIO_VERIFY_SERVICE_SID": f"VA{secrets.token_hex(16)}",
        "TEMPWORK_CHECKS_API_KEY": f"checks_test_{secrets.token_urlsafe(24)}",
        "TEMPWORK_CHECKS_WEBHOOK_SECRET": secrets.token_urlsafe(32),
    }


# The platform's SMS sender: Twilio's magic test number (any E.164 number works locally).
DEV_TWILIO_FROM_NUMBER = "+15005550006"


@dataclass
class Stack:
    data_dir: Path
    ports: Ports
    secrets: dict[str, str]
    durable: bool = True  # keep Temporal's SQLite file and fsync Postgres (make dev)
    extra_env: dict[str, str] = field(default_factory=dict)
    postgres: EmbeddedPostgres | None = field(default=None, init=False)
    processes: dict[str, ManagedProcess] = field(default_factory=dict, init=False)

    # --- addresses ------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.ports.api}"

    @property
    def sandbox_url(self) -> str:
        return f"http://{HOST}:{self.ports.sandbox}"

    @property
    def temporal_address(self) -> str:
        return f"{HOST}:{self.ports.temporal}"

    @property
    def temporal_ui_url(self) -> str | None:
        return f"http://{HOST}:{self.ports.temporal_ui}" if self.ports.temporal_ui else None

    @property
    def worker_health_url(self) -> str | None:
        """The first worker's endpoint (more workers on one machine get free ports)."""
        return f"http://{HOST}:{self.ports.worker_health}" if self.ports.worker_health else None

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg://tempwork@{HOST}:{self.ports.postgres}/tempwork"

    def env(self) -> dict[str, str]:
        """The settings every app process gets: the same TEMPWORK_* variables as production."""
        app_secrets = {
            k: v for k, v in self.secrets.items() if not k.startswith("TEMPWORK_SANDBOX_")
        }
        return {
            **app_secrets,
            "TEMPWORK_DATABASE_URL": self.database_url,
            "TEMPWORK_TEMPORAL_ADDRESS": self.temporal_address,
            "TEMPWORK_TEMPORAL_UI_URL": self.temporal_ui_url or "",
            "TEMPWORK_STRIPE_API_BASE": f"{self.sandbox_url}/stripe",
            "TEMPWORK_SENDGRID_API_BASE": f"{self.sandbox_url}/sendgrid",
            "TEMPWORK_TWILIO_API_BASE": f"{self.sandbox_url}/twilio",
            "TEMPWORK_CHECKS_API_BASE": f"{self.sandbox_url}/checks",
            "TEMPWORK_TWILIO_FROM_NUMBER": DEV_TWILIO_FROM_NUMBER,
            # The sandbox's Email Activity feed is instant; SendGrid's lags by minutes.
            "TEMPWORK_SENDGRID_ACTIVITY_FEED_LAG": "PT0S",
            "TEMPWORK_API_PUBLIC_URL": self.api_url,
            # Everyone using a local stack (demo, bench, chaos) comes from 127.0.0.1.
            "TEMPWORK_REGISTRATIONS_PER_ADDRESS": "100000/1h",
            "TEMPWORK_LOGIN_FAILURES_PER_ADDRESS": "100000/1h",
            **self.extra_env,
        }

    # --- lifecycle ------------------------------------------------------------------------

    def check_ports_free(self) -> None:
        taken = [
            f"{name} ({port})"
            for name, port in vars(self.ports).items()
            if port and port_open(HOST, port)
        ]
        if taken:
            raise SystemExit(
                f"ports already in use: {', '.join(taken)} — is `make dev` already running? "
                "Stop it, or move ports with TEMPWORK_DEV_*_PORT."
            )

    def start(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        logs = self.data_dir / "logs"
        self.postgres = EmbeddedPostgres(
            self.data_dir / "postgres", self.ports.postgres, HOST, durable=self.durable
        ).start()
        self.migrate()
        self._add(
            temporal_dev_server(
                logs,
                port=self.ports.temporal,
                ui_port=self.ports.temporal_ui,
                host=HOST,
                db_file=self.data_dir / "temporal.db" if self.durable else None,
            )
        )
        self._add(self.sandbox_process(logs))
        self._add(self.worker_process(logs))
        self._add(self.api_process(logs, self.ports.api))

    def api_process(
        self, logs: Path, port: int, name: str = "api", env: dict[str, str] | None = None
    ) -> ManagedProcess:
        """An API process on ``port``; more than one may serve the same stack. ``env``
        overrides settings for this process only (make bench: another database driver)."""
        return ManagedProcess(
            name,
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.main:app",
                "--host",
                HOST,
                "--port",
                str(port),
                "--no-access-log",
                # The C parser and event loop (uvicorn picks them when installed; explicit so a
                # missing wheel fails loudly instead of silently falling back to h11/asyncio).
                "--loop",
                "uvloop",
                "--http",
                "httptools",
            ],
            log_path=logs / f"{name}.log",
            env={**self.env(), **(env or {})},
            cwd=ROOT,
            ready=lambda: http_ok(f"http://{HOST}:{port}/health/ready"),
        )

    def create_schedules(self) -> None:
        """The daily reconciliation schedule, via the same command ops runs in production."""
        done = subprocess.run(
            [sys.executable, "-m", "ops", "schedule-reconciliation"],
            cwd=ROOT,
            env={**os.environ, **self.env()},
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"creating schedules failed:\n{done.stderr[-3000:]}")

    def migrate(self) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=ROOT,
            env={**os.environ, **self.env()},
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"migrations failed:\n{done.stderr[-3000:]}")

    def sandbox_process(self, logs: Path) -> ManagedProcess:
        argv = [
            sys.executable,
            "-m",
            "sandbox",
            "--host",
            HOST,
            "--port",
            str(self.ports.sandbox),
            "--public-url",
            self.sandbox_url,
            "--stripe-webhook-url",
            f"{self.api_url}/webhooks/stripe",
            "--twilio-webhook-url",
            f"{self.api_url}/webhooks/twilio",
            "--twilio-phone-number",
            DEV_TWILIO_FROM_NUMBER,
            "--sendgrid-webhook-url",
            f"{self.api_url}/webhooks/sendgrid",
            "--checks-webhook-url",
            f"{self.api_url}/webhooks/checks",
        ]
        if self.durable:
            argv += ["--data-file", str(self.data_dir / "sandbox.sqlite3")]
        return ManagedProcess(
            "sandbox",
            argv,
            log_path=logs / "sandbox.log",
            # Secrets travel in the environment, never on a command line others can read.
            env=self.sandbox_env(),
            cwd=ROOT,
            ready=lambda: http_ok(f"{self.sandbox_url}/health"),
        )

    def sandbox_env(self) -> dict[str, str]:
        """The sandboxes accept the app's credentials and sign webhooks the app verifies."""
        shared = (
            "STRIPE_API_KEY",
            "STRIPE_WEBHOOK_SECRET",
            "SENDGRID_API_KEY",
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_VERIFY_SERVICE_SID",
            "CHECKS_API_KEY",
            "CHECKS_WEBHOOK_SECRET",
        )
        env = {f"TEMPWORK_SANDBOX_{name}": self.secrets[f"TEMPWORK_{name}"] for name in shared}
        env["TEMPWORK_SANDBOX_SENDGRID_SIGNING_KEY"] = self.secrets[
            "TEMPWORK_SANDBOX_SENDGRID_SIGNING_KEY"
        ]
        return env

    def worker_process(self, logs: Path, name: str = "worker") -> ManagedProcess:
        """A worker process; more than one may poll the same task queue (make bench, the
        chaos standby). The first takes the stack's health port; one started while that is
        taken gets a free port instead (it says which in its log)."""
        port = self.ports.worker_health
        if port is None or port_open(HOST, port):
            port = 0
        return ManagedProcess(
            name,
            [sys.executable, "-m", "workers.main"],
            log_path=logs / f"{name}.log",
            env={**self.env(), "TEMPWORK_WORKER_HEALTH_PORT": str(port)},
            cwd=ROOT,
            ready=None,
        )

    def restart_worker(self) -> ManagedProcess:
        """Crash tests: start a fresh worker after killing the old one."""
        worker = self.worker_process(self.data_dir / "logs")
        self.processes["worker"] = worker.start()
        return worker

    def _add(self, process: ManagedProcess) -> None:
        self.processes[process.name] = process.start(timeout=90)

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
        self.processes.clear()
        if self.postgres:
            self.postgres.stop()
            self.postgres = None

    def dead(self) -> list[ManagedProcess]:
        return [p for p in self.processes.values() if not p.running()]
