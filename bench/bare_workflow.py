"""Bare Temporal workflows: the *shape* of Tempwork's workflows with none of the product.

Floors for ``make bench`` (bench/floors.py drives them, bench/bare_worker.py runs them).

Measured shape of one real lifecycle (hire → accept → fund → submit → approve → released,
one milestone; histories of `job-…` and `contract-…` fetched after a run against the dev
stack, Temporal SDK 1.35):

* POST /v1/jobs: update-with-start of ``JobPosting`` with update ``publish`` (no validator,
  no argument): 1 local activity (``store.project_job``), 1 timer (30-day expiry).
* The job's part of a lifecycle: 2 updates with validators — ``apply`` (2 local activities:
  project_job, notify; 1 activity: ``notices.deliver``) and ``hire`` (starts the Contract
  as a **child workflow**, parent-close ABANDON, then 1 local activity: project_job); with one
  position the hire fills the job, which then completes (after its delivery finishes).
* The contract (``Contract``, the child), up to "released" and its completion:
  4 updates, each with a validator (accept, fund, submit, approve), 17 local activities,
  10 regular activities, 3 timers started and cancelled on the way (offer 72 h, funding
  7 d, approval reminder 5 d):

  =========  ===============================================  ============================
  step       local activities                                 regular activities
  =========  ===============================================  ============================
  start      notify, project_contract                         deliver
  accept     project_contract, notify                         deliver
  fund       record_ledger, project_contract, notify          create_escrow_intent,
                                                              confirm_escrow_payment,
                                                              deliver
  submit     project_contract, notify                         deliver
  approve    project_contract                                 —
  release    payout_destination, record_ledger,               transfer_to_worker, deliver
             project_contract, notify
  complete   project_contract, notify x2                      deliver x2
  =========  ===============================================  ============================

  A fourth timer (the 7-day review window) starts at completion; the workflow then waits
  for reviews. History: 121 events, 16 workflow tasks.

Mirrored here, all bodies no-ops (``bare.noop``): every update and validator, every local
and regular activity in the same handler and order, the child workflow start, and the three
timers. Not mirrored (product features, not Temporal's cost of the shape): search-attribute
upserts (8 on the contract, 3 on the job), ``patched`` markers, current details, the
pydantic data converter and the product's payloads (whole states as activity arguments), and
the Stripe webhook signal (``escrow_payment_succeeded``) that the sandbox sends during
funding. ``BareLifecycle`` *completes* after its completion step and drains its deliveries
instead of waiting for reviews: the floor's end point is its result.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from bench.bare_activities import BareJob, PostingActivities, noop

# The product's timeouts for its local activities (workflows/common.py STORE_TIMEOUT), its
# payment calls (workflows/contract.py _payment) and its deliveries (DELIVERY_TIMEOUT).
LOCAL_TIMEOUT = timedelta(seconds=15)
PAYMENT_TIMEOUT = timedelta(seconds=20)
DELIVERY_TIMEOUT = timedelta(seconds=30)
# The product's deadlines, as timers (none fires during a bench run).
JOB_EXPIRY = timedelta(days=30)
OFFER_EXPIRY = timedelta(hours=72)
FUNDING_DEADLINE = timedelta(days=7)
APPROVAL_REMINDER = timedelta(days=5)


def bare_contract_id(name: str) -> str:
    return f"bare-contract-{name}"


async def local(step: str) -> None:
    await workflow.execute_local_activity(noop, step, start_to_close_timeout=LOCAL_TIMEOUT)


async def remote(step: str) -> None:
    await workflow.execute_activity(noop, step, start_to_close_timeout=PAYMENT_TIMEOUT)


class Deliveries:
    """Like the product's Notifier: the in-app notice is a local activity, the email/SMS a
    regular activity *started* (not awaited) and drained before the workflow ends."""

    def __init__(self) -> None:
        self._started: list[asyncio.Future[Any]] = []

    async def notify(self) -> None:
        await local("notify")
        self._started.append(
            workflow.start_activity(noop, "deliver", start_to_close_timeout=DELIVERY_TIMEOUT)
        )

    async def drain(self) -> None:
        await asyncio.gather(*self._started)


def require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)  # from a validator: the update is rejected, not recorded


@workflow.defn(name="BareLifecycle")
class BareLifecycle:
    """One contract (one milestone), started as a child of a ``BarePosting`` by ``hire``."""

    def __init__(self) -> None:
        self.stage = "offered"
        self._deliveries = Deliveries()

    @workflow.run
    async def run(self, name: str) -> str:
        await self._deliveries.notify()  # the offer
        await local("project_contract")
        with contextlib.suppress(TimeoutError):  # (the product expires the offer)
            await workflow.wait_condition(lambda: self.stage != "offered", timeout=OFFER_EXPIRY)
        await asyncio.gather(self._funding_deadline(), self._milestone())
        self.stage = "completed"
        await local("project_contract")
        await self._deliveries.notify()  # review invites, to both parties
        await self._deliveries.notify()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._deliveries.drain()
        return self.stage

    async def _funding_deadline(self) -> None:
        with contextlib.suppress(TimeoutError):  # (the product cancels an unfunded contract)
            await workflow.wait_condition(
                lambda: self.stage not in ("offered", "active"), timeout=FUNDING_DEADLINE
            )

    async def _milestone(self) -> None:
        await workflow.wait_condition(lambda: self.stage == "submitted")
        with contextlib.suppress(TimeoutError):  # (the product reminds, then auto-releases)
            await workflow.wait_condition(
                lambda: self.stage != "submitted", timeout=APPROVAL_REMINDER
            )
        # The release.
        await local("payout_destination")
        await remote("transfer_to_worker")
        await local("record_ledger")
        self.stage = "released"
        await local("project_contract")
        await self._deliveries.notify()

    @workflow.update(name="accept")
    async def accept(self) -> str:
        self.stage = "active"
        await local("project_contract")
        await self._deliveries.notify()
        return self.stage

    @accept.validator
    def _check_accept(self) -> None:
        require(self.stage == "offered", f"cannot accept: {self.stage}")

    @workflow.update(name="fund")
    async def fund(self) -> str:
        await remote("create_escrow_intent")
        await remote("confirm_escrow_payment")
        await local("record_ledger")
        self.stage = "funded"
        await local("project_contract")
        await self._deliveries.notify()
        return self.stage

    @fund.validator
    def _check_fund(self) -> None:
        require(self.stage == "active", f"cannot fund: {self.stage}")

    @workflow.update(name="submit")
    async def submit(self) -> str:
        self.stage = "submitted"
        await local("project_contract")
        await self._deliveries.notify()
        return self.stage

    @submit.validator
    def _check_submit(self) -> None:
        require(self.stage == "funded", f"cannot submit: {self.stage}")

    @workflow.update(name="approve")
    async def approve(self) -> str:
        self.stage = "approved"
        await local("project_contract")
        return self.stage

    @approve.validator
    def _check_approve(self) -> None:
        require(self.stage == "submitted", f"cannot approve: {self.stage}")


@workflow.defn(name="BarePosting")
class BarePosting:
    """A job: posted by update-with-start of ``publish`` (one real INSERT, as a local
    activity), then open until ``close``d or filled by ``hire`` (the lifecycle floor's
    parent, whose ``apply`` and ``hire`` have the product's shape with no-op bodies)."""

    @workflow.init
    def __init__(self, job: BareJob) -> None:
        self.job = job
        self.open = True
        self.applied = False
        self._deliveries = Deliveries()

    @workflow.run
    async def run(self, job: BareJob) -> None:
        with contextlib.suppress(TimeoutError):  # (the product closes it as expired)
            await workflow.wait_condition(lambda: not self.open, timeout=JOB_EXPIRY)
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._deliveries.drain()

    @workflow.update(name="publish")
    async def publish(self) -> str:
        await workflow.execute_local_activity_method(
            PostingActivities.insert_job, self.job, start_to_close_timeout=LOCAL_TIMEOUT
        )
        return self.job.job_id

    @workflow.update(name="apply")
    async def apply(self) -> None:
        self.applied = True
        await local("project_job")
        await self._deliveries.notify()

    @apply.validator
    def _check_apply(self) -> None:
        require(self.open and not self.applied, "cannot apply")

    @workflow.update(name="hire")
    async def hire(self, name: str) -> str:
        """Starts the contract as a child (answers once it has started, like the product)."""
        contract_id = bare_contract_id(name)
        await workflow.start_child_workflow(
            BareLifecycle.run, name, id=contract_id, parent_close_policy=ParentClosePolicy.ABANDON
        )
        self.open = False  # one position: filled
        await local("project_job")
        return contract_id

    @hire.validator
    def _check_hire(self, name: str) -> None:
        require(self.open and self.applied, "cannot hire")

    @workflow.update(name="close")
    async def close(self) -> None:
        self.open = False

    @close.validator
    def _check_close(self) -> None:
        require(self.open, "already closed")


@workflow.defn(name="BareUpdate")
class BareUpdate:
    """The raw update round trip: a validator and a handler that returns at once."""

    def __init__(self) -> None:
        self.stopped = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.stopped)

    @workflow.update(name="ping")
    async def ping(self, n: int) -> int:
        return n

    @ping.validator
    def _check_ping(self, n: int) -> None:
        require(n >= 0, "negative")

    @workflow.signal(name="stop")
    def stop(self) -> None:
        self.stopped = True


WORKFLOWS = [BareLifecycle, BarePosting, BareUpdate]
