"""Delivering a notice to a person by email and text: one activity per notice.

One activity (not one per channel) because every activity result wakes its workflow for a
task of its own: notices are most of a contract's activities, and halving them was measured
(make bench) to be most of what telling people costs. Each channel keeps its own delivery
record, so a retry after the email went out sends only what is still owed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.deliveries import DeliveryLog
from activities.email import EmailActivities
from activities.sms import SmsActivities
from models.notices import NoticeDelivered, NoticeDelivery


class NoticeActivities:
    def __init__(self, email: EmailActivities, sms: SmsActivities, engine: AsyncEngine) -> None:
        self._email, self._sms = email, sms
        self._log = DeliveryLog(engine)

    @activity.defn(name="notices.deliver")
    async def deliver(self, req: NoticeDelivery) -> NoticeDelivered:
        # Read at send time, not when the notice was written: a STOP that arrived meanwhile
        # counts, and so does a number verified meanwhile.
        contact = await self._log.contact(req.user_id)
        email = await self._email.send_notice(req, contact)
        sms = await self._sms.send_notice(req, contact) if req.notice.sms else None
        return NoticeDelivered(email=email, sms=sms)

    def all(self) -> list[Any]:
        return [self.deliver]
