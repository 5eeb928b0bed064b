"""What a delivered copy "says", for the outbox and Email Activity.

Dynamic templates live in the SendGrid account, not in the request, so the sandbox cannot
render them. It writes out the template's data instead — readable enough for a developer, and the
verification `code` is also kept on the outbox entry for tests to read back.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from .mail_send import Envelope, MailRequest

_TAG = re.compile(r"<[^>]+>")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def subject_of(mail: MailRequest, envelope: Envelope) -> str | None:
    """The personalization's subject, else the message's, else the template data's `subject`
    (the usual way a dynamic template's subject line is filled)."""
    if envelope.subject:
        return envelope.subject
    if mail.subject:
        return mail.subject
    subject = envelope.dynamic_template_data.get("subject")
    return str(subject) if subject is not None else None


def text_of(mail: MailRequest, envelope: Envelope) -> str:
    plain = mail.content("text/plain")
    if plain is not None:
        return plain
    if mail.template_id is not None:
        return _template_text(mail.template_id, envelope.dynamic_template_data)
    markup = mail.content("text/html") or (mail.contents[0][1] if mail.contents else "")
    return _BLANK_LINES.sub("\n\n", html.unescape(_TAG.sub("", markup))).strip()


def code_of(envelope: Envelope) -> str | None:
    code = envelope.dynamic_template_data.get("code")
    return str(code) if code is not None else None


def _template_text(template_id: str, data: dict[str, Any]) -> str:
    lines = [f"[dynamic template {template_id}, not rendered by the sandbox; its data:]"]
    for key, value in data.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines.append(f"{key}: {shown}")
    return "\n".join(lines)
