"""Fuzzing from the schema: Schemathesis reads /openapi.json, generates requests for every
operation and sends them to the real app, checking that:

- nothing answers 5xx;
- every error is RFC 9457 problem+json naming its type, title and the same status
  (`tests/api/fuzz_checks.py`), as the schema documents;
- every 2xx matches the response schema documented for it.

Two phases. Boundary values (the schema's limits, just inside and just past them, wrong types,
missing fields) go once per operation, as a caller the authorization matrix lets through, so
they reach the handler instead of stopping at 401/403. Random valid and near-miss inputs go to
every operation without a token and with each role's (client, worker, support, admin).

It runs the `st` CLI against the app the session already serves (the app shares this test's
event loop, so the fuzzer must be another process), bounded by examples per operation, with a
fixed seed so `make test` is repeatable. For a deeper run, e.g.:
`TEMPWORK_FUZZ_EXAMPLES=100 TEMPWORK_FUZZ_SEED=$RANDOM pytest tests/api/test_fuzz.py`.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from pathlib import Path

from api.errors import PROBLEM_JSON
from models.common import Role
from tests.api.helpers import staff
from tests.api.test_authorization_matrix import MATRIX
from tests.conftest import ROOT, ApiClient, Infra, sandbox_settings, sign_up

ST = Path(sys.executable).parent / "st"
CHECKS = "not_a_server_error,content_type_conformance,response_schema_conformance,problem_details"
EXAMPLES = os.environ.get("TEMPWORK_FUZZ_EXAMPLES", "10")
SEED = os.environ.get("TEMPWORK_FUZZ_SEED", "20261202")


def operations() -> set[str]:
    from api.main import create_app

    spec = create_app(sandbox_settings("http://sandbox.invalid")).openapi()
    return {f"{m.upper()} {path}" for path, ops in spec["paths"].items() for m in ops}


def test_every_operation_documents_its_errors_as_problem_json() -> None:
    """What the fuzzer holds the app to: an error of any operation is documented as
    problem+json (a 422 with `errors`), never FastAPI's application/json HTTPValidationError."""
    from api.main import create_app

    spec = create_app(sandbox_settings("http://sandbox.invalid")).openapi()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status"}
    for path, ops in spec["paths"].items():
        for method, operation in ops.items():
            responses = operation["responses"]
            default = responses["default"]["content"]
            assert list(default) == [PROBLEM_JSON], f"{method} {path}"
            if "422" in responses:
                ref = responses["422"]["content"][PROBLEM_JSON]["schema"]["$ref"]
                assert ref.endswith("/ValidationProblem"), f"{method} {path}"
    # Answers that are not JSON say so.
    assert list(spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    twilio = spec["paths"]["/webhooks/twilio"]["post"]["responses"]["200"]["content"]
    assert list(twilio) == ["text/xml"]


CALLERS = ("anonymous", "client", "worker", "support", "admin")


def coverage_plan() -> dict[str, list[str]]:
    """Each operation's boundary values go once, as a caller the authorization matrix lets
    through (so they reach the handler, not the 401/403 gate); admin's code paths are
    support's (both are staff), so admin gets the random phase only."""
    plan: dict[str, list[str]] = {who: [] for who in CALLERS}
    for operation in sorted(operations()):
        rule = MATRIX[operation]
        answers = {who: getattr(rule, who) for who in CALLERS}
        allowed = [
            who
            for who, answer in answers.items()
            if (answer[0] if isinstance(answer, tuple) else answer) not in (401, 403)
        ]
        plan[allowed[0] if allowed else "anonymous"].append(operation)
    return plan


async def fuzz(
    api_url: str, token: str | None, workdir: Path, phase: str, only: list[str] | None = None
) -> tuple[int, str]:
    workdir.mkdir()
    args = [
        *("run", f"{api_url}/openapi.json", "--checks", CHECKS, "--phases", phase),
        *("--max-examples", EXAMPLES, "--seed", SEED, "--workers", "1"),
        *("--request-timeout", "30", "--generation-database", "none"),
        *("--suppress-health-check", "all", "--no-color"),
    ]
    for operation in only or []:
        args += ["--include-name", operation]
    if token:
        args += ["--header", f"Authorization: Bearer {token}"]
    process = await asyncio.create_subprocess_exec(
        ST,
        *args,
        cwd=workdir,  # its caches stay out of the repository
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.api.fuzz_checks", "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace")


def count_tested(output: str) -> int:
    found = re.search(r"Tested: (\d+)", output)
    return int(found.group(1)) if found else 0


def failures(output: str) -> str:
    """The failures section: each failing operation, the check, the answer, a curl to replay."""
    start = output.find("FAILURES")
    if start < 0:
        start = output.find("ERRORS")
    return output[max(start, 0) :][:8000]


async def test_fuzz_every_operation_without_a_token_and_as_every_role(
    http: ApiClient, infra: Infra, tmp_path: Path
) -> None:
    client, worker, support, admin = await asyncio.gather(
        sign_up(http, "client"),
        sign_up(http, "worker"),
        staff(http, infra, Role.SUPPORT),
        staff(http, infra, Role.ADMIN),
    )
    tokens = {
        "anonymous": None,
        "client": client.token,
        "worker": worker.token,
        "support": support.token,
        "admin": admin.token,
    }
    everything = sorted(operations())
    # (who, phase, operations): boundary values once per operation, random inputs as everyone.
    runs = [(who, "coverage", only) for who, only in coverage_plan().items() if only] + [
        (who, "fuzzing", everything) for who in CALLERS
    ]
    at_once = asyncio.Semaphore(3)  # the app, its worker and the fuzzers share two cores

    async def run(who: str, phase: str, only: list[str]) -> tuple[int, str]:
        async with at_once:
            workdir = tmp_path / f"{who}-{phase}"
            subset = only if only != everything else None
            return await fuzz(infra.api_url, tokens[who], workdir, phase, subset)

    started = time.monotonic()
    results = await asyncio.gather(*(run(*r) for r in runs))
    print(f"fuzzing: {len(runs)} runs took {time.monotonic() - started:.0f}s")

    report = [
        f"--- {phase} as {who}: exit {code}, {count_tested(output)}/{len(only)} operations tested\n"
        + failures(output)
        for (who, phase, only), (code, output) in zip(runs, results, strict=True)
        if code != 0 or count_tested(output) != len(only)
    ]
    assert not report, "\n".join(report)
