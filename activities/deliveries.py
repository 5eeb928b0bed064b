"""The delivery record behind every email and SMS: who may be told what, and "was this sent?".

Neither SendGrid's Mail Send nor Twilio's Messages API takes an idempotency key, so sending
exactly once is ours to do. One row per (notification, channel) in ``deliveries``:

1. ``claim`` the row (first attempt inserts it, later attempts count themselves); a claim
   that goes straight on to call the provider is stamped "calling" in the same transaction;
2. a finished row (sent, skipped, failed, …) answers at once: a retry or replay sends nothing;
3. a row left "calling" by an earlier attempt (a crash, a lost answer) means "maybe sent": the
   caller asks the provider first, and stamps ``calling`` itself only if it must send again
   (the stamp is the time of the latest call, which the provider's records are searched from);
4. ``finish`` records the outcome right after the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import autocommit
from models.notices import DeliveryOutcome
from models.tables import DELIVERIES, USERS


@dataclass(frozen=True)
class Contact:
    email: str
    phone: str | None  # the verified number only
    email_notifications: bool
    sms_notifications: bool


@dataclass(frozen=True)
class Claim:
    status: str
    attempts: int
    provider_message_id: str | None
    detail: str | None
    # When an earlier attempt started calling the provider and never recorded the answer.
    unfinished_call_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status != "sending"

    def outcome(self) -> DeliveryOutcome:
        return DeliveryOutcome.model_validate(
            {
                "status": self.status,
                "detail": self.detail,
                "provider_message_id": self.provider_message_id,
            }
        )


def _row(dedupe_key: str, channel: str) -> sa.ColumnElement[bool]:
    return (DELIVERIES.c.dedupe_key == dedupe_key) & (DELIVERIES.c.channel == channel)


# Built once; values go as parameters (SQLAlchemy then keys its compiled cache on the
# statement object instead of walking the values on every delivery).
_CLAIM = insert(DELIVERIES).on_conflict_do_nothing().returning(DELIVERIES.c.attempts)


class DeliveryLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def contact(self, user_id: UUID) -> Contact | None:
        async with autocommit(self._engine) as conn:
            row = (
                await conn.execute(
                    sa.select(
                        USERS.c.email,
                        USERS.c.phone_number,
                        USERS.c.email_notifications,
                        USERS.c.sms_notifications,
                    ).where(USERS.c.id == user_id)
                )
            ).first()
        if row is None:
            return None
        return Contact(row.email, row.phone_number, row.email_notifications, row.sms_notifications)

    async def claim(
        self, dedupe_key: str, channel: str, user_id: UUID, kind: str, destination: str | None
    ) -> Claim:
        async with self._engine.begin() as conn:
            inserted = (
                await conn.execute(
                    _CLAIM,
                    {
                        "dedupe_key": dedupe_key,
                        "channel": channel,
                        "user_id": user_id,
                        "kind": kind,
                        "destination": destination,
                        "status": "sending",
                        "attempts": 1,
                        "provider_message_id": _CALLING,  # the caller calls the provider next
                    },
                )
            ).first()
            if inserted is not None:
                return Claim("sending", 1, None, None, None)
            row = (
                await conn.execute(
                    sa.select(DELIVERIES).where(_row(dedupe_key, channel)).with_for_update()
                )
            ).one()
            unfinished = row.status == "sending" and row.provider_message_id == _CALLING
            changes: dict[str, object] = {"attempts": DELIVERIES.c.attempts + 1}
            if row.status == "sending" and not unfinished:
                # The earlier attempt never reached the provider: this one calls it now.
                changes.update(provider_message_id=_CALLING, updated_at=sa.func.now())
            # Every run of the step counts (support sees retries), finished or not.
            await conn.execute(
                sa.update(DELIVERIES).where(_row(dedupe_key, channel)).values(**changes)
            )
            if row.status != "sending":
                return Claim(
                    row.status, row.attempts + 1, row.provider_message_id, row.detail, None
                )
            return Claim(
                "sending", row.attempts + 1, None, None, row.updated_at if unfinished else None
            )

    async def calling(self, dedupe_key: str, channel: str) -> None:
        """Stamped right before the provider call: from now on, "maybe sent"."""
        async with autocommit(self._engine) as conn:  # one statement
            await conn.execute(
                sa.update(DELIVERIES)
                .where(_row(dedupe_key, channel))
                .values(provider_message_id=_CALLING, updated_at=sa.func.now())
            )

    async def finish(self, dedupe_key: str, channel: str, outcome: DeliveryOutcome) -> None:
        async with autocommit(self._engine) as conn:  # one statement
            await conn.execute(
                sa.update(DELIVERIES)
                .where(_row(dedupe_key, channel))
                .values(
                    status=outcome.status,
                    detail=outcome.detail,
                    provider_message_id=outcome.provider_message_id,
                    updated_at=sa.func.now(),
                )
            )

    async def record(
        self,
        dedupe_key: str,
        channel: str,
        user_id: UUID,
        kind: str,
        destination: str | None,
        outcome: DeliveryOutcome,
    ) -> DeliveryOutcome:
        """A delivery decided without calling anyone (skipped by preference): kept, once."""
        async with autocommit(self._engine) as conn:  # one statement
            await conn.execute(
                insert(DELIVERIES)
                .values(
                    dedupe_key=dedupe_key,
                    channel=channel,
                    user_id=user_id,
                    kind=kind,
                    destination=destination,
                    status=outcome.status,
                    detail=outcome.detail,
                )
                .on_conflict_do_nothing()
            )
        return outcome

    async def turn_off_sms(self, user_id: UUID) -> None:
        async with autocommit(self._engine) as conn:  # one statement
            await conn.execute(
                sa.update(USERS).where(USERS.c.id == user_id).values(sms_notifications=False)
            )


# A marker in provider_message_id while a call is in flight (no provider id looks like it).
_CALLING = "(calling)"
