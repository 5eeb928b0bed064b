"""`POST /v3/mail/send`: the request body checked the way SendGrid checks it.

SendGrid answers one 400 listing every problem it found (`field` is a dotted path such as
`personalizations.0.to.0.email`), so this module collects errors rather than stopping at the
first. Messages are SendGrid's own wording where it is known. Top-level and personalization keys
SendGrid does not know are ignored, as SendGrid does (a misspelt `"to:"` key surfaces as "The to
array is required..."), and listed on the stored send for inspection.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from .errors import ErrorEntry, entry

MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000  # to + cc + bcc over the whole request
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_SCHEDULE_AHEAD_SECONDS = 72 * 3600
MAX_ASM_GROUPS_TO_DISPLAY = 25
DYNAMIC_TEMPLATE_PREFIX = "d-"

KNOWN_FIELDS = frozenset(
    {
        "personalizations",
        "from",
        "reply_to",
        "reply_to_list",
        "subject",
        "content",
        "attachments",
        "template_id",
        "headers",
        "sections",
        "categories",
        "custom_args",
        "send_at",
        "batch_id",
        "asm",
        "ip_pool_name",
        "mail_settings",
        "tracking_settings",
    }
)

# Permissive like SendGrid's own check: something@domain.tld, no spaces, one "@".
_EMAIL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


@dataclass(frozen=True)
class Address:
    email: str
    name: str | None = None

    def as_json(self) -> dict[str, str]:
        return {"email": self.email, **({"name": self.name} if self.name else {})}


@dataclass
class Envelope:
    """One personalization: who gets this copy and what is merged into it."""

    index: int
    to: list[Address]
    cc: list[Address]
    bcc: list[Address]
    subject: str | None
    dynamic_template_data: dict[str, Any]
    custom_args: dict[str, str]  # the message's custom_args overridden by this envelope's
    send_at: int | None
    sender: Address | None  # a personalization may send "from" someone else

    def recipients(self) -> list[tuple[str, Address]]:
        return [
            *(("to", a) for a in self.to),
            *(("cc", a) for a in self.cc),
            *(("bcc", a) for a in self.bcc),
        ]


@dataclass
class MailRequest:
    sender: Address
    reply_to: Address | None
    subject: str | None
    contents: list[tuple[str, str]]  # (MIME type, value) in request order
    template_id: str | None
    categories: list[str]
    custom_args: dict[str, str]
    asm_group_id: int | None
    send_at: int | None
    sandbox_mode: bool
    personalizations: list[Envelope]
    ignored_fields: list[str] = field(default_factory=list)

    def content(self, mime_type: str) -> str | None:
        return next((value for kind, value in self.contents if kind == mime_type), None)


class MailSendInvalid(Exception):
    def __init__(self, errors: list[ErrorEntry]) -> None:
        super().__init__(errors[0]["message"])
        self.errors = errors


def json_type(value: Any) -> str:
    """The JSON Schema type name SendGrid's "Invalid type" messages use."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _invalid_type(expected: str, value: Any, path: str, anchor: str) -> ErrorEntry:
    return entry(f"Invalid type. Expected: {expected}, given: {json_type(value)}.", path, anchor)


def is_email(value: str) -> bool:
    return bool(_EMAIL.match(value)) and ".." not in value


class _Checker:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.errors: list[ErrorEntry] = []
        self.now = time.time()

    def fail(self, message: str, path: str | None, anchor: str | None) -> None:
        self.errors.append(entry(message, path, anchor))

    def address(
        self, value: Any, path: str, anchor: str, *, missing: str, invalid: str
    ) -> Address | None:
        if not isinstance(value, dict):
            self.errors.append(_invalid_type("object", value, path, anchor))
            return None
        email, name = value.get("email"), value.get("name")
        if email is None or email == "":
            self.fail(missing, f"{path}.email", anchor)
            return None
        if not isinstance(email, str):
            self.errors.append(_invalid_type("string", email, f"{path}.email", anchor))
            return None
        if not is_email(email.strip()):
            self.fail(invalid, f"{path}.email", anchor)
            return None
        if name is not None and not isinstance(name, str):
            self.errors.append(_invalid_type("string", name, f"{path}.name", anchor))
        return Address(email.strip(), name if isinstance(name, str) and name else None)

    def string_map(self, value: Any, path: str, anchor: str) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.errors.append(_invalid_type("object", value, path, anchor))
            return {}
        result: dict[str, str] = {}
        for key, item in value.items():
            if isinstance(item, str):
                result[key] = item
            else:  # SendGrid drops non-string values silently at best; it refuses them
                self.errors.append(_invalid_type("string", item, f"{path}.{key}", anchor))
        return result

    def send_at(self, value: Any, path: str, anchor: str) -> int | None:
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.errors.append(_invalid_type("integer", value, path, anchor))
            return None
        if value > self.now + MAX_SCHEDULE_AHEAD_SECONDS:
            self.fail(
                "The send_at parameter must not be more than 72 hours in the future.", path, anchor
            )
        return value


