"""Password hashing (argon2id) and access tokens (JWT)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.settings import Settings
from models.common import Role

_hasher = PasswordHasher()
# Verifying against this when the email is unknown keeps login timing the same for unknown
# and known users, so the endpoint does not reveal who has an account.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def create_access_token(settings: Settings, user_id: UUID, role: Role) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "role": role.value,
        "iat": now,
        "exp": now + settings.access_token_ttl,
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), settings.jwt_algorithm)


def decode_access_token(settings: Settings, token: str) -> tuple[UUID, Role]:
    """Raises ``jwt.InvalidTokenError`` for anything that is not a valid, unexpired token."""
    claims = jwt.decode(
        token,
        settings.jwt_secret.get_secret_value(),
        algorithms=[settings.jwt_algorithm],
        options={"require": ["sub", "exp", "role"]},
    )
    try:
        return UUID(claims["sub"]), Role(claims["role"])
    except ValueError as exc:
        raise jwt.InvalidTokenError("malformed claims") from exc
