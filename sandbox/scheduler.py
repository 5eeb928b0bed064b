"""Delayed sandbox-side happenings, shared by every provider sandbox (a chargeback arriving,
a dispute being decided, a background-check report finishing, an invitation expiring).

Jobs are stored with their due time in the provider's own store, so a restart of the sandbox
(with a data file) still delivers the chargeback that a `pm_card_createDispute` payment
promised, or the report a completed invitation is waiting for.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable

from .store import JSON, ObjectStore

log = logging.getLogger(__name__)

JOB = "_job"
JobHandler = Callable[[JSON], None]


class Scheduler:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._handlers: dict[str, JobHandler] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._running = False

    def register(self, kind: str, handler: JobHandler) -> None:
        self._handlers[kind] = handler

    def schedule(self, kind: str, payload: JSON, delay_seconds: float) -> None:
        job: JSON = {
            "id": f"job_{secrets.token_hex(12)}",
            "kind": kind,
            "payload": payload,
            "due_at": time.time() + delay_seconds,
        }
        self.store.insert(JOB, job)
        if self._running:
            self._arm(job)

    def start(self) -> None:
        self._running = True
        for job in self.store.all(JOB):
            self._arm(job)

    def stop(self) -> None:
        self._running = False
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def reset(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _arm(self, job: JSON) -> None:
        delay = max(0.0, float(job["due_at"]) - time.time())
        loop = asyncio.get_running_loop()
        self._timers[job["id"]] = loop.call_later(delay, self._fire, job["id"])

    def _fire(self, job_id: str) -> None:
        self._timers.pop(job_id, None)
        job = self.store.get(JOB, job_id)
        if job is None:
            return
        handler = self._handlers.get(job["kind"])
        try:
            with self.store.db.atomic():
                self.store.delete(JOB, job_id)
                if handler is not None:
                    handler(job["payload"])
        except Exception:  # keep the loop alive; a failed job is a sandbox bug worth a log line
            log.exception("sandbox job %s (%s) failed", job_id, job["kind"])
