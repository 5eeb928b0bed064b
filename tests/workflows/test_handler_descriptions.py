"""Every update, signal and query of every workflow the worker runs says what it is for.

Support and ops pick updates and signals from a list in the Temporal UI (the workflow's
"Send an Update" / "Send a Signal" dialogs) and in `temporal workflow metadata`; the
description is what tells them which one to send. The worker answers the UI from the same
definitions (the `__temporal_workflow_metadata` query; tests/e2e/test_temporal_ui.py asks it
of a running contract), so checking the definitions here covers every handler, including
those of workflows no test starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import ScheduleActionStartWorkflow

from core.schedules import reconciliation_schedule
from tests.conftest import sandbox_settings
from workers.main import WORKFLOWS

# The UI shows a description on one line under the handler's name in a drop-down.
LONGEST_DESCRIPTION = 200


def handlers(cls: type) -> list[tuple[str, str, str]]:
    """(kind, name, description) of each handler the SDK registers for ``cls``.

    ``_Definition.must_from_class`` is how the SDK's own worker reads a workflow class (the
    SDK has no public equivalent); its handler tables are what it answers the metadata
    query from."""
    defn = workflow._Definition.must_from_class(cls)
    tables: dict[str, Mapping[str | None, Any]] = {
        "update": defn.updates,
        "signal": defn.signals,
        "query": defn.queries,
    }
    return [
        (kind, name or "(dynamic)", handler.description or "")
        for kind, table in tables.items()
        for name, handler in table.items()
    ]


WORKFLOWS_BY_NAME = {workflow._Definition.must_from_class(cls).name: cls for cls in WORKFLOWS}


def test_the_worker_runs_every_workflow_of_the_marketplace() -> None:
    assert set(WORKFLOWS_BY_NAME) >= {
        "Contract",
        "JobPosting",
        "PayoutAccount",
        "Verification",
        "Reconciliation",
    }


@pytest.mark.parametrize("cls", WORKFLOWS, ids=lambda cls: cls.__name__)
def test_every_handler_has_a_description(cls: type) -> None:
    missing = [f"{kind} {name}" for kind, name, text in handlers(cls) if not text.strip()]
    assert not missing, f"{cls.__name__}: add description= to {', '.join(missing)}"


@pytest.mark.parametrize("cls", WORKFLOWS, ids=lambda cls: cls.__name__)
def test_descriptions_fit_the_ui(cls: type) -> None:
    too_long = [
        f"{kind} {name} ({len(text)} characters)"
        for kind, name, text in handlers(cls)
        if len(text) > LONGEST_DESCRIPTION or "\n" in text
    ]
    assert not too_long, f"{cls.__name__}: shorten {', '.join(too_long)}"


def test_the_contract_tells_support_which_updates_are_theirs() -> None:
    contract = {name: text for kind, name, text in handlers(WORKFLOWS_BY_NAME["Contract"])}
    assert contract["resolve_dispute"].startswith("Support:")
    assert contract["resume_after_support"].startswith("Support:")
    assert contract["fund"].startswith("Client:")
    assert contract["submit"].startswith("Worker:")
    assert "Stripe webhook" in contract["chargeback_opened"]


def test_the_daily_reconciliation_is_described_in_the_ui() -> None:
    """Scheduled runs are started by Temporal, not by our code: the schedule's action carries
    the summary and details every run shows."""
    action = reconciliation_schedule(sandbox_settings("http://127.0.0.1:1")).action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.static_summary == "Daily reconciliation: ledger against Stripe"
    assert "NeedsSupport" in str(action.static_details)
