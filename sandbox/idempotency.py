"""Idempotency keys for every provider sandbox that honours them (Stripe, the check provider).

Rules (Stripe's, https://docs.stripe.com/api/idempotent_requests, which the check provider's
API copies):
- the first request with a key executes; its status and body are saved, success or failure;
- the same key with the same parameters replays that response byte for byte;
- the same key with other parameters (or another endpoint) is refused;
- a request refused by validation, or refused because another request with the key is still
  executing (409), saves nothing;
- keys are scoped to the API key and may be forgotten after 24 hours.

How a refusal looks is the provider's business: each passes its own error factories.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .store import ObjectStore

RECORD = "_idempotency"
KEY_TTL_SECONDS = 24 * 60 * 60
MAX_KEY_LENGTH = 255


@dataclass
class IdempotencyRecord:
    scope: str
    key: str
    fingerprint: str
    method: str
    path: str
    status: int
    body: str
    request_id: str
    created: float
    object_ids: list[str] = field(default_factory=list)

    @property
    def record_id(self) -> str:
        return record_id(self.scope, self.key)


def record_id(scope: str, key: str) -> str:
    return f"{scope}:{key}"


def scope_for(api_key: str) -> str:
    # Only a digest is stored, so the data file never contains the secret key.
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def fingerprint(method: str, path: str, params: Any) -> str:
    canonical = json.dumps([method, path, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeys:
    def __init__(
        self,
        store: ObjectStore,
        *,
        key_too_long: Callable[[str], Exception],
        key_in_use: Callable[[str], Exception],
    ) -> None:
        self.store = store
        self._key_too_long = key_too_long
        self._key_in_use = key_in_use
        self._in_progress: set[str] = set()

    def lookup(self, scope: str, key: str) -> IdempotencyRecord | None:
        raw = self.store.get(RECORD, record_id(scope, key))
        if raw is None:
            return None
        record = IdempotencyRecord(**{k: v for k, v in raw.items() if k != "id"})
        if time.time() - record.created > KEY_TTL_SECONDS:
            self.store.delete(RECORD, record.record_id)
            return None
        return record

    def begin(self, scope: str, key: str) -> None:
        """Claim the key for one executing request (the event loop makes this atomic)."""
        if len(key) > MAX_KEY_LENGTH:
            raise self._key_too_long(key)
        rid = record_id(scope, key)
        if rid in self._in_progress:
            raise self._key_in_use(key)
        self._in_progress.add(rid)

    def end(self, scope: str, key: str) -> None:
        self._in_progress.discard(record_id(scope, key))

    def save(self, record: IdempotencyRecord) -> None:
        self.store.save(RECORD, {"id": record.record_id, **asdict(record)})

    def find_by_key(self, key: str) -> list[IdempotencyRecord]:
        return [record for record in self.all_records() if record.key == key]

    def all_records(self) -> list[IdempotencyRecord]:
        return [
            IdempotencyRecord(**{k: v for k, v in raw.items() if k != "id"})
            for raw in self.store.all(RECORD)
        ]

    def reset(self) -> None:
        self._in_progress.clear()
