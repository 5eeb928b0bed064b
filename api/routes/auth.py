"""Accounts and tokens: register (clients and workers), OAuth2 password login → JWT."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request

from api.deps import EngineDep, SettingsDep
from api.errors import TempworkError
from api.throttling import (
    REGISTRATION_LIMIT,
    account_key,
    client_address,
    rate_limits,
    refuse_if_exhausted,
)
from core.accounts import EmailTaken, create_user
from core.db import autocommit
from core.security import create_access_token, verify_password
from models.common import Role
from models.tables import USERS
from models.users import PasswordLogin, Token, UserPublic, UserRegister

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post(
    "/register", status_code=201, response_model=UserPublic, dependencies=[REGISTRATION_LIMIT]
)
async def register(body: UserRegister, engine: EngineDep) -> UserPublic:
    """Creates a client or worker account. Staff accounts come from `ops create-user`."""
    try:
        return await create_user(engine, body.email, body.password, body.display_name, body.role)
    except EmailTaken:
        raise TempworkError("email-taken", "an account with this email already exists") from None


@router.post("/token", response_model=Token)
async def token(
    form: Annotated[PasswordLogin, Form()],
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
) -> Token:
    """OAuth2 password flow: `username` is the email. Failed logins are limited per account
    and per client address (429 with `Retry-After` once either is used up)."""
    limits = rate_limits(request)
    buckets = (
        (account_key(form.username), settings.login_failures_per_account),
        (f"login:address:{client_address(request)}", settings.login_failures_per_address),
    )
    await refuse_if_exhausted(limits, "failed logins", *buckets)
    async with autocommit(engine) as conn:
        row = (
            (
                await conn.execute(
                    sa.select(USERS).where(sa.func.lower(USERS.c.email) == form.username.lower())
                )
            )
            .mappings()
            .first()
        )
    # Always hash-compare (even for unknown emails) so timing does not reveal who is registered.
    password_ok = verify_password(form.password, row["password_hash"] if row else None)
    if row is None or not password_ok:
        for key, limit in buckets:
            await limits.take(key, limit)
        raise TempworkError("invalid-credentials")
    return Token(
        access_token=create_access_token(settings, row["id"], Role(row["role"])),
        expires_in=int(settings.access_token_ttl.total_seconds()),
    )
