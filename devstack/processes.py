"""Child processes that the dev stack and the tests start, and always stop again.

Each process runs in its own session so a terminal's Ctrl-C reaches only ``make dev``, which
then stops the children in reverse order. Children are stopped by the PID we started, never
by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False


class ProcessFailed(RuntimeError):
    pass


@dataclass
class ManagedProcess:
    name: str
    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] | None = None
    user: str | None = None
    cwd: Path | None = None
    ready: Callable[[], bool] | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 60.0) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(  # noqa: S603 (argv built by us, no shell)
            list(self.argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(self.env or {})},
            cwd=self.cwd,
            user=self.user,
            start_new_session=True,
        )
        log.close()
        if self.ready is not None:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        assert self._proc is not None and self.ready is not None
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self._proc.poll() is not None:
                raise ProcessFailed(
                    f"{self.name} exited with {self._proc.returncode}; {self.tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ProcessFailed(f"{self.name} not ready after {timeout:.0f}s; {self.tail()}")
            time.sleep(0.1)

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> None:
        """Stops the process group we started (the process and any children it spawned)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(5)

    def kill(self) -> None:
        """Dies at once, like a crashed machine (used by crash tests)."""
        self.stop(timeout=5, sig=signal.SIGKILL)

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "(no log)"
        return f"last log lines of {self.log_path}:\n" + "\n".join(text)
