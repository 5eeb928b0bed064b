"""Worker profiles and search: API bodies, the queries a search backend answers, its pages.

A query is backend-neutral (search/__init__.py): the same WorkerQuery is answered by
PostgreSQL today and could be by OpenSearch tomorrow (docs/search.md).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from models.jobs import Currency, GeoPoint, JobLocation, JobPublic, Skill, unique_skills
from models.money import MAX_CENTS
from models.text import Text

MAX_RADIUS_KM = 500
DEFAULT_RADIUS_KM = 25
MAX_PAGE = 100


class Availability(StrEnum):
    AVAILABLE = "available"
    LIMITED = "limited"
    UNAVAILABLE = "unavailable"


class ServiceArea(JobLocation):
    """Where a worker works: a centre they choose (not necessarily home) and how far they go."""

    radius_km: int = Field(ge=1, le=MAX_RADIUS_KM)


class ProfileUpdate(BaseModel):
    """``PUT /v1/me/profile``: the worker's own words; ratings, badges and history are not
    theirs to write (the workflows establish them)."""

    headline: Text = Field(min_length=3, max_length=120)
    bio: Text = Field(default="", max_length=5_000)
    skills: list[Skill] = Field(min_length=1, max_length=30)
    hourly_rate_cents: int = Field(gt=0, le=MAX_CENTS)
    currency: Currency = "usd"
    service_area: ServiceArea
    availability: Availability = Availability.AVAILABLE

    _unique_skills = field_validator("skills")(unique_skills)


class Rating(BaseModel):
    average: float | None = Field(description="Mean of revealed reviews, 2 decimals; None if none")
    count: int


class WorkerCard(BaseModel):
    """A worker as search lists them. Coordinates are not shown: only the city and, for a
    search near a point, the distance rounded to 0.1 km."""

    user_id: UUID
    display_name: str
    headline: str
    skills: list[str]
    hourly_rate_cents: int
    currency: str
    city: str
    service_radius_km: int
    availability: Availability
    badges: list[str] = Field(description="Verification steps passed")
    rating: Rating
    completed_contracts: int
    response_minutes: int | None = Field(description="Median minutes from offer to acceptance")
    distance_km: float | None = None


class WorkerProfilePublic(WorkerCard):
    bio: str
    active_at: datetime
    updated_at: datetime


class OwnProfile(WorkerProfilePublic):
    """What the worker sees of their own profile: everything they wrote, coordinates too."""

    service_area: ServiceArea


class WorkerSort(StrEnum):
    RELEVANCE = "relevance"
    RATING = "rating"
    DISTANCE = "distance"


class JobSort(StrEnum):
    RELEVANCE = "relevance"
    NEWEST = "newest"
    BUDGET = "budget"


SearchText = Annotated[Text, StringConstraints(max_length=200)]


class _Query(BaseModel):
    q: SearchText | None = None
    skills: list[Skill] = Field(default_factory=list, max_length=30)
    near: GeoPoint | None = None
    radius_km: float | None = Field(default=None, gt=0, le=MAX_RADIUS_KM, allow_inf_nan=False)
    cursor: str | None = None
    limit: int = Field(default=20, ge=1, le=MAX_PAGE)

    @model_validator(mode="after")
    def _radius_needs_a_point(self) -> _Query:
        if self.radius_km is not None and self.near is None:
            raise ValueError("radius_km needs near=lat,lon")
        if getattr(self, "sort", None) == "distance" and self.near is None:
            raise ValueError("sort=distance needs near=lat,lon")
        return self

    @property
    def radius(self) -> float:
        return self.radius_km if self.radius_km is not None else DEFAULT_RADIUS_KM


class WorkerQuery(_Query):
    min_rating: float | None = Field(default=None, ge=0, le=5, allow_inf_nan=False)
    verified: bool | None = Field(default=None, description="Identity verified (or not)")
    max_rate_cents: int | None = Field(default=None, gt=0, le=MAX_CENTS)
    sort: WorkerSort = WorkerSort.RELEVANCE


class JobQuery(_Query):
    min_budget: int | None = Field(default=None, ge=0, le=MAX_CENTS)
    max_budget: int | None = Field(default=None, ge=0, le=MAX_CENTS)
    status: Literal["open", "closed", "all"] = "open"
    sort: JobSort | None = Field(
        default=None, description="Default: relevance when there are words, else newest"
    )

    @property
    def order(self) -> JobSort:
        if self.sort is not None:
            return self.sort
        return JobSort.RELEVANCE if self.q and self.q.strip() else JobSort.NEWEST


class WorkerPage(BaseModel):
    items: list[WorkerCard]
    next_cursor: str | None


class JobHit(JobPublic):
    distance_km: float | None = None


class JobHitPage(BaseModel):
    items: list[JobHit]
    next_cursor: str | None
