"""A local stand-in for the Twilio APIs Tempwork uses (Messages, Verify, inbound texts), spoken
to by the official SDK with only the host changed (see sandbox/twilio/README.md)::

    Client(account_sid, auth_token,
           http_client=core.twilio_http.TwilioHttpClient(api_base=f"{url}/twilio"))
"""

from __future__ import annotations

from ..faults import FaultInjector
from ..outbox import Outbox
from ..provider import MountedProvider
from ..store import Database
from .api import api_router
from .control import control_router
from .state import API_VERSION, TwilioSandbox, TwilioSettings

__all__ = [
    "API_VERSION",
    "TwilioSandbox",
    "TwilioSettings",
    "create_twilio_sandbox",
]


def create_twilio_sandbox(
    settings: TwilioSettings, db: Database, faults: FaultInjector, outbox: Outbox
) -> MountedProvider:
    """The Twilio sandbox as the app mounts it (`/twilio`, `/_sandbox/twilio`)."""
    sandbox = TwilioSandbox(settings, db, faults, outbox)
    return MountedProvider(
        "twilio", sandbox, lambda: api_router(sandbox), lambda: control_router(sandbox)
    )
