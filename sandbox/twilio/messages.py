"""The Message resource (`/2010-04-01/Accounts/{AccountSid}/Messages`): send, fetch, list.

Sending validates like Twilio (its error codes and HTTP statuses) and answers 201 with the message `queued`
(`accepted` through a Messaging Service); the carrier then moves it on (see carrier.py). Every
outbound text — API sends and Twilio's own opt-out auto replies — is recorded in the shared
outbox. Inbound texts (see inbound.py) are Message resources too, `direction: inbound`.
"""

from __future__ import annotations

import time

from ..store import JSON
from .carrier import MESSAGE, plan
from .dates import DateBound, parse_date_bound, rfc2822
from .errors import TwilioError, not_found, not_simulated
from .numbers import MAGIC_RECIPIENTS, MAGIC_SENDERS, CarrierOutcome, is_e164, outcome_for, segments
from .paging import page
from .pipeline import Params
from .sids import MESSAGE as MESSAGE_PREFIX
from .sids import MESSAGING_SERVICE, is_sid, new_sid
from .state import API_VERSION, TwilioSandbox

MAX_BODY_CHARACTERS = 1600

# Real parameters of Message create whose behaviour the sandbox does not have.
NOT_SIMULATED = {
    "MediaUrl": "MMS",
    "ContentSid": "Content Templates",
    "SendAt": "scheduled messages",
    "ScheduleType": "scheduled messages",
    "SendAsMms": "MMS",
}
LIST_FILTERS = ("To", "From", "DateSent", "DateSent<", "DateSent>")


def public(message: JSON) -> JSON:
    """The resource as Twilio returns it: sandbox bookkeeping dropped, keys sorted."""
    return {k: message[k] for k in sorted(message) if k != "id" and not k.startswith("_")}


