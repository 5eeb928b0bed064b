"""The real worker process (``python -m workers.main``, as `make dev` and the image run it):
its health port answers, its /metrics carries the SDK's and the business metrics, and its log
file is JSON lines with the workflow's id and run id and no email address."""

from __future__ import annotations

import json
from typing import Any

import httpx

from devstack.stack import Stack
from tests.conftest import ApiClient, eventually, sign_up


async def worker_answers(url: str) -> int:
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            return (await http.get(url)).status_code
    except httpx.HTTPError:
        return 0


def json_lines(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


async def test_the_worker_process_serves_health_metrics_and_json_logs(
    stack: Stack, api: ApiClient
) -> None:
    assert stack.worker_health_url is not None
    ready = f"{stack.worker_health_url}/health/ready"
    await eventually(lambda: worker_answers(ready), lambda status: status == 200, timeout=90)

    person = await sign_up(api, "client")
    # Starts the person's Verification workflow; its activity sends (and logs) the email.
    asked = await person.post("/v1/verifications/email")
    assert asked.status_code == 200, asked.text
    workflow_id = f"verification-{person.id}"
    log = stack.data_dir / "logs" / "worker.log"

    async def worker_lines() -> list[dict[str, Any]]:
        return json_lines(log.read_text(errors="replace"))

    lines = await eventually(
        worker_lines, lambda found: any(e.get("workflow_id") == workflow_id for e in found)
    )
    ours = [e for e in lines if e.get("workflow_id") == workflow_id]
    assert all(e["run_id"] and e["level"] and e["time"] and e["logger"] for e in ours)
    assert any(e.get("activity_type") for e in ours)
    for name in ("worker.log", "api.log"):
        assert person.email not in (stack.data_dir / "logs" / name).read_text(errors="replace")

    async with httpx.AsyncClient(timeout=10) as http:
        page = (await http.get(f"{stack.worker_health_url}/metrics")).text
    for expected in (
        "tempwork_worker_sdk_metrics_up 1.0",
        "tempwork_business_metrics_up 1.0",
        'temporal_activity_execution_latency_count{activity_type="email.send_verification_code"',
        "tempwork_verification_steps{",
    ):
        assert expected in page, expected
