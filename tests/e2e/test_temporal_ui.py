"""Support finds a contract in the Temporal Web UI and understands it without reading code.

A real browser (Debian's headless Chromium, driven by Playwright) against the dev stack's Web
UI: search the workflow list for ``ContractId="…"``, open the contract, read its summary, its
details and its *Current details*, and open "Send an Update" to see what each update is for.
The screenshots are kept under ``.artifacts/temporal-ui/`` (pytest's summary lists them).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from devstack.stack import Stack
from tests.api.helpers import apply, hire, post_job
from tests.conftest import ApiClient, sign_up
from tests.e2e.chromium import keep_screenshot

# The UI polls the server and renders Markdown in frames: generous, but bounded.
UI_TIMEOUT_MS = 20_000


@pytest.fixture(scope="session")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    # Debian's build through `executable_path`: Playwright's own browser download needs the
    # internet, which CI and developer machines do not have. Root needs --no-sandbox.
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1400, "height": 1100})
    context.set_default_timeout(UI_TIMEOUT_MS)
    opened = await context.new_page()
    try:
        yield opened
    finally:
        # What the browser showed last, kept whatever happened: a failure is explained by it.
        await keep_screenshot(opened, f"{request.node.name}-last")
        await context.close()


async def test_support_finds_a_contract_and_reads_what_it_waits_for_and_what_each_update_does(
    stack: Stack, api: ApiClient, temporal: Client, page: Page
) -> None:
    assert stack.temporal_ui_url is not None
    client = await sign_up(api, "client", "Carla")
    worker = await sign_up(api, "worker", "Wes", verified=True)
    job = await post_job(client, title="Bakery website")
    application = await apply(worker, job["id"])
    offer = await hire(client, job["id"], application["id"], [50_000, 100_000])
    contract_id = offer["id"]

    # Support searches the workflow list by the business id, as the runbook tells them to.
    await page.goto(f"{stack.temporal_ui_url}/namespaces/default/workflows")
    await page.get_by_test_id("toggle-manual-query").click()
    search = page.get_by_test_id("workflow-manual-search-input")
    await search.fill(f'ContractId="{contract_id}"')
    await search.press("Enter")
    rows = page.locator("tbody tr")
    await expect(rows).to_have_count(1)  # only this contract, not its job or the verification
    await expect(rows.first).to_contain_text(f"contract-{contract_id}")
    await expect(rows.first).to_contain_text("Contract")
    await keep_screenshot(page, "1-search-by-contract-id")

    # The contract: its summary and details (set at the start) and its current details.
    await page.get_by_role("link", name=f"contract-{contract_id}").first.click()
    await page.get_by_test_id("user-metadata-tab").click()
    summary = page.frame_locator("#user-metadata-summary").locator("body")
    await expect(summary).to_contain_text(
        "Contract for “Bakery website”: 2 milestone(s), 1,500.00 USD"
    )
    details = page.frame_locator("#user-metadata-details").locator("body")
    await expect(details).to_contain_text(f"Client {client.id}, worker {worker.id}")
    current = page.frame_locator("#user-metadata-current-details").locator("body")
    await expect(current).to_contain_text("Offered — “Bakery website”")
    await expect(current).to_contain_text(
        re.compile(r"Waiting for the worker to accept or decline the offer until \d{4}-\d\d-\d\d")
    )
    # Markdown rendered, not shown raw: the milestones are a list.
    await expect(current.locator("li")).to_have_count(2)
    await expect(current.locator("li").first).to_contain_text("M1 Milestone 1: pending")
    await keep_screenshot(page, "2-contract-summary-and-current-details")

    # "Send an Update" lists every update with what it is for and who sends it.
    await page.get_by_role("button", name="More Actions").click()
    await page.get_by_role("menuitem", name="Send an Update").filter(visible=True).click()
    dialog = page.get_by_test_id("update-confirmation-modal").filter(visible=True)
    await dialog.get_by_test_id("update-select-button").click()
    options = dialog.get_by_role("option")

    def update(name: str) -> Any:
        """The option of the update called ``name`` (its first line), not of another update
        whose description mentions it (clear_needs_support names resume_after_support)."""
        return options.filter(has_text=re.compile(rf"^\s*{re.escape(name)}(?![a-z_])"))

    await expect(update("accept")).to_contain_text("Worker: accept the offer (before it expires).")
    await expect(update("resolve_dispute")).to_contain_text("Support: settle an open dispute")
    await expect(update("resume_after_support")).to_contain_text("Support: clear NeedsSupport")
    await expect(update("extend_deadline")).to_contain_text("Support: move")
    await keep_screenshot(page, "3-send-an-update-with-descriptions")

    # The UI reads all of this from the worker's metadata query; ask it directly too, so that
    # signals and queries (which the UI shows in other dialogs) are covered as well.
    handle = temporal.get_workflow_handle(f"contract-{contract_id}")
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert metadata.current_details.startswith("**Offered**")
    definition = metadata.definition
    described = {
        d.name: d.description
        for d in [
            *definition.update_definitions,
            *definition.signal_definitions,
            *definition.query_definitions,
        ]
    }
    assert described["chargeback_opened"].startswith("Stripe webhook charge.dispute.created")
    assert described["state"].startswith("The whole contract")
    updates_shown = {
        text.split("\n", 1)[0] for text in await options.all_inner_texts() if "\n" in text
    }
    assert updates_shown == {d.name for d in definition.update_definitions}
