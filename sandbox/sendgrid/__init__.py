"""A local stand-in for the SendGrid v3 API subset Tempwork uses: Mail Send, Email Activity and
the signed Event Webhook, spoken to by the official SDK with only its host changed::

    sendgrid.SendGridAPIClient(api_key, host=f"{sandbox_url}/sendgrid")

See README.md beside this file for what is simulated, the test addresses and control endpoints.
"""

from __future__ import annotations

from ..faults import FaultInjector
from ..outbox import Outbox
from ..provider import MountedProvider
from ..store import Database
from .api import api_router
from .control import control_router
from .state import SendGridSandbox, SendGridSettings

__all__ = ["SendGridSandbox", "SendGridSettings", "create_sendgrid_sandbox"]


def create_sendgrid_sandbox(
    settings: SendGridSettings, db: Database, faults: FaultInjector, outbox: Outbox
) -> MountedProvider:
    """The SendGrid sandbox as the app mounts it (`/sendgrid`, `/_sandbox/sendgrid`)."""
    sandbox = SendGridSandbox(settings, db, faults, outbox)
    return MountedProvider(
        "sendgrid", sandbox, lambda: api_router(sandbox), lambda: control_router(sandbox)
    )
