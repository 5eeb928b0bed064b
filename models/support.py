"""Support actions on a contract: the commands support sends (from the Temporal UI, the
`temporal` CLI or /v1/support), the audit record each one leaves, and the support queue.

Every command names who acts (``actor``, re-checked by the workflow) and why (``reason``):
both are in the update's input in history, and in the ``support_actions`` table.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, model_validator

from models.common import Actor
from models.text import Text

REASON_MAX = 2_000


def _says_something(reason: str) -> str:
    if not reason.strip():
        raise ValueError("reason must say why")
    return reason


# Why support acted: kept in history and the audit table, so blank is not an answer.
Reason = Annotated[
    Text, Field(min_length=1, max_length=REASON_MAX), AfterValidator(_says_something)
]
NOTE_MAX = 4_000
# A deadline is moved by at most this much at a time (a typo of "P300D" for "P3D" is refused).
MAX_EXTENSION = timedelta(days=365)
# Notes are kept in the contract's state (read in the UI); the audit table keeps every one.
MAX_NOTES = 100
MAX_NOTICE_NAME = 500


class Deadline(StrEnum):
    OFFER = "offer"  # the worker's answer to the offer
    FUNDING = "funding"  # the first funding, else the contract is cancelled
    AUTO_RELEASE = "auto_release"  # a submitted milestone's release without the client
    REVIEW_WINDOW = "review_window"  # the blind reviews are revealed


class SupportAction(StrEnum):
    """The workflow update names (and the ``action`` column of the audit table)."""

    EXTEND_DEADLINE = "extend_deadline"
    CANCEL = "support_cancel"
    RELEASE_MILESTONE = "release_milestone"
    REFUND_MILESTONE = "refund_milestone"
    RESEND_NOTIFICATION = "resend_notification"
    ADD_NOTE = "add_note"
    CLEAR_NEEDS_SUPPORT = "clear_needs_support"


class SupportCommand(BaseModel):
    actor: Actor
    reason: Reason


class ExtendDeadline(SupportCommand):
    """Moves one deadline later: to ``until``, or ``by`` a duration past the current one."""

    which: Deadline
    until: AwareDatetime | None = None
    by: timedelta | None = Field(default=None, gt=timedelta(0), le=MAX_EXTENSION)
    milestone: int | None = Field(default=None, ge=1, le=50)  # for auto_release

    @model_validator(mode="after")
    def _one_new_deadline(self) -> ExtendDeadline:
        _check_one_new_deadline(self.which, self.until, self.by, self.milestone)
        return self


def _check_one_new_deadline(
    which: Deadline, until: datetime | None, by: timedelta | None, milestone: int | None
) -> None:
    if (until is None) == (by is None):
        raise ValueError("give exactly one of `until` (an instant) and `by` (a duration)")
    if (which is Deadline.AUTO_RELEASE) != (milestone is not None):
        raise ValueError("`milestone` is required for auto_release and only for it")


class SupportCancel(SupportCommand):
    pass


class SupportMilestoneCommand(SupportCommand):
    milestone: int = Field(ge=1, le=50)


class ResendNotification(SupportCommand):
    """``notice``: a kind (``offer``, ``review-invite``…; the latest of that kind) or the
    full dedupe key of one notice; ``to`` picks the recipient when both parties got it."""

    notice: Text = Field(min_length=1, max_length=MAX_NOTICE_NAME)
    to: uuid.UUID | None = None


class AddNote(SupportCommand):
    note: Text = Field(min_length=1, max_length=NOTE_MAX)


class ClearNeedsSupport(SupportCommand):
    pass


class SupportNote(BaseModel):
    author_id: uuid.UUID
    note: str
    added_at: datetime


# --- activity I/O ---------------------------------------------------------------------------


class SupportActionRecord(BaseModel):
    """One row of ``support_actions``; ``id`` is derived from the workflow and update ids,
    so a retried write lands once."""

    id: uuid.UUID
    workflow_id: str
    update_id: str
    contract_id: uuid.UUID
    action: SupportAction
    actor_id: uuid.UUID
    reason: str
    details: dict[str, Any]
    created_at: datetime


def support_action_id(workflow_id: str, update_id: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"tempwork:support-action:{workflow_id}:{update_id}")


class SentNoticeQuery(BaseModel):
    workflow_id: str
    notice: str  # a kind or a dedupe key
    # Whom to look at: the recipient named, else both parties (notices are read per person).
    recipients: list[uuid.UUID]


class SentNotice(BaseModel):
    user_id: uuid.UUID
    dedupe_key: str
    kind: str
    subject: str
    body: str


# --- API bodies and answers -----------------------------------------------------------------


class ReasonBody(BaseModel):
    reason: Reason = Field(description="Why (kept for audit)")


class ExtendDeadlineBody(ReasonBody):
    which: Deadline
    until: AwareDatetime | None = None
    by: timedelta | None = Field(
        default=None,
        gt=timedelta(0),
        le=MAX_EXTENSION,
        description="ISO 8601 duration (e.g. P3D) added to the current deadline",
    )
    milestone: int | None = Field(default=None, ge=1, le=50)

    @model_validator(mode="after")
    def _one_new_deadline(self) -> ExtendDeadlineBody:
        _check_one_new_deadline(self.which, self.until, self.by, self.milestone)
        return self


class ResendNotificationBody(ReasonBody):
    notice: Text = Field(min_length=1, max_length=MAX_NOTICE_NAME)
    to: uuid.UUID | None = None


class AddNoteBody(ReasonBody):
    note: Text = Field(min_length=1, max_length=NOTE_MAX)


class SupportActionPublic(BaseModel):
    id: uuid.UUID
    workflow_id: str
    update_id: str
    contract_id: uuid.UUID
    action: SupportAction
    actor_id: uuid.UUID
    reason: str
    details: dict[str, Any]
    created_at: datetime


class SupportActionPage(BaseModel):
    items: list[SupportActionPublic]
    next_cursor: str | None


class QueueItem(BaseModel):
    kind: Literal["contract", "dispute", "verification"]
    id: uuid.UUID  # the contract's id, or the person's for a verification
    workflow_id: str
    reason: str | None
    since: datetime


class SupportQueue(BaseModel):
    items: list[QueueItem]
    next_cursor: str | None
