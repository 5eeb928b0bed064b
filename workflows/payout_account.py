"""PayoutAccount: a worker's Stripe Connect Express account, from creation to "can be paid".

create account → (worker finishes hosted onboarding; any number of fresh links) → Stripe's
``account.updated`` webhook reports ``payouts_enabled`` → ready: every contract waiting to
pay this worker is signalled. The workflow lives as long as the account (an entity workflow)
so later ``account.updated`` events (payouts disabled again) keep the projection honest.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError

from workflows.common import MONEY_CALL_TIMEOUT, PAYMENT_RETRY, reject, store

with workflow.unsafe.imports_passed_through():
    from activities.payments import PaymentActivities
    from activities.store import StoreActivities
    from models import search_attributes as sa
    from models.common import Actor
    from models.contracts import PayoutAccountReady
    from models.errors import Rejection
    from models.payments import (
        ConnectedAccount,
        ConnectedAccountRequest,
        OnboardingLinkRequest,
        OnboardingLinkResult,
    )
    from models.payouts import (
        AccountUpdated,
        PayoutAccountInput,
        PayoutAccountPublic,
        PayoutAccountState,
        PayoutAccountStatus,
    )

ACCOUNT_SETUP_DEADLINE = timedelta(hours=1)


def payout_account_workflow_id(user_id: object) -> str:
    return f"payout-account-{user_id}"


@workflow.defn(name="PayoutAccount")
class PayoutAccountWorkflow:
    @workflow.init
    def __init__(self, input: PayoutAccountInput) -> None:
        self.input = input
        self.state = input.carried_state or PayoutAccountState(
            user_id=input.user_id, email=input.email, country=input.country
        )
        self._updates: list[AccountUpdated] = []
        self._last_event_created = 0

    @workflow.run
    async def run(self, input: PayoutAccountInput) -> PayoutAccountState:
        if self.state.stripe_account_id is None:
            workflow.set_current_details(describe(self.state))
            account: ConnectedAccount = await workflow.execute_activity_method(
                PaymentActivities.create_connected_account,
                ConnectedAccountRequest(
                    idempotency_key=f"{workflow.info().workflow_id}:create-account",
                    user_id=self.state.user_id,
                    email=self.state.email,
                    country=self.state.country,
                ),
                start_to_close_timeout=MONEY_CALL_TIMEOUT,
                schedule_to_close_timeout=ACCOUNT_SETUP_DEADLINE,
                retry_policy=PAYMENT_RETRY,
                summary="create the Stripe Connect Express account",
            )
            self.state.stripe_account_id = account.account_id
            self.state.status = PayoutAccountStatus.ONBOARDING
            await self._apply(account.payouts_enabled, account.details_submitted)

        # Then follow the account for as long as it exists.
        while True:
            await workflow.wait_condition(
                lambda: bool(self._updates) or workflow.info().is_continue_as_new_suggested()
            )
            while self._updates:
                update = self._updates.pop(0)
                await self._apply(update.payouts_enabled, update.details_submitted)
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    self.input.model_copy(update={"carried_state": self.state})
                )

    @workflow.update(
        name="onboarding_link",
        description="Worker: a fresh link to Stripe's hosted onboarding (links expire within minutes); none once the account is ready.",
    )
    async def onboarding_link(self, actor: Actor) -> PayoutAccountPublic:
        """A fresh hosted-onboarding link (links are short-lived), unless already ready."""
        self._check_owner(actor)
        await workflow.wait_condition(lambda: self.state.version > 0)
        public = PayoutAccountPublic(
            status=self.state.status,
            stripe_account_id=self.state.stripe_account_id,
            payouts_enabled=self.state.payouts_enabled,
        )
        if self.state.status is PayoutAccountStatus.READY:
            return public
        assert self.state.stripe_account_id is not None
        try:
            link: OnboardingLinkResult = await workflow.execute_activity_method(
                PaymentActivities.create_onboarding_link,
                OnboardingLinkRequest(
                    account_id=self.state.stripe_account_id,
                    return_url=self.input.return_url,
                    refresh_url=self.input.refresh_url,
                ),
                start_to_close_timeout=timedelta(seconds=20),
                schedule_to_close_timeout=timedelta(seconds=60),
                retry_policy=PAYMENT_RETRY,
                summary="create a Stripe onboarding link",
            )
        except Exception as err:
            raise ApplicationError(
                "could not create an onboarding link; try again",
                type=Rejection.PROVIDER_UNAVAILABLE.value,
                non_retryable=True,
            ) from err
        public.onboarding_url, public.onboarding_url_expires_at = link.url, link.expires_at
        return public

    @onboarding_link.validator
    def _check_onboarding_link(self, actor: Actor) -> None:
        self._check_owner(actor)

    @workflow.signal(
        name="account_updated",
        description="Stripe webhook account.updated: payouts enabled or disabled. Older snapshots never overwrite newer ones.",
    )
    def account_updated(self, update: AccountUpdated) -> None:
        # Stripe does not promise delivery order: an older snapshot never overwrites a newer one.
        if update.account_id != self.state.stripe_account_id and self.state.stripe_account_id:
            return
        if update.event_created < self._last_event_created:
            return
        self._last_event_created = update.event_created
        self._updates.append(update)

    @workflow.query(
        name="state",
        description="The payout account: status, Stripe account id, whether payouts are enabled, contracts told it is ready.",
    )
    def query_state(self) -> PayoutAccountState:
        return self.state

    def _check_owner(self, actor: Actor) -> None:
        if actor.user_id != self.state.user_id and not actor.role.is_staff:
            reject(Rejection.FORBIDDEN, "this is not your payout account")

    async def _apply(self, payouts_enabled: bool, details_submitted: bool) -> None:
        was_ready = self.state.status is PayoutAccountStatus.READY
        self.state.payouts_enabled = payouts_enabled
        self.state.details_submitted = details_submitted
        if payouts_enabled:
            self.state.status = PayoutAccountStatus.READY
            self.state.ready_at = self.state.ready_at or workflow.now()
        elif was_ready:
            self.state.status = PayoutAccountStatus.RESTRICTED
        self.state.version += 1
        workflow.upsert_search_attributes([sa.STAGE.value_set(self.state.status.value)])
        workflow.set_current_details(describe(self.state))
        # Projected (ready) *before* the waiters are read: see StoreActivities.payout_destination.
        await store(StoreActivities.project_payout_account, self.state)
        if self.state.status is PayoutAccountStatus.READY and not was_ready:
            await self._tell_waiting_contracts()

    async def _tell_waiting_contracts(self) -> None:
        assert self.state.stripe_account_id is not None
        waiting = await store(StoreActivities.waiting_contracts, self.state.user_id)
        for contract_id in waiting:
            handle = workflow.get_external_workflow_handle(f"contract-{contract_id}")
            try:
                await handle.signal(
                    "payout_account_ready",
                    PayoutAccountReady(account_id=self.state.stripe_account_id),
                )
            except Exception:  # a contract that has ended meanwhile needs no signal
                workflow.logger.info("contract %s no longer waiting", contract_id)
            if contract_id not in self.state.notified_contracts:
                self.state.notified_contracts.append(contract_id)

    @staticmethod
    def initial_search_attributes(user_id: object) -> TypedSearchAttributes:
        return TypedSearchAttributes(
            [
                SearchAttributePair(sa.WORKER_ID, str(user_id)),
                SearchAttributePair(sa.STAGE, PayoutAccountStatus.CREATING.value),
            ]
        )


def describe(s: PayoutAccountState) -> str:
    """The Temporal UI's *Current details* for support: what the account waits for, from
    whom, and until when (nothing bounds these waits: the account lives as long as the worker)."""
    if s.status is PayoutAccountStatus.READY:
        return (
            f"**Ready** — Stripe account `{s.stripe_account_id}` can receive payouts. Nothing to "
            "wait for; Stripe's `account.updated` webhook would report a change."
        )
    if s.status is PayoutAccountStatus.RESTRICTED:
        return (
            f"**Restricted** — Stripe disabled payouts on `{s.stripe_account_id}`. Waiting for "
            "the worker to fix their details in Stripe, no deadline; releases to them wait too."
        )
    if s.status is PayoutAccountStatus.CREATING or s.stripe_account_id is None:
        return (
            "**Creating** — opening the worker's Stripe Connect Express account (retried for "
            f"up to {ACCOUNT_SETUP_DEADLINE.total_seconds() / 3600:g} h)."
        )
    return (
        f"**Onboarding** — Stripe account `{s.stripe_account_id}` created. Waiting for the "
        "worker to finish Stripe's onboarding, no deadline (the `account.updated` webhook "
        "reports payouts_enabled); releases to them wait until then."
    )
