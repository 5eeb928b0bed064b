"""People and their credentials: API bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from models.common import Role
from models.text import Text

Password = Annotated[Text, StringConstraints(min_length=10, max_length=256)]


class UserRegister(BaseModel):
    email: EmailStr
    password: Password
    display_name: Text = Field(min_length=1, max_length=100)
    # Staff accounts are created from the command line (`ops create-user`), never self-served.
    role: Literal[Role.CLIENT, Role.WORKER]


class PasswordLogin(BaseModel):
    """The OAuth2 password grant's form (RFC 6749 §4.3); `username` is the email. Other
    OAuth2 form fields (scope, client_id, …) are accepted and ignored."""

    grant_type: Literal["password"] | None = None
    username: Annotated[Text, StringConstraints(min_length=1, max_length=320)]
    password: Annotated[Text, StringConstraints(min_length=1, max_length=256)]


class UserPublic(BaseModel):
    id: UUID
    email: EmailStr
    display_name: str
    role: Role
    verification_level: int  # how many verification steps are done (0-4)
    verified_steps: list[str] = []
    created_at: datetime


class NotificationPreferences(BaseModel):
    """What a person wants besides the in-app notices. Verification codes and legal notices
    are always emailed; texts go only to a verified phone number."""

    email: bool = True
    sms: bool = True


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (an OAuth2 token type, not a secret)
    expires_in: int
