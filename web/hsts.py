"""HTTP Strict Transport Security (RFC 6797) for the console served over HTTPS (--web-tls).

The header goes only on HTTPS responses: a browser ignores it over plain HTTP (RFC 6797 8.1),
and sending it there would be meaningless. No ``includeSubDomains``: the console's host name is
the only one nac speaks for.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS_MAX_AGE = 31_536_000  # one year, in seconds
HSTS_HEADER = (b"strict-transport-security", f"max-age={HSTS_MAX_AGE}".encode())


class HstsMiddleware:
    """Adds ``Strict-Transport-Security`` to every HTTPS response (pure ASGI: no buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == HSTS_HEADER[0] for k, _ in headers):
                    headers.append(HSTS_HEADER)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_hsts)