def collection_path(account_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"


def send(sandbox: TwilioSandbox, params: Params) -> JSON:
    """POST Messages.json: validate, store, hand to the carrier, record in the outbox."""
    settings = sandbox.settings
    to = params.get("To") or ""
    sender = params.get("From") or ""
    service_sid = params.get("MessagingServiceSid") or ""
    if sender.startswith(MESSAGING_SERVICE):  # Twilio takes a service SID in `From` too
        service_sid, sender = sender, ""
    body = params.get("Body") or ""
    if not to:
        raise TwilioError(400, 21604, "A 'To' phone number is required.")
    if not sender and not service_sid:
        raise TwilioError(400, 21603, "A 'From' phone number is required.")
    for name, what in NOT_SIMULATED.items():
        if params.get(name):
            raise not_simulated(name, what)
    if not body:
        raise TwilioError(400, 21602, "Message body is required.")
    if len(body) > MAX_BODY_CHARACTERS:
        raise TwilioError(
            400, 21617, "The concatenated message body exceeds the 1600 character limit."
        )
    if not is_e164(to):
        raise TwilioError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if service_sid and not is_sid(service_sid, MESSAGING_SERVICE):
        raise TwilioError(400, 21701, f"The Messaging Service Sid {service_sid} is invalid.")
    if sender:
        _check_sender(sandbox, sender)
    if to == (sender or settings.phone_number):
        raise TwilioError(400, 21266, "'To' and 'From' number cannot be the same")
    refusal = MAGIC_RECIPIENTS.get(to)
    if refusal is not None:
        raise TwilioError(
            400, refusal.code, refusal.message.format(sender=sender or settings.phone_number)
        )
    if sandbox.opt_outs.is_opted_out(to):
        raise TwilioError(400, 21610, "Attempt to send to unsubscribed recipient")
    return _dispatch(
        sandbox,
        to=to,
        body=body,
        direction="outbound-api",
        messaging_service_sid=service_sid or None,
        status_callback=params.get("StatusCallback") or None,
        outcome=outcome_for(to),
    )


def _check_sender(sandbox: TwilioSandbox, sender: str) -> None:
    if sender == sandbox.settings.phone_number:
        return
    refusal = MAGIC_SENDERS.get(sender)
    if refusal is not None:
        raise TwilioError(400, refusal.code, refusal.message)
    raise TwilioError(
        400,
        21606,
        f"The From phone number {sender} is not a valid, SMS-capable inbound phone number or "
        "short code for your account.",
    )


def send_reply(sandbox: TwilioSandbox, *, to: str, body: str, reason: str) -> JSON:
    """A text Twilio itself sends in answer to an inbound one (opt-out confirmations)."""
    return _dispatch(
        sandbox,
        to=to,
        body=body,
        direction="outbound-reply",
        messaging_service_sid=None,
        status_callback=None,
        outcome=outcome_for(to),
        reason=reason,
    )


def _dispatch(
    sandbox: TwilioSandbox,
    *,
    to: str,
    body: str,
    direction: str,
    messaging_service_sid: str | None,
    status_callback: str | None,
    outcome: CarrierOutcome,
    reason: str | None = None,
) -> JSON:
    sender = sandbox.settings.phone_number
    via_service = messaging_service_sid is not None
    message = _new_message(
        sandbox,
        to=to,
        sender=None if via_service else sender,
        body=body,
        direction=direction,
        # Through a Messaging Service the sender (and so the encoding) is chosen later.
        status="accepted" if via_service else "queued",
        messaging_service_sid=messaging_service_sid,
    )
    message["_sender"] = sender
    message["_status_callback"] = status_callback
    if via_service:
        message["num_segments"] = "0"
    sandbox.carrier.take(message, plan(outcome, via_messaging_service=via_service))
    sandbox.store.insert(MESSAGE, message)
    details: JSON = {
        "direction": direction,
        "messaging_service_sid": messaging_service_sid,
        "status_callback": status_callback,
        "simulated_outcome": outcome.status,
    }
    if outcome.error_code is not None:
        details["error_code"] = outcome.error_code
    if reason is not None:
        details["auto_reply_to"] = reason
    sandbox.outbox.record(
        provider="twilio",
        channel="sms",
        to=to,
        sender=sender,
        body=body,
        provider_message_id=message["sid"],
        details=details,
    )
    return message


def record_inbound(sandbox: TwilioSandbox, *, sender: str, to: str, body: str) -> JSON:
    """A text a person sent to our number, as Twilio logs it."""
    message = _new_message(
        sandbox,
        to=to,
        sender=sender,
        body=body,
        direction="inbound",
        status="received",
        messaging_service_sid=None,
    )
    now = message["_created_at"]
    message["date_sent"] = rfc2822(now)
    message["_sent_at"] = now
    sandbox.store.insert(MESSAGE, message)
    return message


def _new_message(
    sandbox: TwilioSandbox,
    *,
    to: str,
    sender: str | None,
    body: str,
    direction: str,
    status: str,
    messaging_service_sid: str | None,
) -> JSON:
    account_sid = sandbox.settings.account_sid
    sid = new_sid(MESSAGE_PREFIX)
    now = time.time()
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}"
    return {
        "id": sid,
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": body,
        "date_created": rfc2822(now),
        "date_sent": None,
        "date_updated": rfc2822(now),
        "direction": direction,
        "error_code": None,
        "error_message": None,
        "from": sender,
        "messaging_service_sid": messaging_service_sid,
        "num_media": "0",
        "num_segments": str(segments(body)),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": status,
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": to,
        "uri": f"{uri}.json",
        "_created_at": now,
        "_sent_at": None,
        "_segments": segments(body),
    }


def fetch(sandbox: TwilioSandbox, sid: str, path: str) -> JSON:
    message = sandbox.store.get(MESSAGE, sid)
    if message is None:
        raise not_found(path)
    return public(message)


def listing(sandbox: TwilioSandbox, params: Params) -> JSON:
    """GET Messages.json: newest first, filtered by `To`, `From` and `DateSent` (`<`, `>`)."""
    filters = [(name, value) for name in LIST_FILTERS if (value := params.get(name))]
    wanted = dict(filters)
    bounds = {
        name: parse_date_bound(wanted[name], name) for name in LIST_FILTERS[2:] if name in wanted
    }
    messages = [
        public(message)
        for message in reversed(sandbox.store.all(MESSAGE))
        if _matches(message, wanted, bounds)
    ]
    return page(
        messages,
        params,
        path=collection_path(sandbox.settings.account_sid),
        key="messages",
        filters=filters,
    )


def _matches(message: JSON, wanted: dict[str, str], bounds: dict[str, DateBound]) -> bool:
    if "To" in wanted and message["to"] != wanted["To"]:
        return False
    if "From" in wanted and message["from"] != wanted["From"]:
        return False
    if not bounds:
        return True
    sent_at = message["_sent_at"]
    if sent_at is None:  # not sent yet: no DateSent to compare
        return False
    checks = {
        "DateSent": DateBound.on,
        "DateSent>": DateBound.on_or_after,
        "DateSent<": DateBound.on_or_before,
    }
    return all(checks[name](bound, sent_at) for name, bound in bounds.items())
