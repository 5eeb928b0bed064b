"""Two API processes, one limit: a guesser alternating between them is stopped as soon as
one process would have stopped them (the count is in PostgreSQL, not in either process)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devstack.processes import free_port
from devstack.stack import Stack
from tests.conftest import ApiClient, problem, sign_up


@pytest.fixture
def second_api(stack: Stack) -> Iterator[str]:
    port = free_port()
    process = stack.api_process(stack.data_dir / "logs", port, name="api-2").start(timeout=90)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


async def test_forty_wrong_passwords_alternating_between_two_api_processes_hit_429(
    api: ApiClient, second_api: str
) -> None:
    person = await sign_up(api, "client")
    async with httpx.AsyncClient(base_url=second_api, timeout=30) as other_process:
        codes = []
        for attempt in range(40):
            via = api if attempt % 2 == 0 else other_process
            answer = await via.post(
                "/v1/auth/token", data={"username": person.email, "password": f"wrong-{attempt}"}
            )
            codes.append(answer.status_code)
            if answer.status_code == 429:
                body = problem(answer, 429)
                assert int(answer.headers["retry-after"]) == body["retry_after_seconds"] >= 1
                break
    # The default limit (10 failures per 15 minutes per account) counted both processes.
    assert codes == [401] * 10 + [429], codes
