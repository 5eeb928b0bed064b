"""`X-Twilio-Signature`, as Twilio signs every webhook it sends.

Base64 of HMAC-SHA1, keyed with the account's Auth Token, over the full URL Twilio requested
followed by each POST parameter's name and value, sorted by name. The app checks it with
`twilio.request_validator.RequestValidator(auth_token).validate(url, params, signature)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

HEADER = "X-Twilio-Signature"


def signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    payload = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