def parse_mail_send(body: Any) -> MailRequest:
    """The request as SendGrid would accept it, or `MailSendInvalid` listing every problem."""
    if not isinstance(body, dict):
        raise MailSendInvalid([entry("Bad Request")])
    check = _Checker(body)
    sender = _sender(check)
    reply_to = None
    if body.get("reply_to") is not None:
        reply_to = check.address(
            body["reply_to"],
            "reply_to",
            "message.reply_to",
            missing="The reply_to email parameter is required.",
            invalid="The reply_to email does not contain a valid address.",
        )
    template_id = _template_id(check)
    message_args = check.string_map(body.get("custom_args"), "custom_args", "message.custom_args")
    personalizations = _personalizations(check, message_args)
    subject = _subject(check, template_id, personalizations)
    contents = _contents(check, template_id)
    categories = _categories(check)
    asm_group_id = _asm(check)
    send_at = check.send_at(body.get("send_at"), "send_at", "message.send_at")
    sandbox_mode = _sandbox_mode(check)
    if check.errors:
        raise MailSendInvalid(check.errors)
    assert sender is not None
    return MailRequest(
        sender=sender,
        reply_to=reply_to,
        subject=subject,
        contents=contents,
        template_id=template_id,
        categories=categories,
        custom_args=message_args,
        asm_group_id=asm_group_id,
        send_at=send_at,
        sandbox_mode=sandbox_mode,
        personalizations=personalizations,
        ignored_fields=sorted(k for k in body if k not in KNOWN_FIELDS),
    )


def _sender(check: _Checker) -> Address | None:
    value = check.body.get("from")
    if value is None or (isinstance(value, dict) and not value.get("email")):
        check.fail(
            "The from object must be provided for every email send. It is an object that "
            'requires the email parameter, but may also contain a name parameter.  e.g. {"email" '
            ': "example@example.com"}  or {"email" : "example@example.com", "name" : "Example '
            'Recipient"}.',
            "from.email",
            "message.from",
        )
        return None
    return check.address(
        value,
        "from",
        "message.from",
        missing="The from email parameter is required.",
        invalid="The from email does not contain a valid address.",
    )


def _template_id(check: _Checker) -> str | None:
    value = check.body.get("template_id")
    if value is None:
        return None
    if not isinstance(value, str):
        check.errors.append(_invalid_type("string", value, "template_id", "message.template_id"))
        return None
    if not value.startswith(DYNAMIC_TEMPLATE_PREFIX):
        # Legacy (GUID) templates work with `substitutions`, which the sandbox does not render.
        check.fail(
            f"The template_id must be a dynamic template ID starting with "
            f"'{DYNAMIC_TEMPLATE_PREFIX}'; you provided '{value}'. Legacy templates are not "
            "simulated by the sandbox.",
            "template_id",
            "message.template_id",
        )
        return None
    return value


def _personalizations(check: _Checker, message_args: dict[str, str]) -> list[Envelope]:
    value = check.body.get("personalizations")
    anchor = "-Personalizations-Errors"
    if not isinstance(value, list) or not value:
        if value is not None and not isinstance(value, list):
            check.errors.append(_invalid_type("array", value, "personalizations", anchor))
        else:
            check.fail(
                "The personalizations field is required and must have at least one "
                "personalization.",
                "personalizations",
                anchor,
            )
        return []
    if len(value) > MAX_PERSONALIZATIONS:
        check.fail(
            f"The personalization block is limited to {MAX_PERSONALIZATIONS} personalizations per "
            f"API request. You have provided {len(value)} personalizations. Please consider "
            "splitting this into multiple requests and resending your request.",
            "personalizations",
            anchor,
        )
        return []
    envelopes = [
        envelope
        for index, item in enumerate(value)
        if (envelope := _envelope(check, index, item, message_args)) is not None
    ]
    total = sum(len(e.recipients()) for e in envelopes)
    if total > MAX_RECIPIENTS:
        check.fail(
            f"There is a limit of {MAX_RECIPIENTS} total recipients (to + cc + bcc) per request. "
            f"You have provided {total}.",
            "personalizations",
            anchor,
        )
    return envelopes


