"""Ops read request counts and latencies from /metrics, labelled by route template (not the
concrete path, so the label set stays bounded) and by the status the client really got —
including answers the middleware in front of the routes gives (413) and routes that fail."""

from __future__ import annotations

import re
import uuid

from tests.api.helpers import app_with
from tests.conftest import Infra


def sample(metrics: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in metrics.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


async def test_requests_are_counted_by_route_template_and_real_status(infra: Infra) -> None:
    async with app_with(infra, max_request_body_bytes=1024) as http:
        counted = {"method": "GET", "route": "/v1/jobs/{job_id}", "status": "404"}
        too_big = {"method": "POST", "route": "unmatched", "status": "413"}
        before = (await http.get("/metrics")).text

        for _ in range(3):
            assert (await http.get(f"/v1/jobs/{uuid.uuid4()}")).status_code == 404
        assert (await http.post("/v1/jobs", content=b"x" * 2048)).status_code == 413

        after = (await http.get("/metrics")).text
    total = "tempwork_http_requests_total"
    assert sample(after, total, **counted) - sample(before, total, **counted) == 3
    assert sample(after, total, **too_big) - sample(before, total, **too_big) == 1
    # Not one series per job id.
    assert not re.search(r'route="/v1/jobs/[0-9a-f]{8}-', after)
    latency = {"method": "GET", "route": "/v1/jobs/{job_id}"}
    assert (
        sample(after, "tempwork_http_request_seconds_count", **latency)
        - sample(before, "tempwork_http_request_seconds_count", **latency)
        == 3
    )
