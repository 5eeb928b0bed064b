"""What a Stripe operation gets to work with: the sandbox, its parameters, who asked."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..store import JSON, ObjectStore
from .errors import resource_missing
from .params import Params
from .state import API_VERSION, StripeSandbox

# How the API names each object type in "No such ..." messages.
NOUNS = {
    "payment_intent": "payment_intent",
    "payment_method": "PaymentMethod",
    "charge": "charge",
    "refund": "refund",
    "transfer": "transfer",
    "account": "account",
    "dispute": "dispute",
    "event": "event",
    "balance_transaction": "balance transaction",
    "identity.verification_report": "verification_report",
    "identity.verification_session": "verification_session",
}


@dataclass
class Ctx:
    sandbox: StripeSandbox
    params: Params
    path: dict[str, str] = field(default_factory=dict)
    request_id: str | None = None
    idempotency_key: str | None = None
    # The version the caller pinned (`Stripe-Version`), else the account default.
    api_version: str = API_VERSION
    created_ids: list[str] = field(default_factory=list)

    def api_version_at_least(self, version: str) -> bool:
        # Versions are dated ("2026-09-30.endive"), so the date part orders them.
        return self.api_version[:10] >= version[:10]

    @classmethod
    def internal(cls, sandbox: StripeSandbox, params: dict[str, Any] | None = None) -> Ctx:
        """For things Stripe does on its own (chargebacks) or sandbox control endpoints."""
        return cls(sandbox=sandbox, params=Params(params or {}))

    @property
    def store(self) -> ObjectStore:
        return self.sandbox.store

    @staticmethod
    def now() -> int:
        return int(time.time())

    def create(self, obj: JSON) -> JSON:
        self.store.insert(obj["object"], obj)
        self.created_ids.append(obj["id"])
        return obj

    def save(self, obj: JSON) -> JSON:
        return self.store.save(obj["object"], obj)

    def get(self, kind: str, object_id: str) -> JSON | None:
        return self.store.get(kind, object_id)

    def fetch(self, kind: str, object_id: str, *, param: str = "id", status: int = 404) -> JSON:
        obj = self.store.get(kind, object_id)
        if obj is None:
            raise resource_missing(NOUNS.get(kind, kind), object_id, param=param, status=status)
        return obj
