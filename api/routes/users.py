"""The signed-in user, public reviews of a user, and a user's notifications."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import CurrentUser, EngineDep
from api.errors import NotFound
from core.db import autocommit
from models.common import Role
from models.tables import NOTIFICATIONS, REVIEWS, USERS
from models.users import NotificationPreferences, UserPublic

router = APIRouter(prefix="/v1", tags=["users"])


class ReviewOut(BaseModel):
    contract_id: uuid.UUID
    author_id: uuid.UUID
    author_role: Role
    rating: int
    comment: str
    submitted_at: datetime


class UserReviews(BaseModel):
    user_id: uuid.UUID
    count: int
    average_rating: float | None
    reviews: list[ReviewOut]


class NotificationOut(BaseModel):
    id: uuid.UUID
    kind: str
    subject: str
    body: str
    created_at: datetime


@router.get("/me", response_model=UserPublic)
async def me(user: CurrentUser) -> UserPublic:
    return user


@router.get("/users/{user_id}/reviews", response_model=UserReviews)
async def user_reviews(
    user_id: uuid.UUID, engine: EngineDep, limit: int = Query(50, ge=1, le=200)
) -> UserReviews:
    """Revealed reviews only: a blind review stays hidden until both are in or time is up."""
    async with autocommit(engine) as conn:
        if (await conn.execute(sa.select(USERS.c.id).where(USERS.c.id == user_id))).first() is None:
            raise NotFound("user")
        visible = (REVIEWS.c.subject_id == user_id) & REVIEWS.c.revealed_at.is_not(None)
        rows = (
            await conn.execute(
                sa.select(REVIEWS)
                .where(visible)
                .order_by(REVIEWS.c.submitted_at.desc())
                .limit(limit)
            )
        ).mappings()
        reviews = [ReviewOut.model_validate(dict(r)) for r in rows]
        count, average = (
            await conn.execute(
                sa.select(sa.func.count(), sa.func.avg(REVIEWS.c.rating)).where(visible)
            )
        ).one()
    return UserReviews(
        user_id=user_id,
        count=count,
        average_rating=round(float(average), 2) if average is not None else None,
        reviews=reviews,
    )


@router.get("/me/notifications", response_model=list[NotificationOut])
async def my_notifications(
    user: CurrentUser, engine: EngineDep, limit: int = Query(50, ge=1, le=200)
) -> list[NotificationOut]:
    async with autocommit(engine) as conn:
        rows = (
            await conn.execute(
                sa.select(NOTIFICATIONS)
                .where(NOTIFICATIONS.c.user_id == user.id)
                .order_by(NOTIFICATIONS.c.created_at.desc())
                .limit(limit)
            )
        ).mappings()
        return [NotificationOut.model_validate(dict(r)) for r in rows]


@router.get("/me/notification-preferences", response_model=NotificationPreferences)
async def my_notification_preferences(
    user: CurrentUser, engine: EngineDep
) -> NotificationPreferences:
    async with autocommit(engine) as conn:
        row = (
            await conn.execute(
                sa.select(USERS.c.email_notifications, USERS.c.sms_notifications).where(
                    USERS.c.id == user.id
                )
            )
        ).one()
    return NotificationPreferences(email=row.email_notifications, sms=row.sms_notifications)


@router.put("/me/notification-preferences", response_model=NotificationPreferences)
async def set_notification_preferences(
    body: NotificationPreferences, user: CurrentUser, engine: EngineDep
) -> NotificationPreferences:
    """Turn email or text-message notices on or off (replying STOP to a text turns texts off
    too, START back on). In-app notices always stay."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(USERS)
            .where(USERS.c.id == user.id)
            .values(email_notifications=body.email, sms_notifications=body.sms)
        )
    return body
