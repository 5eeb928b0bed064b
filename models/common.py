"""Small value types shared by workflow inputs, activity I/O and API bodies."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class Role(StrEnum):
    CLIENT = "client"
    WORKER = "worker"
    SUPPORT = "support"
    ADMIN = "admin"

    @property
    def is_staff(self) -> bool:
        return self in (Role.SUPPORT, Role.ADMIN)


class Actor(BaseModel):
    """Who issues a command; workflows re-check it so they never trust the caller blindly."""

    model_config = ConfigDict(frozen=True)

    user_id: UUID
    role: Role
