"""Stripe's idempotency keys, the base of the app's exactly-once money movements.

Rules followed (https://docs.stripe.com/api/idempotent_requests):
- the first request with a key executes; its status and body are saved, success or failure;
- the same key with the same parameters replays that response byte for byte, with
  `Idempotent-Replayed: true` and `Original-Request: <first request id>` headers;
- the same key with other parameters (or another endpoint) is refused with `idempotency_error`;
- a request refused by validation, or refused because another request with the key is still
  executing (409 `idempotency_key_in_use`), saves nothing;
- keys are scoped to the API key and may be forgotten after 24 hours.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..store import ObjectStore
from .errors import StripeError, invalid_request

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


def fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    canonical = json.dumps([method, path, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeys:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
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
            raise invalid_request(
                f"Invalid idempotency key: keys can be up to {MAX_KEY_LENGTH} characters long."
            )
        rid = record_id(scope, key)
        if rid in self._in_progress:
            raise StripeError(
                409,
                "invalid_request_error",
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still going "
                f"through): {key}. Please try again later.",
                code="idempotency_key_in_use",
                # The SDK retries 409s on its own when it has retries left; say so explicitly.
                headers={"Stripe-Should-Retry": "true"},
            )
        self._in_progress.add(rid)

    def end(self, scope: str, key: str) -> None:
        self._in_progress.discard(record_id(scope, key))

    def save(self, record: IdempotencyRecord) -> None:
        self.store.save(RECORD, {"id": record.record_id, **asdict(record)})

    def find_by_key(self, key: str) -> list[IdempotencyRecord]:
        return [
            IdempotencyRecord(**{k: v for k, v in raw.items() if k != "id"})
            for raw in self.store.all(RECORD)
            if raw["key"] == key
        ]

    def reset(self) -> None:
        self._in_progress.clear()


def mismatch_error(key: str) -> StripeError:
    return StripeError(
        400,
        "idempotency_error",
        "Keys for idempotent requests can only be used with the same parameters they were "
        f"first used with. Try using a key other than '{key}' if you meant to execute a "
        "different request.",
    )
