"""Request dependencies: settings, database, Temporal client, the current user and roles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import jwt
import sqlalchemy as sa
from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api.errors import Forbidden, TempworkError
from core.db import autocommit
from core.security import decode_access_token
from core.settings import Settings
from models.common import Actor, Role
from models.tables import USERS
from models.text import Text
from models.users import UserPublic
from search import SearchBackend

oauth2 = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


# Dependencies are ``async def`` even where they await nothing: FastAPI runs a plain ``def``
# dependency in a worker thread, a thread hop per dependency per request (5 % of the API's
# CPU on the contract read in make bench's profile).


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


async def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


async def get_search(request: Request) -> SearchBackend:
    backend: SearchBackend = request.app.state.search
    return backend


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SearchDep = Annotated[SearchBackend, Depends(get_search)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
IdempotencyKey = Annotated[
    Text | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Replays the first result",
    ),
]


# Built once: SQLAlchemy memoizes a statement's cache key on the object, so reusing it skips
# rebuilding and re-keying the query on every authenticated request.
_USER_BY_ID = sa.select(USERS).where(USERS.c.id == sa.bindparam("id"))


async def get_current_user(
    token: Annotated[str | None, Depends(oauth2)], settings: SettingsDep, engine: EngineDep
) -> UserPublic:
    if not token:
        raise TempworkError("unauthorized")
    try:
        user_id, _ = decode_access_token(settings, token)
    except jwt.InvalidTokenError:
        raise TempworkError("unauthorized", "the token is invalid or has expired") from None
    async with autocommit(engine) as conn:
        row = (await conn.execute(_USER_BY_ID, {"id": user_id})).mappings().first()
    if row is None:
        raise TempworkError("unauthorized", "the account no longer exists")
    # The role comes from the database, not the token, so a changed role applies at once.
    return UserPublic.model_validate(dict(row))


CurrentUser = Annotated[UserPublic, Depends(get_current_user)]


def actor(user: UserPublic) -> Actor:
    return Actor(user_id=user.id, role=user.role)


def require_role(*roles: Role) -> Callable[[UserPublic], Awaitable[UserPublic]]:
    allowed = set(roles)

    async def check(user: CurrentUser) -> UserPublic:
        if user.role not in allowed:
            names = " or ".join(sorted(r.value for r in roles))
            raise Forbidden(f"only a {names} can do this")
        return user

    return check


ClientUser = Annotated[UserPublic, Depends(require_role(Role.CLIENT))]
WorkerUser = Annotated[UserPublic, Depends(require_role(Role.WORKER))]
StaffUser = Annotated[UserPublic, Depends(require_role(Role.SUPPORT, Role.ADMIN))]
