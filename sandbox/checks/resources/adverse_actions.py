"""Adverse actions: declining a candidate over a `consider` report, the FCRA way.

Creating one sends the candidate the pre-adverse action notice with a copy of the report
(`report.pre_adverse_action`, `candidate.pre_adverse_action`); after the waiting period
(`post_notice_scheduled_at`, at the earliest `post_notice_ready_at` = 7 days later) Checkr
sends the final notice (`report.post_adverse_action`, `candidate.post_adverse_action`) and the
action is `complete`. The wait is a persisted job; `/_sandbox/checks/adverse_actions/{id}/
post_notice` skips it. A pending action can be canceled (DELETE).

Hint: a candidate email containing `+undeliverable` makes the notice bounce
(`delivery.state = "error"`, event `adverse_action.notice_not_delivered`).
"""

from __future__ import annotations

from ...store import JSON
from ..context import Ctx, Reply, RouteTable
from ..errors import bad_request, invalid
from ..events import emit
from ..ids import iso, new_id, parse_iso
from .reports import REPORT, refuse_unless_actionable, set_candidate_adjudication

routes = RouteTable()

ADVERSE_ACTION = "adverse_action"
POST_NOTICE_JOB = "send_post_adverse_notice"
# Checkr: `post_notice_ready_at` is "often 7 days after `created_at`" (the FCRA waiting period).
WAITING_PERIOD_SECONDS = 7 * 24 * 60 * 60


@routes.route("POST", "/v1/reports/{id}/adverse_actions")
def create_adverse_action(ctx: Ctx) -> Reply:
    p = ctx.params
    p.only("adverse_item_ids", "post_notice_scheduled_at", not_simulated=("medium",))
    p.require("adverse_item_ids")
    report = ctx.fetch(REPORT, ctx.path["id"])
    refuse_unless_actionable(ctx, report)
    items = {item["id"]: item for item in report["_adverse_items"]}
    chosen = p.str_list("adverse_item_ids")
    if any(item_id not in items for item_id in chosen):
        raise invalid("adverse_item_ids")
    now = ctx.now()
    ready_at = now + WAITING_PERIOD_SECONDS
    scheduled_at = ready_at
    requested = p.string("post_notice_scheduled_at")
    if requested is not None:
        parsed = parse_iso(requested)
        if parsed is None:
            raise invalid("post_notice_scheduled_at")
        if parsed < ready_at:
            raise bad_request("post_notice_scheduled_at must be after post_notice_ready_at")
        scheduled_at = parsed
    candidate = ctx.get("candidate", report["candidate_id"]) or {}
    bounced = "+undeliverable" in (candidate.get("email") or "").partition("@")[0].lower()
    action_id = new_id()
    action: JSON = {
        "id": action_id,
        "object": ADVERSE_ACTION,
        "uri": f"/v1/adverse_actions/{action_id}",
        "status": "pending",
        "created_at": iso(now),
        "report_id": report["id"],
        "post_notice_scheduled_at": iso(scheduled_at),
        "post_notice_ready_at": iso(ready_at),
        "canceled_at": None,
        "individualized_assessment_engaged": False,
        "delivery": {
            "state": "error" if bounced else "delivered",
            "reason": f"No MX for {candidate.get('email', '').partition('@')[2]}"
            if bounced
            else None,
            "updated_at": iso(now),
        },
        "adverse_items": [items[item_id] for item_id in chosen],
    }
    ctx.create(action)
    _adjudicate(ctx, report, "pre_adverse_action")
    ctx.state.scheduler.schedule(POST_NOTICE_JOB, {"adverse_action": action_id}, scheduled_at - now)
    if bounced:
        emit(ctx.state, "adverse_action.notice_not_delivered", action)
    # Checkr documents 200 (not 201) for this create.
    return Reply(200, action)


@routes.route("GET", "/v1/adverse_actions/{id}")
def get_adverse_action(ctx: Ctx) -> JSON:
    ctx.params.only()
    return ctx.fetch(ADVERSE_ACTION, ctx.path["id"])


@routes.route("DELETE", "/v1/adverse_actions/{id}")
def cancel_adverse_action(ctx: Ctx) -> JSON:
    ctx.params.only()
    action = ctx.fetch(ADVERSE_ACTION, ctx.path["id"])
    if action["status"] != "pending":
        raise bad_request(f"Adverse action is {action['status']} and cannot be canceled")
    action.update(status="canceled", canceled_at=iso(ctx.now()))
    ctx.save(action)
    _adjudicate(ctx, ctx.fetch(REPORT, action["report_id"]), None)
    return action


def send_post_notice(ctx: Ctx, action: JSON) -> None:
    """The waiting period is over: the final notice goes out (a job, or a control endpoint)."""
    if action["status"] != "pending":
        return  # canceled meanwhile, or already sent
    action["status"] = "complete"
    ctx.save(action)
    _adjudicate(ctx, ctx.fetch(REPORT, action["report_id"]), "post_adverse_action")


def _adjudicate(ctx: Ctx, report: JSON, adjudication: str | None) -> None:
    """Report and candidate record the step; a notice sent is announced on both."""
    report["adjudication"] = adjudication
    ctx.save(report)
    candidate = set_candidate_adjudication(ctx, report, adjudication)
    if adjudication is None:
        return  # a canceled action sends no notice
    emit(ctx.state, f"report.{adjudication}", report)
    if candidate is not None:
        emit(ctx.state, f"candidate.{adjudication}", candidate)
