"""How Temporal's answers become problem+json statuses (no server needed)."""

from __future__ import annotations

import pytest
from temporalio.service import RPCError, RPCStatusCode

from api.errors import TempworkError, workflow_errors


@pytest.mark.parametrize(
    ("status", "message", "slug"),
    [
        (RPCStatusCode.UNAVAILABLE, "connection refused", "temporal-unavailable"),
        # What a call in flight gets while the Temporal server restarts (seen in make chaos).
        (RPCStatusCode.UNKNOWN, "transport error", "temporal-unavailable"),
        (RPCStatusCode.UNKNOWN, "something else", "internal"),
        (RPCStatusCode.NOT_FOUND, "workflow not found", "not-found"),
    ],
)
async def test_temporal_rpc_errors_map_to_problems(
    status: RPCStatusCode, message: str, slug: str
) -> None:
    with pytest.raises(TempworkError) as raised:
        async with workflow_errors("job"):
            raise RPCError(message, status, b"")
    assert raised.value.slug == slug
