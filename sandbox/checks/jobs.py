"""Delayed happenings the check provider schedules, bound to their handlers."""

from __future__ import annotations

from ..store import JSON
from .context import Ctx
from .resources import adverse_actions, invitations, reports
from .state import ChecksState


def register_jobs(state: ChecksState) -> None:
    def finish_report(payload: JSON) -> None:
        ctx = Ctx.internal(state)
        report = ctx.get(reports.REPORT, payload["report"])
        if report is not None:
            reports.finish(ctx, report)

    def expire_invitation(payload: JSON) -> None:
        ctx = Ctx.internal(state)
        invitation = ctx.get(invitations.INVITATION, payload["invitation"])
        if invitation is not None:
            invitations.expire(ctx, invitation)

    def send_post_notice(payload: JSON) -> None:
        ctx = Ctx.internal(state)
        action = ctx.get(adverse_actions.ADVERSE_ACTION, payload["adverse_action"])
        if action is not None:
            adverse_actions.send_post_notice(ctx, action)

    state.scheduler.register(reports.COMPLETE_JOB, finish_report)
    state.scheduler.register(invitations.EXPIRE_JOB, expire_invitation)
    state.scheduler.register(adverse_actions.POST_NOTICE_JOB, send_post_notice)
