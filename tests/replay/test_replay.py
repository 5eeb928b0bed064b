"""Every recorded history replays against today's workflow code (no non-determinism)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.workflows.conftest import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_recorded_histories() -> None:
    assert {h.stem for h in HISTORIES} >= {
        "contract_full_life",  # before notices went out by email/SMS (patch)
        "job_posting_hired",
        "contract_life_with_notices",  # after it
        "contract_disputed_with_notices",
        "contract_support_actions",  # every support action (issue 11)
        "job_posting_hired_with_notices",
        "payout_account_ready",
        "verification_all_steps",
        "verification_identity_gave_up",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=[h.stem for h in HISTORIES])
async def test_history_replays_with_current_code(path: Path) -> None:
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
