"""Provider webhooks, one module per provider: verify the signature with the provider's own
helper, record the event id once, then hand the news to the workflow it concerns as a signal
(or, for delivery news, to the delivery record). Unknown people, sessions or messages are
answered exactly like known ones."""

from __future__ import annotations

from fastapi import APIRouter

from api.throttling import WEBHOOK_LIMIT
from api.webhooks import checks, sendgrid, stripe, twilio

# Bursts are limited per provider and sending address before any signature work is done.
router = APIRouter(
    prefix="/webhooks", tags=["webhooks"], include_in_schema=True, dependencies=[WEBHOOK_LIMIT]
)
for module in (stripe, twilio, sendgrid, checks):
    router.include_router(module.router)
