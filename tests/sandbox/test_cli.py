"""`python -m sandbox` starts, says so on one line, and answers /health."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from sandbox.testing import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_cli_serves_until_stopped() -> None:
    port = free_port()
    env = {
        **os.environ,
        "TEMPWORK_SANDBOX_STRIPE_API_KEY": "sk_test_cli_0000",
        "TEMPWORK_SANDBOX_STRIPE_WEBHOOK_SECRET": "whsec_cli",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert ready.startswith(f"sandbox ready at http://127.0.0.1:{port}")
        assert "sk_test_cli_0000" not in ready and "whsec_cli" not in ready
        health = httpx.get(f"http://127.0.0.1:{port}/health")
        assert health.json() == {"status": "ok", "providers": ["stripe"]}
        denied = httpx.get(f"http://127.0.0.1:{port}/stripe/v1/charges")
        assert denied.status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)
