"""Who a person is: identity documents (Stripe Identity, official SDK) and background checks
(a Checkr-style provider, over httpx).

Every creating call carries an idempotency key derived from the workflow id and the attempt
(``verification-…:identity:2``), so a retried or replayed step opens one session / one
invitation, never two. Results arrive later by signed webhook (api/webhooks.py), not here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import stripe
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.payments import classify
from core.settings import Settings
from models.verification import (
    AdverseActionRequest,
    AdverseActionResult,
    BackgroundCheckRequest,
    BackgroundCheckStarted,
    CancelIdentitySession,
    IdentitySession,
    IdentitySessionRequest,
)


def checks_client(settings: Settings) -> httpx.AsyncClient:
    """The check provider's API: HTTP Basic with the key as user name, like Checkr's."""
    return httpx.AsyncClient(
        base_url=settings.checks_api_base.rstrip("/"),
        auth=(settings.checks_api_key.get_secret_value(), ""),
        timeout=settings.checks_timeout_seconds,
    )


def _session(obj: stripe.identity.VerificationSession) -> IdentitySession:
    return IdentitySession(session_id=obj.id, status=obj.status, url=obj.url)


class IdentityActivities:
    def __init__(self, stripe_client: stripe.StripeClient, checks: httpx.AsyncClient) -> None:
        self._stripe = stripe_client
        self._checks = checks

    # --- identity documents (Stripe Identity) ----------------------------------------------

    @activity.defn(name="identity.create_session")
    async def create_session(self, req: IdentitySessionRequest) -> IdentitySession:
        try:
            session = await self._stripe.v1.identity.verification_sessions.create_async(
                params={
                    "type": "document",
                    "client_reference_id": str(req.user_id),
                    # The webhook finds the person's workflow from this.
                    "metadata": {"user_id": str(req.user_id)},
                    "options": {"document": {"require_matching_selfie": True}},
                    "provided_details": {"email": req.email},
                    "return_url": req.return_url,
                },
                options={"idempotency_key": req.idempotency_key},
            )
        except stripe.StripeError as err:
            raise classify(err) from None
        return _session(session)

    @activity.defn(name="identity.session_link")
    async def session_link(self, session_id: str) -> IdentitySession:
        """A fresh link to an open session (Stripe's links are single-use and short-lived;
        retrieving the session mints a new one while it still needs input)."""
        try:
            session = await self._stripe.v1.identity.verification_sessions.retrieve_async(
                session_id
            )
        except stripe.StripeError as err:
            raise classify(err) from None
        return _session(session)

    @activity.defn(name="identity.cancel_session")
    async def cancel_session(self, req: CancelIdentitySession) -> str:
        """Closes a session nobody finished; answers its final status (a session that was
        verified or canceled meanwhile is left as it is)."""
        sessions = self._stripe.v1.identity.verification_sessions
        try:
            session = await sessions.cancel_async(
                req.session_id, options={"idempotency_key": req.idempotency_key}
            )
        except stripe.InvalidRequestError:
            try:
                session = await sessions.retrieve_async(req.session_id)
            except stripe.StripeError as err:
                raise classify(err) from None
        except stripe.StripeError as err:
            raise classify(err) from None
        return str(session.status)

    # --- background checks (Checkr-style) --------------------------------------------------

    @activity.defn(name="background_check.start")
    async def start_background_check(self, req: BackgroundCheckRequest) -> BackgroundCheckStarted:
        """An invitation to the provider's form, for the person's candidate (created once, and
        reused by later attempts: providers refuse duplicate candidates)."""
        candidate_id = req.candidate_id
        if candidate_id is None:
            candidate = await self._post(
                "/v1/candidates",
                {
                    "first_name": req.first_name,
                    "last_name": req.last_name,
                    "email": req.email,
                    "custom_id": str(req.user_id),  # webhooks find the person's workflow by it
                },
                f"{req.idempotency_key}:candidate",
            )
            candidate_id = str(candidate["id"])
        location = {"country": req.work_country}
        if req.work_state:
            location["state"] = req.work_state
        if req.work_city:
            location["city"] = req.work_city
        invitation = await self._post(
            "/v1/invitations",
            {
                "candidate_id": candidate_id,
                "package": req.package,
                "work_locations": [location],
            },
            f"{req.idempotency_key}:invitation",
        )
        expires = invitation.get("expires_at")
        return BackgroundCheckStarted(
            candidate_id=candidate_id,
            invitation_id=invitation["id"],
            invitation_url=invitation["invitation_url"],
            expires_at=datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None,
        )

    @activity.defn(name="background_check.adverse_items")
    async def adverse_items(self, report_id: str) -> list[str]:
        """The findings of a "consider" report that an adverse action can rest on. (Its own
        step: once an action exists the provider stops listing them, so the action's retries
        must not depend on listing them again.)"""
        items = await self._get(f"/v1/reports/{report_id}/adverse_items")
        return [str(item["id"]) for item in items.get("data", [])]

    @activity.defn(name="background_check.adverse_action")
    async def create_adverse_action(self, req: AdverseActionRequest) -> AdverseActionResult:
        """Starts the provider's adverse-action process for a rejected report (it sends the
        pre-adverse notice with a copy of the report, then the final notice after the waiting
        period). The same key and body on every retry: the provider replays its answer."""
        action = await self._post(
            f"/v1/reports/{req.report_id}/adverse_actions",
            {"adverse_item_ids": req.adverse_item_ids},
            req.idempotency_key,
        )
        return AdverseActionResult(adverse_action_id=action["id"])

    async def _get(self, path: str) -> dict[str, Any]:
        try:
            response = await self._checks.get(path)
        except httpx.HTTPError as err:
            raise ApplicationError(
                f"check provider unreachable: {type(err).__name__}", type="ProviderUnavailable"
            ) from None
        return _answer(response)

    async def _post(self, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        try:
            response = await self._checks.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.HTTPError as err:
            raise ApplicationError(
                f"check provider unreachable: {type(err).__name__}", type="ProviderUnavailable"
            ) from None
        return _answer(response)

    def all(self) -> list[Any]:
        return [
            self.create_session,
            self.session_link,
            self.cancel_session,
            self.start_background_check,
            self.adverse_items,
            self.create_adverse_action,
        ]


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The provider's answer, classified once: a refusal of the request itself is final;
    rate limits, outages, a rotated key (ops fix it) and a key still in flight are retried."""
    status = response.status_code
    if status == 429 or status >= 500:
        raise ApplicationError(
            f"check provider unavailable: HTTP {status}",
            type="ProviderUnavailable",
            next_retry_delay=_until_reset(response.headers.get("x-ratelimit-reset")),
        )
    if status in (401, 403, 409):
        raise ApplicationError(
            f"check provider refused for now: HTTP {status}", type="ProviderUnavailable"
        )
    if status >= 400:
        raise ApplicationError(
            f"check provider rejected the request: {_error(response)}",
            type="BackgroundCheckRejected",
            non_retryable=True,
        )
    data: dict[str, Any] = response.json()
    return data


def _until_reset(reset: str | None) -> timedelta | None:
    """Checkr's ``X-Ratelimit-Reset`` is the ISO time the window resets (no Retry-After)."""
    if not reset:
        return None
    try:
        at = datetime.fromisoformat(reset.replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(at - datetime.now(UTC), timedelta(seconds=1))


def _error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    return str(body.get("error") or body.get("errors") or body)
