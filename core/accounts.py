"""Creating accounts: shared by the API's registration and ``ops create-user``."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.security import hash_password
from models.common import Role
from models.tables import USERS
from models.users import UserPublic


class EmailTaken(Exception):
    pass


async def create_user(
    engine: AsyncEngine, email: str, password: str, display_name: str, role: Role
) -> UserPublic:
    values = {
        "id": uuid.uuid4(),
        "email": email,
        "password_hash": hash_password(password),
        "display_name": display_name,
        "role": role.value,
    }
    try:
        async with engine.begin() as conn:
            row = (
                (await conn.execute(sa.insert(USERS).values(**values).returning(USERS)))
                .mappings()
                .one()
            )
    except IntegrityError:
        raise EmailTaken(email) from None
    return UserPublic.model_validate(dict(row))
