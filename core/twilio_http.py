"""The HTTP client the Twilio SDK talks through: async on httpx, and able to send every Twilio
product host to one base address.

Twilio's SDK builds absolute URLs per product (``https://api.twilio.com/2010-04-01/…``,
``https://verify.twilio.com/v2/…``) and has no per-client base URL setting. With ``api_base``
set (the sandbox, ``http://127.0.0.1:8100/twilio``), ``https://<product>.twilio.com/<path>``
becomes ``<api_base>/<product>/<path>``; unset, requests go to Twilio unchanged.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx
from twilio.http import AsyncHttpClient
from twilio.http.request import Request as TwilioRequest
from twilio.http.response import Response

_log = logging.getLogger("tempwork.twilio_http")


def rewrite(url: str, api_base: str | None) -> str:
    """``https://verify.twilio.com/v2/X`` → ``<api_base>/verify/v2/X`` (unchanged without a base)."""
    if not api_base:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host.endswith(".twilio.com"):
        return url
    product = host.removesuffix(".twilio.com").split(".")[0]  # edge/region forms: verify.us1
    query = f"?{parts.query}" if parts.query else ""
    return f"{api_base.rstrip('/')}/{product}{parts.path}{query}"


class TwilioHttpClient(AsyncHttpClient):
    def __init__(self, api_base: str | None = None, timeout: float = 20.0) -> None:
        super().__init__(_log, is_async=True, timeout=timeout)
        self.api_base = api_base
        self._client = httpx.AsyncClient(timeout=timeout)

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        url = rewrite(uri, self.api_base)
        self._test_only_last_request = TwilioRequest(
            method=method.upper(), url=url, auth=auth, params=params, data=data, headers=headers
        )
        response = await self._client.request(
            method.upper(),
            url,
            params=params,  # type: ignore[arg-type]
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout or self.timeout,
            follow_redirects=allow_redirects,
        )
        self._test_only_last_response = Response(
            response.status_code, response.text, response.headers
        )
        return self._test_only_last_response

    async def close(self) -> None:
        await self._client.aclose()
