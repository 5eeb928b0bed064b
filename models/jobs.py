"""Job postings and applications: workflow I/O and API bodies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints, field_validator

from models.common import Actor
from models.contracts import ContractPolicy, ContractState, MilestoneSpec
from models.money import MAX_CENTS
from models.text import Text

Currency = Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$", to_lower=True)]
Skill = Annotated[
    Text, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=40)
]


class JobStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CloseReason(StrEnum):
    FILLED = "filled"
    BY_CLIENT = "closed_by_client"
    EXPIRED = "expired"


def unique_skills(skills: list[str]) -> list[str]:
    """Skills as given, each once (the first place it appears)."""
    return list(dict.fromkeys(skills))


class ApplicationStatus(StrEnum):
    APPLIED = "applied"
    SHORTLISTED = "shortlisted"
    DECLINED = "declined"
    HIRED = "hired"


# --- API bodies ---------------------------------------------------------------------------


class GeoPoint(BaseModel):
    latitude: float = Field(ge=-90, le=90, allow_inf_nan=False)
    longitude: float = Field(ge=-180, le=180, allow_inf_nan=False)


class JobLocation(GeoPoint):
    """Where on-site work happens; searchable by distance (``GET /v1/jobs?near=``)."""

    city: Text = Field(min_length=1, max_length=100)


class JobCreate(BaseModel):
    title: Text = Field(min_length=3, max_length=200)
    description: Text = Field(min_length=1, max_length=20_000)
    skills: list[Skill] = Field(default_factory=list, max_length=30)
    budget_cents: int = Field(gt=0, le=MAX_CENTS)
    currency: Currency = "usd"
    positions: int = Field(default=1, ge=1, le=100)
    on_site: bool = Field(
        default=False,
        description="Work at the client's place: applicants also need a passed background check",
    )
    location: JobLocation | None = None

    _unique_skills = field_validator("skills")(unique_skills)


class ApplicationCreate(BaseModel):
    cover_letter: Text = Field(min_length=1, max_length=10_000)


class HireRequest(BaseModel):
    milestones: list[MilestoneSpec] = Field(min_length=1, max_length=50)


# --- workflow I/O -------------------------------------------------------------------------


class Application(BaseModel):
    application_id: UUID
    job_id: UUID
    worker_id: UUID
    cover_letter: str
    status: ApplicationStatus = ApplicationStatus.APPLIED
    contract_id: UUID | None = None
    applied_at: datetime
    updated_at: datetime


class JobPostingState(BaseModel):
    job_id: UUID
    client_id: UUID
    title: str
    description: str
    skills: list[str]
    budget_cents: int
    currency: str
    positions: int
    on_site: bool = False
    location: JobLocation | None = None  # absent from runs started before locations existed
    min_verification_level: int
    # Verification steps an applicant must have passed (settings at posting time).
    required_verifications: list[str] = Field(default_factory=list)
    status: JobStatus = JobStatus.OPEN
    close_reason: CloseReason | None = None
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None = None
    hired_count: int = 0
    applications: dict[str, Application] = Field(default_factory=dict)
    version: int = 0

    def application(self, application_id: UUID) -> Application | None:
        return self.applications.get(str(application_id))

    def has_applicant(self, worker_id: UUID) -> bool:
        return any(a.worker_id == worker_id for a in self.applications.values())


class JobPostingInput(BaseModel):
    job_id: UUID
    client_id: UUID
    job: JobCreate
    created_at: datetime
    expires_after: timedelta
    min_verification_level: int = 0  # kept so runs started before verification steps replay
    required_verifications: list[str] = Field(default_factory=list)
    # Continue-as-new carries the whole state forward; None on the first run.
    carried_state: JobPostingState | None = None


class Apply(BaseModel):
    actor: Actor
    application_id: UUID
    cover_letter: str
    # Read by the API from Postgres at the time of the command: validators cannot do I/O.
    verification_level: int
    verified_steps: list[str] = Field(default_factory=list)


class ApplicationDecision(BaseModel):
    actor: Actor
    application_id: UUID


class Hire(BaseModel):
    actor: Actor
    application_id: UUID
    contract_id: UUID
    milestones: list[MilestoneSpec]
    policy: ContractPolicy


class HireResult(BaseModel):
    job: JobPostingState
    contract: ContractState


class CloseJob(BaseModel):
    actor: Actor


# --- projections / API output -------------------------------------------------------------


class JobPublic(BaseModel):
    id: UUID
    client_id: UUID
    title: str
    description: str
    skills: list[str]
    budget_cents: int
    currency: str
    positions: int
    hired_count: int
    on_site: bool = False
    location: JobLocation | None = None
    status: JobStatus
    close_reason: CloseReason | None
    created_at: datetime
    expires_at: datetime

    @classmethod
    def from_state(cls, s: JobPostingState) -> JobPublic:
        return cls(id=s.job_id, **s.model_dump(exclude={"job_id", "applications"}))

    @classmethod
    def from_row(cls, row: Mapping[str, Any], **extra: Any) -> Self:
        """From a ``jobs`` row, whose location is three nullable columns."""
        values = dict(row)
        city, latitude, longitude = (values.pop(k, None) for k in ("city", "latitude", "longitude"))
        if latitude is not None:
            values["location"] = {"city": city, "latitude": latitude, "longitude": longitude}
        return cls.model_validate(values | extra)


class ApplicationPublic(BaseModel):
    id: UUID
    job_id: UUID
    worker_id: UUID
    cover_letter: str
    status: ApplicationStatus
    contract_id: UUID | None
    applied_at: datetime

    @classmethod
    def from_application(cls, a: Application) -> ApplicationPublic:
        return cls(id=a.application_id, **a.model_dump(exclude={"application_id"}))