def _envelope(
    check: _Checker, index: int, item: Any, message_args: dict[str, str]
) -> Envelope | None:
    path = f"personalizations.{index}"
    if not isinstance(item, dict):
        check.errors.append(_invalid_type("object", item, path, "-Personalizations-Errors"))
        return None
    lists: dict[str, list[Address]] = {}
    for kind in ("to", "cc", "bcc"):
        lists[kind] = _recipient_list(check, item.get(kind), f"{path}.{kind}", kind)
    if item.get("to") is None or (isinstance(item.get("to"), list) and not item["to"]):
        check.fail(
            "The to array is required for all personalization objects, and must have at least "
            "one email object with a valid email address.",
            f"{path}.to",
            "message.personalizations.to",
        )
    _check_duplicates(check, path, lists)
    subject = item.get("subject")
    if subject is not None and (not isinstance(subject, str) or not subject):
        check.fail(
            "The subject must be a string at least one character in length.",
            f"{path}.subject",
            "message.personalizations.subject",
        )
        subject = None
    data = item.get("dynamic_template_data")
    if data is not None and not isinstance(data, dict):
        check.errors.append(
            _invalid_type(
                "object", data, f"{path}.dynamic_template_data", "message.personalizations"
            )
        )
        data = None
    own_args = check.string_map(
        item.get("custom_args"), f"{path}.custom_args", "message.personalizations.custom_args"
    )
    custom_args = {**message_args, **own_args}
    if len(json.dumps(custom_args).encode()) > MAX_CUSTOM_ARGS_BYTES:
        check.fail(
            f"The custom_args for a personalization (including the message's custom_args) may "
            f"not exceed {MAX_CUSTOM_ARGS_BYTES:,} bytes.",
            f"{path}.custom_args",
            "message.custom_args",
        )
    sender = None
    if item.get("from") is not None:
        sender = check.address(
            item["from"],
            f"{path}.from",
            "message.from",
            missing="The from email parameter is required.",
            invalid="The from email does not contain a valid address.",
        )
    return Envelope(
        index=index,
        to=lists["to"],
        cc=lists["cc"],
        bcc=lists["bcc"],
        subject=subject,
        dynamic_template_data=data or {},
        custom_args=custom_args,
        send_at=check.send_at(item.get("send_at"), f"{path}.send_at", "message.send_at"),
        sender=sender,
    )


def _recipient_list(check: _Checker, value: Any, path: str, kind: str) -> list[Address]:
    anchor = f"message.personalizations.{kind}"
    if value is None:
        return []
    if not isinstance(value, list):
        check.errors.append(_invalid_type("array", value, path, anchor))
        return []
    found = []
    for position, item in enumerate(value):
        address = check.address(
            item,
            f"{path}.{position}",
            anchor,
            missing=f"The {kind} email parameter is required.",
            invalid="Does not contain a valid address.",
        )
        if address is not None:
            found.append(address)
    return found


def _check_duplicates(check: _Checker, path: str, lists: dict[str, list[Address]]) -> None:
    seen: set[str] = set()
    for kind in ("to", "cc", "bcc"):
        for address in lists[kind]:
            key = address.email.lower()
            if key in seen:
                check.fail(
                    "Each email address in the personalization block should be unique between "
                    f"to, cc, and bcc. We found the first duplicate instance of [{address.email}] "
                    f"in the {path}.{kind} field.",
                    path,
                    "message.personalizations",
                )
                return
            seen.add(key)


