"""Worker profiles and finding workers: a worker writes their profile; anyone signed in
searches workers and reads a profile. Ratings, badges and history come from the workflows."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import StringConstraints, ValidationError
from sqlalchemy.dialects.postgresql import insert

from api.deps import CurrentUser, EngineDep, SearchDep, WorkerUser
from api.errors import NotFound
from core.db import autocommit
from models.money import MAX_CENTS
from models.search import (
    MAX_PAGE,
    MAX_RADIUS_KM,
    OwnProfile,
    ProfileUpdate,
    ServiceArea,
    WorkerPage,
    WorkerProfilePublic,
    WorkerQuery,
    WorkerSort,
)
from models.tables import USERS, WORKER_PROFILES
from models.text import Text
from search import SearchBackend

router = APIRouter(prefix="/v1", tags=["workers"])

# A point as people write one: "lat,lon" in decimal degrees ("52.52,13.405").
Near = Annotated[
    Text | None,
    Query(
        max_length=64,
        pattern=r"^\s*[-+]?\d{1,3}(\.\d+)?\s*,\s*[-+]?\d{1,3}(\.\d+)?\s*$",
        description="`lat,lon` in decimal degrees, e.g. `40.7128,-74.0060`",
    ),
]
Radius = Annotated[
    float | None,
    Query(gt=0, le=MAX_RADIUS_KM, description="Kilometres around `near` (default 25)"),
]
SearchWords = Annotated[
    Text | None,
    Query(
        max_length=200,
        description='Words to find (all of them; "a phrase", `or`, `-word`); '
        "the last word also matches as a prefix while typing",
    ),
]
Skills = Annotated[
    list[Annotated[Text, StringConstraints(max_length=200)]] | None,
    Query(max_length=30, description="All of these skills (repeat, or comma-separate)"),
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def skills_list(skills: list[str] | None) -> list[str]:
    return [s.strip().lower() for item in skills or [] for s in item.split(",") if s.strip()]


def point(near: str | None) -> dict[str, float] | None:
    if near is None:
        return None
    latitude, longitude = (float(part) for part in near.split(","))
    return {"latitude": latitude, "longitude": longitude}


def search_query(model: type[Any], **params: Any) -> Any:
    """The query model from query-string values; its errors answer 422 like FastAPI's own,
    located in the query string (``["query", "near", "latitude"]``)."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise RequestValidationError(
            [e | {"loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


@router.get("/workers", response_model=WorkerPage)
async def search_workers(
    user: CurrentUser,
    search: SearchDep,
    q: SearchWords = None,
    skills: Skills = None,
    near: Near = None,
    radius_km: Radius = None,
    min_rating: Annotated[float | None, Query(ge=0, le=5, description="Average stars")] = None,
    verified: Annotated[bool | None, Query(description="Identity verified (or not)")] = None,
    max_rate: Annotated[
        int | None, Query(gt=0, le=MAX_CENTS, description="Hourly rate at most, in cents")
    ] = None,
    sort: WorkerSort = WorkerSort.RELEVANCE,
    cursor: Annotated[Text | None, Query(max_length=512)] = None,
    limit: Limit = 20,
) -> WorkerPage:
    """Workers with a profile, best first: relevance (docs/search.md has the formula), the
    best rated, or the nearest. Pages with `next_cursor`; every worker appears once."""
    query: WorkerQuery = search_query(
        WorkerQuery,
        q=q,
        skills=skills_list(skills),
        near=point(near),
        radius_km=radius_km,
        min_rating=min_rating,
        verified=verified,
        max_rate_cents=max_rate,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    return await search.workers(query)


@router.get("/workers/{user_id}", response_model=WorkerProfilePublic)
async def get_worker(
    user_id: uuid.UUID, user: CurrentUser, search: SearchDep
) -> WorkerProfilePublic:
    profile = await search.worker(user_id)
    if profile is None:
        raise NotFound("worker profile")
    return profile


@router.put("/me/profile", response_model=OwnProfile)
async def put_profile(
    body: ProfileUpdate, user: WorkerUser, engine: EngineDep, search: SearchDep
) -> OwnProfile:
    """Creates or replaces the worker's own profile. Saving it counts as activity (recency)."""
    area = body.service_area
    values = {
        "headline": body.headline,
        "bio": body.bio,
        "skills": body.skills,
        "hourly_rate_cents": body.hourly_rate_cents,
        "currency": body.currency,
        "city": area.city,
        "latitude": area.latitude,
        "longitude": area.longitude,
        "service_radius_km": area.radius_km,
        "availability": body.availability.value,
    }
    stamps = {"active_at": sa.func.now(), "updated_at": sa.func.now()}
    upsert = insert(WORKER_PROFILES).values(user_id=user.id, **values, **stamps)
    async with engine.begin() as conn:
        # The person's row first, as refresh_member_facts() takes it: a fact that lands while
        # the profile is being created is then either copied below or applied after.
        await conn.execute(
            sa.select(USERS.c.id).where(USERS.c.id == user.id).with_for_update(key_share=True)
        )
        await conn.execute(
            upsert.on_conflict_do_update(index_elements=["user_id"], set_=values | stamps)
        )
        await conn.execute(sa.select(sa.func.refresh_member_facts(user.id)))
    return await own_profile(search, engine, user.id)


@router.get("/me/profile", response_model=OwnProfile)
async def get_own_profile(user: WorkerUser, engine: EngineDep, search: SearchDep) -> OwnProfile:
    return await own_profile(search, engine, user.id)


async def own_profile(search: SearchBackend, engine: Any, user_id: uuid.UUID) -> OwnProfile:
    public = await search.worker(user_id)
    p = WORKER_PROFILES
    async with autocommit(engine) as conn:
        area = (
            (
                await conn.execute(
                    sa.select(
                        p.c.city,
                        p.c.latitude,
                        p.c.longitude,
                        p.c.service_radius_km.label("radius_km"),
                    ).where(p.c.user_id == user_id)
                )
            )
            .mappings()
            .first()
        )
    if public is None or area is None:
        raise NotFound("worker profile")
    return OwnProfile(**public.model_dump(), service_area=ServiceArea.model_validate(dict(area)))
