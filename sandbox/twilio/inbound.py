"""A person texting our number: what Twilio does with it, in Twilio's order.

1. The text becomes an inbound Message resource (`status: received`).
2. An opt-out keyword updates the opt-out list and Twilio sends its automatic reply.
3. The text is POSTed, signed, to the number's messaging webhook (`inbound_webhook_url`) with
   the fields Twilio sends, plus `OptOutType` for a keyword.

Replies in the webhook's TwiML answer are not sent; the app answers with the API instead.
"""

from __future__ import annotations

from ..store import JSON
from . import messages
from .numbers import country_of
from .opt_out import REPLIES, keyword_of
from .state import API_VERSION, TwilioSandbox
from .webhooks import INCOMING_MESSAGE


def receive(sandbox: TwilioSandbox, *, sender: str, to: str, body: str) -> JSON:
    message = messages.record_inbound(sandbox, sender=sender, to=to, body=body)
    keyword = keyword_of(body)
    reply: JSON | None = None
    if keyword is not None:
        sandbox.opt_outs.apply(keyword, sender, our_number=to, body=body)
        reply = messages.send_reply(sandbox, to=sender, body=REPLIES[keyword], reason=keyword)
    delivery: JSON | None = None
    url = sandbox.settings.inbound_webhook_url
    if url:
        params = webhook_params(message)
        if keyword is not None:
            params["OptOutType"] = keyword
        delivery = sandbox.webhooks.enqueue(
            f"{message['sid']}-received", type=INCOMING_MESSAGE, url=url, params=params
        )
    return {
        "message": messages.public(message),
        "opt_out_type": keyword,
        "auto_reply": messages.public(reply) if reply is not None else None,
        "webhook": delivery["id"] if delivery is not None else None,
    }


def webhook_params(message: JSON) -> dict[str, str]:
    """The form fields of Twilio's incoming-message request (no geo data beyond the country)."""
    sender, to = message["from"], message["to"]
    params = {
        "AccountSid": message["account_sid"],
        "ApiVersion": API_VERSION,
        "Body": message["body"],
        "From": sender,
        "FromCity": "",
        "FromCountry": country_of(sender),
        "FromState": "",
        "FromZip": "",
        "MessageSid": message["sid"],
        "NumMedia": message["num_media"],
        "NumSegments": message["num_segments"],
        "SmsMessageSid": message["sid"],
        "SmsSid": message["sid"],
        "SmsStatus": "received",
        "To": to,
        "ToCity": "",
        "ToCountry": country_of(to),
        "ToState": "",
        "ToZip": "",
    }
    if message.get("messaging_service_sid"):
        params["MessagingServiceSid"] = message["messaging_service_sid"]
    return params