def _subject(check: _Checker, template_id: str | None, envelopes: list[Envelope]) -> str | None:
    value = check.body.get("subject")
    if value is not None and not isinstance(value, str):
        check.errors.append(_invalid_type("string", value, "subject", "message.subject"))
        return None
    if value:
        return value
    # A dynamic template carries its own subject; otherwise every envelope needs one.
    if template_id is None and not (envelopes and all(e.subject for e in envelopes)):
        check.fail(
            "The subject is required. You can get around this requirement if you use a template "
            "with a subject defined or if every personalization has a subject defined.",
            "subject",
            "message.subject",
        )
    return None


def _contents(check: _Checker, template_id: str | None) -> list[tuple[str, str]]:
    value = check.body.get("content")
    if value is None or value == []:
        if template_id is None:
            check.fail(
                "Unless a valid template_id is provided, the content parameter is required. "
                "There must be at least one defined content block. We typically suggest both "
                "text/plain and text/html blocks are included, but only one block is required.",
                "content",
                "message.content",
            )
        return []
    if not isinstance(value, list):
        check.errors.append(_invalid_type("array", value, "content", "message.content"))
        return []
    contents: list[tuple[str, str]] = []
    for index, item in enumerate(value):
        path = f"content.{index}"
        if not isinstance(item, dict):
            check.errors.append(_invalid_type("object", item, path, "message.content"))
            continue
        kind, text = item.get("type"), item.get("value")
        if not isinstance(kind, str) or not kind:
            check.fail(
                "The content type must be a string at least one character in length.",
                f"{path}.type",
                "message.content.type",
            )
            continue
        if not isinstance(text, str) or not text:
            check.fail(
                "The content value must be a string at least one character in length.",
                f"{path}.value",
                "message.content.value",
            )
            continue
        contents.append((kind, text))
    kinds = [kind for kind, _ in contents]
    if "text/plain" in kinds and kinds[0] != "text/plain":
        check.fail(
            "If present, text/plain content must be first, followed by text/html, followed by "
            "any other content.",
            "content",
            "message.content",
        )
    return contents


def _categories(check: _Checker) -> list[str]:
    value = check.body.get("categories")
    anchor = "message.categories"
    if value is None:
        return []
    if not isinstance(value, list):
        check.errors.append(_invalid_type("array", value, "categories", anchor))
        return []
    if len(value) > MAX_CATEGORIES:
        check.fail(
            f"Too many categories. You can assign up to {MAX_CATEGORIES} categories per message; "
            f"you provided {len(value)}.",
            "categories",
            anchor,
        )
    names: list[str] = []
    for index, name in enumerate(value):
        if not isinstance(name, str):
            check.errors.append(_invalid_type("string", name, f"categories.{index}", anchor))
        elif len(name) > MAX_CATEGORY_LENGTH:
            check.fail(
                f"A category cannot exceed {MAX_CATEGORY_LENGTH} characters.",
                f"categories.{index}",
                anchor,
            )
        elif name in names:
            check.fail("Each category must be unique.", f"categories.{index}", anchor)
        else:
            names.append(name)
    return names


def _asm(check: _Checker) -> int | None:
    value = check.body.get("asm")
    anchor = "message.asm"
    if value is None:
        return None
    if not isinstance(value, dict):
        check.errors.append(_invalid_type("object", value, "asm", anchor))
        return None
    group_id = value.get("group_id")
    if not isinstance(group_id, int) or isinstance(group_id, bool):
        check.fail("The asm group_id must be an integer.", "asm.group_id", anchor)
        return None
    shown = value.get("groups_to_display")
    if shown is not None and (
        not isinstance(shown, list)
        or len(shown) > MAX_ASM_GROUPS_TO_DISPLAY
        or not all(isinstance(g, int) and not isinstance(g, bool) for g in shown)
    ):
        check.fail(
            f"The asm groups_to_display must be an array of at most "
            f"{MAX_ASM_GROUPS_TO_DISPLAY} integer group ids.",
            "asm.groups_to_display",
            anchor,
        )
    return group_id


def _sandbox_mode(check: _Checker) -> bool:
    settings = check.body.get("mail_settings")
    if not isinstance(settings, dict):
        return False
    mode = settings.get("sandbox_mode")
    if not isinstance(mode, dict):
        return False
    enable = mode.get("enable", False)
    if not isinstance(enable, bool):
        check.errors.append(
            _invalid_type(
                "boolean", enable, "mail_settings.sandbox_mode.enable", "message.mail_settings"
            )
        )
        return False
    return enable
