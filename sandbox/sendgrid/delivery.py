"""An accepted Mail Send, carried out at once: one copy per recipient, its events, the outbox.

Every recipient (to, cc and bcc) gets a copy with its own `msg_id`, an Email Activity record and
the events its address calls for (see `recipients`). The events of one send go out stage by
stage as webhook batches — all `processed` events, then all outcomes (`delivered`, `bounce`,
`dropped`, `deferred`), then any follow-ups — so a receiver sees SendGrid's usual order unless a
fault shuffles it. A copy is written to the shared outbox when it is `delivered`; `send_at` is
recorded but not waited for.
"""

from __future__ import annotations

import time

from ..store import JSON
from .events import activity_event, event_fields, iso_time, status_after, webhook_event
from .ids import new_x_message_id, recipient_message_id
from .mail_send import Address, Envelope, MailRequest
from .recipients import plan_for
from .rendering import code_of, subject_of, text_of
from .state import SendGridSandbox


def send_mail(sandbox: SendGridSandbox, mail: MailRequest, api_key_id: str) -> str:
    """Store and "deliver" an accepted request; returns its X-Message-Id."""
    x_message_id = new_x_message_id()
    created = time.time()
    stages: list[list[JSON]] = []
    msg_ids: list[str] = []
    for envelope in mail.personalizations:
        for position, (kind, address) in enumerate(envelope.recipients()):
            copy = _new_copy(
                mail, envelope, kind, address, x_message_id, created, position, api_key_id
            )
            sandbox.activity.add(copy)
            msg_ids.append(copy["msg_id"])
            drop_reason = sandbox.suppressions.drop_reason(address.email, mail.asm_group_id)
            for index, stage in enumerate(plan_for(address.email, drop_reason)):
                if len(stages) <= index:
                    stages.append([])
                for event, overrides in stage:
                    stages[index].append(
                        record_event(sandbox, copy, event, overrides, int(created))
                    )
    sandbox.activity.save_send(
        {
            "id": x_message_id,
            "x_message_id": x_message_id,
            "created": created,
            "from": mail.sender.as_json(),
            "reply_to": mail.reply_to.as_json() if mail.reply_to else None,
            "subject": mail.subject,
            "template_id": mail.template_id,
            "categories": mail.categories,
            "custom_args": mail.custom_args,
            "asm_group_id": mail.asm_group_id,
            "send_at": mail.send_at,
            "msg_ids": msg_ids,
            "ignored_fields": mail.ignored_fields,
        },
    )
    for batch in stages:
        sandbox.webhooks.enqueue(batch)
    return x_message_id


def record_event(
    sandbox: SendGridSandbox,
    copy: JSON,
    event: str,
    overrides: JSON | None = None,
    timestamp: int | None = None,
) -> JSON:
    """Apply one event to a copy (activity, counters, suppressions, outbox) and return it as
    the Event Webhook will post it."""
    fields = event_fields(event, overrides)
    at = timestamp if timestamp is not None else int(time.time())
    sequence = copy["_event_count"]
    copy["_event_count"] = sequence + 1
    posted = webhook_event(copy, event, fields, at, sequence)
    copy["events"].append(activity_event(event, fields, at))
    copy["status"] = status_after(copy["status"], event)
    if event == "open":
        copy["opens_count"] += 1
    elif event == "click":
        copy["clicks_count"] += 1
    copy["last_event_time"] = iso_time(at)
    _side_effects(sandbox, copy, event, fields)
    sandbox.activity.save(copy)
    return posted


def inject_event(sandbox: SendGridSandbox, msg_id: str, event: str, overrides: JSON) -> JSON:
    """An event SendGrid or the recipient caused later (a late bounce, an open, a spam report)."""
    copy = sandbox.activity.get(msg_id)
    if copy is None:
        raise KeyError(msg_id)
    posted = record_event(sandbox, copy, event, overrides)
    sandbox.webhooks.enqueue([posted])
    return posted


def _side_effects(sandbox: SendGridSandbox, copy: JSON, event: str, fields: JSON) -> None:
    email = copy["to_email"]
    lists = sandbox.suppressions
    if event == "bounce":
        lists.add(
            "blocks" if fields.get("type") == "blocked" else "bounces",
            email,
            reason=fields.get("reason"),
            status=fields.get("status"),
        )
    elif event == "spamreport":
        lists.add("spam_reports", email)
    elif event == "unsubscribe":
        lists.add("unsubscribes", email)
    elif event in ("group_unsubscribe", "group_resubscribe"):
        group_id = fields.get("asm_group_id", copy.get("asm_group_id"))
        if isinstance(group_id, int):
            if event == "group_unsubscribe":
                lists.add("group_unsubscribes", email, group_id=group_id)
            else:
                lists.remove("group_unsubscribes", email, group_id)
    elif event == "delivered" and not copy["_in_outbox"]:
        copy["_in_outbox"] = True
        letter = copy["_letter"]
        sandbox.outbox.record(
            provider="sendgrid",
            channel="email",
            to=email,
            sender=copy["from_email"],
            subject=letter["subject"],
            body=letter["body"],
            code=letter["code"],
            provider_message_id=copy["x_message_id"],
            details={**letter["details"], "msg_id": copy["msg_id"]},
        )


def _new_copy(
    mail: MailRequest,
    envelope: Envelope,
    kind: str,
    address: Address,
    x_message_id: str,
    created: float,
    position: int,
    api_key_id: str,
) -> JSON:
    msg_id = recipient_message_id(x_message_id, created, envelope.index, position)
    sender = envelope.sender or mail.sender
    subject = subject_of(mail, envelope)
    return {
        "id": msg_id,
        "msg_id": msg_id,
        "x_message_id": x_message_id,
        "from_email": sender.email,
        "to_email": address.email,
        "to_name": address.name,
        "recipient_type": kind,
        "subject": subject or "",
        "status": "processed",
        "opens_count": 0,
        "clicks_count": 0,
        "last_event_time": iso_time(created),
        "template_id": mail.template_id,
        "asm_group_id": mail.asm_group_id,
        "categories": list(mail.categories),
        "custom_args": dict(envelope.custom_args),
        "send_at": envelope.send_at if envelope.send_at is not None else mail.send_at,
        "api_key_id": api_key_id,
        "created": created,
        "events": [],
        "_event_count": 0,
        "_in_outbox": False,
        # What the outbox gets if (when) this copy is delivered.
        "_letter": {
            "subject": subject,
            "body": text_of(mail, envelope),
            "code": code_of(envelope),
            "details": {
                "template_id": mail.template_id,
                "dynamic_template_data": envelope.dynamic_template_data,
                "custom_args": dict(envelope.custom_args),
                "categories": list(mail.categories),
                "recipient_type": kind,
                "reply_to": mail.reply_to.email if mail.reply_to else None,
                "send_at": envelope.send_at if envelope.send_at is not None else mail.send_at,
                "asm_group_id": mail.asm_group_id,
            },
        },
    }
