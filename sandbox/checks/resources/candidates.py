"""Candidates: the people being screened.

Checkr needs only `email` for the invitation flow (the candidate types the rest of their PII
into the hosted form). The sandbox also insists on `first_name` and `last_name` so the app
always sends them: Tempwork knows them, and support reads them on the report (a deliberate,
stricter-than-Checkr contract). SSNs and driver licences are not simulated: the app must never
collect those itself; Checkr's form does.
"""

from __future__ import annotations

import copy
import re
from datetime import date

from ...store import JSON
from ..context import Ctx, Reply, RouteTable
from ..errors import CheckrError, bad_request, invalid
from ..events import emit
from ..ids import iso, new_id
from ..listing import LIST_PARAMS, list_page
from ..params import Params

routes = RouteTable()

CANDIDATE = "candidate"
DUPLICATE_WINDOW_SECONDS = 24 * 60 * 60
MAX_DUPLICATES = 2  # Checkr: "No more than 2 duplicate candidates ... within a 24 hour period"
# Checkr's "supported characters" for names.
_NAME = re.compile(r"^[a-zA-Z0-9ªµºÀ-ÖØ-öø-ÿ\-'., ]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ZIPCODE = re.compile(r"^\d{5}$")
_TEXT_FIELDS = ("phone", "custom_id", "mother_maiden_name")
_NOT_SIMULATED = (
    "ssn",
    "driver_license_number",
    "driver_license_state",
    "previous_driver_license_number",
    "previous_driver_license_state",
    "postal_address",
    "geo_ids",
)
_FIELDS = (
    "first_name",
    "middle_name",
    "no_middle_name",
    "last_name",
    "mother_maiden_name",
    "email",
    "phone",
    "zipcode",
    "dob",
    "copy_requested",
    "custom_id",
    "metadata",
    "work_locations",
)


@routes.route("POST", "/v1/candidates")
def create_candidate(ctx: Ctx) -> Reply:
    p = ctx.params
    p.only(*_FIELDS, not_simulated=_NOT_SIMULATED)
    p.require("email", "first_name", "last_name")
    now = ctx.now()
    candidate_id = new_id()
    candidate: JSON = {
        "id": candidate_id,
        "object": CANDIDATE,
        "uri": f"/v1/candidates/{candidate_id}",
        "created_at": iso(now),
        "first_name": None,
        "last_name": None,
        "middle_name": None,
        "mother_maiden_name": None,
        "dob": None,
        "ssn": None,
        "email": None,
        "zipcode": None,
        "phone": None,
        "driver_license_state": None,
        "driver_license_number": None,
        "copy_requested": False,
        "previous_driver_license_state": None,
        "previous_driver_license_number": None,
        "adjudication": None,
        "custom_id": None,
        "no_middle_name": False,
        "report_ids": [],
        "geo_ids": [],
        "metadata": {},
        "_created": now,
        "_work_locations": [],
    }
    _apply(p, candidate)
    _refuse_duplicates(ctx, candidate)
    ctx.create(candidate)
    emit(ctx.state, "candidate.created", candidate)
    return Reply(201, candidate)


@routes.route("POST", "/v1/candidates/{id}")
def update_candidate(ctx: Ctx) -> JSON:
    p = ctx.params
    p.only(*_FIELDS, not_simulated=_NOT_SIMULATED)
    candidate = ctx.fetch(CANDIDATE, ctx.path["id"])
    # Validate on a copy: a refused update must leave the stored candidate as it was.
    updated = copy.deepcopy(candidate)
    _apply(p, updated)
    candidate.update(updated)
    ctx.save(candidate)
    emit(ctx.state, "candidate.updated", candidate)
    return candidate


@routes.route("GET", "/v1/candidates/{id}")
def get_candidate(ctx: Ctx) -> JSON:
    ctx.params.only()
    return ctx.fetch(CANDIDATE, ctx.path["id"])


@routes.route("GET", "/v1/candidates")
def list_candidates(ctx: Ctx) -> JSON:
    p = ctx.params
    p.only(
        *LIST_PARAMS,
        "email",
        "custom_id",
        not_simulated=(
            "full_name",
            "adjudication",
            "created_after",
            "created_before",
            "driver_license_number",
            "geo_id",
            "program_id",
            "metadata",
        ),
    )
    filters = {name: value for name in ("email", "custom_id") if (value := p.string(name))}
    found = [
        c
        for c in ctx.store.all(CANDIDATE)
        if all(str(c.get(name) or "").lower() == value.lower() for name, value in filters.items())
    ]
    return list_page(ctx, "/v1/candidates", found, filters)


def _apply(p: Params, candidate: JSON) -> None:
    """Validate and copy the given fields (create and update share the rules)."""
    errors: list[str] = []
    for name, label in (
        ("first_name", "First name"),
        ("middle_name", "Middle name"),
        ("last_name", "Last name"),
    ):
        value = p.string(name)
        if value is None:
            continue
        if not _NAME.match(value):
            errors.append(
                f"{label} must only contain letters, numbers, spaces, hyphens, apostrophes, "
                "periods, and commas"
            )
        candidate[name] = value
    email = p.string("email")
    if email is not None:
        if not _EMAIL.match(email):
            errors.append("Email is not a valid email address")
        candidate["email"] = email
    zipcode = p.string("zipcode")
    if zipcode is not None:
        if not _ZIPCODE.match(zipcode):
            errors.append("Zipcode is invalid")
        candidate["zipcode"] = zipcode
    dob = p.string("dob")
    if dob is not None:
        if not _valid_dob(dob):
            errors.append("Dob is invalid")
        candidate["dob"] = dob
    if errors:
        raise bad_request(", ".join(errors))
    for name in _TEXT_FIELDS:
        if name in p:
            candidate[name] = p.string(name)
    if "no_middle_name" in p:
        candidate["no_middle_name"] = p.boolean("no_middle_name")
    if candidate["no_middle_name"] and candidate["middle_name"]:
        raise bad_request("Middle name must be blank when no_middle_name is true")
    if "copy_requested" in p:
        candidate["copy_requested"] = p.boolean("copy_requested")
    metadata = p.mapping("metadata")
    if metadata is not None:
        if not all(isinstance(v, str) for v in metadata.values()):
            raise invalid("metadata")
        candidate["metadata"] = dict(metadata)
    if "work_locations" in p:
        candidate["_work_locations"] = work_locations(p)


def work_locations(p: Params) -> list[JSON]:
    """`[{country, state, city}]`: country defaults to US; US locations need a state."""
    locations = []
    for index, raw in enumerate(p.hashes("work_locations")):
        where = f"work_locations[{index}]"
        unknown = set(raw) - {"country", "state", "city"}
        if unknown:
            raise bad_request(f"{where}[{sorted(unknown)[0]}] is not a recognized parameter")
        country = raw.get("country") or "US"
        state, city = raw.get("state"), raw.get("city")
        if not isinstance(country, str) or not re.match(r"^[A-Z]{2}$", country):
            raise bad_request(f"{where}[country] is invalid")
        if country == "US" and not state:
            raise CheckrError(400, f"{where}[state] is missing")
        if state is not None and (not isinstance(state, str) or not re.match(r"^[A-Z]{2}$", state)):
            raise bad_request(f"{where}[state] is invalid")
        if city is not None and (not isinstance(city, str) or len(city) > 255):
            raise bad_request(f"{where}[city] is invalid")
        locations.append({"country": country, "state": state, "city": city})
    return locations


def _valid_dob(value: str) -> bool:
    try:
        born = date.fromisoformat(value)
    except ValueError:
        return False
    return born < date.today()  # noqa: DTZ011  (a calendar date, no time zone involved)


def _refuse_duplicates(ctx: Ctx, candidate: JSON) -> None:
    since = ctx.now() - DUPLICATE_WINDOW_SECONDS

    def same_person(other: JSON) -> bool:
        return other["_created"] >= since and all(
            (other[k] or "").lower() == (candidate[k] or "").lower()
            for k in ("email", "first_name", "last_name")
        )

    if sum(1 for other in ctx.store.all(CANDIDATE) if same_person(other)) >= MAX_DUPLICATES:
        raise CheckrError(
            409,
            "Duplicate candidate detected. No more than 2 duplicate candidates can be created "
            "within a 24 hour period",
        )
