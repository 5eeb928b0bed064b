"""Reports: created `pending` when an invitation is completed, `complete` with a result of
`clear` or `consider` after `report_delay_seconds` (a persisted job, so a restart still
finishes it). A `consider` report lists adverse items, which an adverse action cites.

Support's decision on a `consider` report is either "engage" (`POST /v1/reports/{id}` with
`adjudication=engaged`, event `report.engaged`) or an adverse action (`.adverse_actions`).
"""

from __future__ import annotations

import hashlib

from ...store import JSON
from ..context import Ctx, RouteTable
from ..errors import bad_request
from ..events import emit
from ..ids import iso, new_id
from .packages import screenings

routes = RouteTable()

REPORT = "report"
COMPLETE_JOB = "complete_report"
# What a `consider` report found, by screening (texts like Checkr's adverse items).
_FINDINGS = {
    "county_criminal_search": "Misdemeanor: Petty theft (2019, Alameda County, CA)",
    "national_criminal_search": "Misdemeanor: Disorderly conduct (2018)",
    "motor_vehicle_report": "License status: Suspended",
}
# One screening id field per screening type; the `_ids` fields are lists.
_SCREENING_FIELDS = {
    "ssn_trace": "ssn_trace_id",
    "sex_offender_search": "sex_offender_search_id",
    "global_watchlist_search": "global_watchlist_search_id",
    "national_criminal_search": "national_criminal_search_id",
    "county_criminal_search": "county_criminal_search_ids",
    "state_criminal_search": "state_criminal_search_ids",
    "federal_criminal_search": "federal_criminal_search_id",
    "motor_vehicle_report": "motor_vehicle_report_id",
}


def start(
    ctx: Ctx,
    *,
    candidate_id: str,
    package: str,
    locations: list[JSON],
    tags: list[str],
    result: str,
) -> JSON:
    now = ctx.now()
    report_id = new_id()
    report: JSON = {
        "id": report_id,
        "object": REPORT,
        "uri": f"/v1/reports/{report_id}",
        "status": "pending",
        "result": None,
        "created_at": iso(now),
        "completed_at": None,
        "revised_at": None,
        "upgraded_at": None,
        "turnaround_time": None,
        "package": package,
        "tags": list(tags),
        "adjudication": None,
        "assessment": None,
        "source": "form",  # Checkr: `form` = created from the hosted invitation flow
        "includes_canceled": False,
        "candidate_id": candidate_id,
        "work_locations": [dict(location) for location in locations],
        "estimated_completion_time": iso(now + ctx.state.settings.report_delay_seconds),
        "segment_stamps": [],
        "candidate_story_ids": [],
        "document_ids": [],
        **_screening_ids(package),
        "_created": now,
        "_result": result,
        "_adverse_items": [],
    }
    ctx.create(report)
    candidate = ctx.get("candidate", candidate_id)
    if candidate is not None:
        candidate["report_ids"].append(report_id)
        ctx.save(candidate)
    ctx.state.scheduler.schedule(
        COMPLETE_JOB, {"report": report_id}, ctx.state.settings.report_delay_seconds
    )
    return report


def finish(ctx: Ctx, report: JSON) -> None:
    """The screenings are done (a scheduled job, or `/_sandbox/checks/reports/{id}/complete`)."""
    if report["status"] != "pending":
        return
    now = ctx.now()
    report.update(
        status="complete",
        result=report["_result"],
        completed_at=iso(now),
        turnaround_time=int(now - report["_created"]),
        estimated_completion_time=iso(now),
    )
    if report["result"] == "consider":
        report["_adverse_items"] = _adverse_items(report)
    ctx.save(report)
    emit(ctx.state, "report.completed", report)


@routes.route("GET", "/v1/reports/{id}")
def get_report(ctx: Ctx) -> JSON:
    ctx.params.only(not_simulated=("include",))
    return ctx.fetch(REPORT, ctx.path["id"])


@routes.route("POST", "/v1/reports/{id}")
def update_report(ctx: Ctx) -> JSON:
    """Only `adjudication=engaged` (support cleared a `consider` report) is simulated."""
    p = ctx.params
    p.only("adjudication", not_simulated=("package",))
    p.require("adjudication")
    if p.string("adjudication") != "engaged":
        raise bad_request("adjudication does not have a valid value")
    report = ctx.fetch(REPORT, ctx.path["id"])
    if report["status"] != "complete":
        raise bad_request("Report must be complete to be engaged")
    if report["adjudication"] in ("pre_adverse_action", "post_adverse_action"):
        raise bad_request(
            "Report has a pre-existing adverse action. See "
            "https://docs.checkr.com/#operation/updateReport"
        )
    if report["adjudication"] != "engaged":
        report["adjudication"] = "engaged"
        ctx.save(report)
        set_candidate_adjudication(ctx, report, "engaged")
        emit(ctx.state, "report.engaged", report)
    return report


@routes.route("GET", "/v1/reports/{id}/adverse_items")
def list_adverse_items(ctx: Ctx) -> JSON:
    ctx.params.only()
    report = ctx.fetch(REPORT, ctx.path["id"])
    refuse_unless_actionable(ctx, report)
    items = report["_adverse_items"]
    return {"data": items, "object": "list", "count": len(items)}


def refuse_unless_actionable(ctx: Ctx, report: JSON) -> None:
    """Checkr: the report "must be in a `consider` status and cannot have any existing Adverse
    Actions that have not been canceled"."""
    if report["status"] != "complete" or report["result"] != "consider":
        raise bad_request("Report must be complete with a result of consider")
    for action in ctx.store.all("adverse_action"):
        if action["report_id"] == report["id"] and action["status"] != "canceled":
            raise bad_request(
                "Report has a pre-existing adverse action. See "
                "https://docs.checkr.com/#operation/updateReport"
            )


def set_candidate_adjudication(ctx: Ctx, report: JSON, adjudication: str | None) -> JSON | None:
    """The candidate's `adjudication` mirrors their most recent report's (None: not theirs)."""
    candidate = ctx.get("candidate", report["candidate_id"])
    if candidate is None or candidate["report_ids"][-1:] != [report["id"]]:
        return None
    candidate["adjudication"] = adjudication
    ctx.save(candidate)
    return candidate


def _screening_ids(package: str) -> JSON:
    ids: JSON = {
        field: [] if field.endswith("_ids") else None for field in _SCREENING_FIELDS.values()
    }
    ids.update(
        facis_search_id=None,
        arrest_search_id=None,
        terrorist_watchlist_search_id=None,
        municipal_criminal_search_ids=[],
        personal_reference_verification_ids=[],
        professional_reference_verification_ids=[],
    )
    for screening in screenings(package):
        field = _SCREENING_FIELDS[screening]
        ids[field] = [new_id()] if field.endswith("_ids") else new_id()
    return ids


def _adverse_items(report: JSON) -> list[JSON]:
    found = [_FINDINGS[s] for s in screenings(report["package"]) if s in _FINDINGS]
    texts = found[:1] or ["Record found: Sex offender registry match (review required)"]
    return [
        {
            # Checkr's adverse item ids are 40 hex characters (a digest of the record).
            "id": hashlib.sha256(f"{report['id']}:{text}".encode()).hexdigest()[:40],
            "object": "adverse_item",
            "text": text,
        }
        for text in texts
    ]
