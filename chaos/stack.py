"""The stack a chaos run owns: the processes ``make dev`` runs, on free 127.0.0.1 ports with a
throwaway data directory, plus the means to hurt them — SIGKILL the worker, restart Temporal
(its SQLite file keeps every workflow) and restart PostgreSQL. Only processes started here are
ever signalled, by the PID we hold.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devstack.postgres import EmbeddedPostgres
from devstack.processes import ManagedProcess
from devstack.stack import HOST, ROOT, Ports, Stack, new_secrets
from devstack.temporal import temporal_dev_server

# Provider calls give up after 3 s (production: 20 s), so the sandbox's late answers
# (`late_answer_ms` below) become real client-side timeouts whose work was nonetheless done.
CHAOS_ENV = {
    "TEMPWORK_STRIPE_TIMEOUT_SECONDS": "3",
    "TEMPWORK_SENDGRID_TIMEOUT_SECONDS": "3",
    "TEMPWORK_TWILIO_TIMEOUT_SECONDS": "3",
    "TEMPWORK_CHECKS_TIMEOUT_SECONDS": "3",
    # Every provider's webhooks come from the one sandbox on 127.0.0.1 here (in production
    # from many addresses): ~50 per lifecycle would trip the per-address limit meant for abuse.
    "TEMPWORK_WEBHOOKS_PER_ADDRESS": "1000000/1m",
}


# What workers/main.py logs once it polls its task queue.
WORKER_POLLING = b"worker polling task queue"


class ChaosStack:
    def __init__(self, data_dir: Path) -> None:
        # Not "durable": PostgreSQL skips fsync (a process restart loses nothing without it;
        # only an OS crash would), the sandbox keeps its state in memory (it is never
        # restarted). Temporal does get its SQLite file: it is restarted mid-run.
        self.stack = Stack(
            data_dir, Ports.free(), new_secrets(), durable=False, extra_env=CHAOS_ENV
        )
        self.logs = data_dir / "logs"
        self.worker_kills = 0
        self._workers_started = 0
        self.temporal_restarts = 0
        self.postgres_restarts = 0

    @property
    def data_dir(self) -> Path:
        return self.stack.data_dir

    def start(self) -> None:
        s = self.stack
        s.data_dir.mkdir(parents=True, exist_ok=True)
        s.postgres = EmbeddedPostgres(
            s.data_dir / "postgres", s.ports.postgres, HOST, durable=False
        ).start()
        s.migrate()
        self._run(self._temporal())
        self._run(s.sandbox_process(self.logs))
        self._use_worker(self._new_worker())
        self._run(s.api_process(self.logs, s.ports.api))

    def _temporal(self) -> ManagedProcess:
        return temporal_dev_server(
            self.logs,
            port=self.stack.ports.temporal,
            ui_port=None,
            host=HOST,
            db_file=self.data_dir / "temporal.db",
        )

    def _run(self, process: ManagedProcess) -> None:
        self.stack.processes[process.name] = process.start(timeout=90)

    def kill_worker(self) -> None:
        """SIGKILL, like a machine losing power: no graceful shutdown, activities and cached
        workflows abandoned mid-flight. A standby worker (started after the previous kill,
        as a second replica would be in production) takes over and a new standby starts:
        on 2 busy cores a worker needs 5-15 s just to import and connect, so without one a
        kill every 15 s would mostly measure having no worker at all."""
        standby = self.stack.processes.pop("worker-standby", None)
        if standby is None or not standby.running():
            standby = self._new_worker()
        assert standby.ready is not None
        standby.wait_ready(timeout=90)
        self.stack.processes.pop("worker").kill()
        self.worker_kills += 1
        self.stack.processes["worker"] = standby
        self.stack.processes["worker-standby"] = self._new_worker()

    def ensure_worker(self) -> None:
        """After the run: one worker is enough (the standby, if any, keeps running)."""
        if not self.stack.processes["worker"].running():
            self._use_worker(self._new_worker())

    def _use_worker(self, worker: ManagedProcess) -> None:
        assert worker.ready is not None
        worker.wait_ready(timeout=90)
        self.stack.processes["worker"] = worker

    def _new_worker(self) -> ManagedProcess:
        """A worker process started now, each with its own log; ``ready`` once it polls."""
        self._workers_started += 1
        worker = self.stack.worker_process(self.logs)
        worker.log_path = log = self.logs / f"worker-{self._workers_started}.log"
        worker.start()  # no readiness wait here: callers wait when they need it
        worker.ready = lambda: log.exists() and WORKER_POLLING in log.read_bytes()
        return worker

    def restart_temporal(self) -> None:
        self.stack.processes["temporal"].stop()
        self._run(self._temporal())
        self.temporal_restarts += 1

    def restart_postgres(self) -> None:
        assert self.stack.postgres is not None
        self.stack.postgres.stop()
        self.stack.postgres.start()
        self.postgres_restarts += 1

    def ops(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The ops CLI exactly as an operator runs it, with the stack's settings."""
        return subprocess.run(  # noqa: S603 (our own CLI, argv built here)
            [sys.executable, "-m", "ops", *args],
            cwd=ROOT,
            env={**os.environ, **self.stack.env(), **(env or {})},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def stop(self) -> None:
        self.stack.stop()
