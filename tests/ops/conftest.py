"""The ``ops`` CLI run as the on-call engineer runs it: ``python -m ops …`` in its own
process, configured by the TEMPWORK_* environment, against the session's dev server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import ROOT, placeholder_settings_env


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Ops = Callable[..., Awaitable[Ran]]


@pytest.fixture
def ops(temporal_env: WorkflowEnvironment) -> Ops:
    env = {
        **os.environ,
        **placeholder_settings_env(),
        "TEMPWORK_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "TEMPWORK_TEMPORAL_NAMESPACE": temporal_env.client.namespace,
        "PYTHONPATH": str(ROOT),
    }

    async def run(*args: str, stdin: str = "") -> Ran:
        # Asynchronously: the test's worker shares this event loop and must keep polling.
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ops",
            *args,
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=120)
        assert process.returncode is not None
        return Ran(process.returncode, out.decode(), err.decode())

    return run


@pytest.fixture
def queue() -> str:
    """A task queue of the test's own: `TaskQueue = "…"` scopes every query to this test."""
    return f"ops-drill-{uuid.uuid4().hex[:8]}"
