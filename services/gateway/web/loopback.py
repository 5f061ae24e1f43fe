"""The gateway's own HTTP API, called in-process on behalf of a signed-in person.

The UI decides nothing itself: every read and every decision goes through `/v1` with the
session's key as `Authorization: Bearer`, so the roles, tenants, self-approval rule and edit
validation are exactly the API's (and the CLI's). Plain calls use httpx over ASGI; the progress
stream is relayed chunk by chunk (httpx's ASGI transport would wait for the stream to end).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import Request
from starlette.types import Message

HOST = "gateway.internal"


class Loopback:
    """`/v1` of this very app, as the principal whose key is given (None: local mode)."""

    def __init__(self, request: Request, key: str | None) -> None:
        self._app = request.app
        self._client = (request.client.host, request.client.port) if request.client else None
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call; the response is read in full."""
        transport = httpx.ASGITransport(app=self._app, client=self._client or ("127.0.0.1", 0))
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://{HOST}", headers=self._headers, timeout=120
        ) as http:
            return await http.request(method, path, **kwargs)

    async def stream(
        self, path: str, params: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], AsyncIterator[bytes]]:
        """A streamed GET: status, headers and the body as it comes (the SSE progress)."""
        queue: asyncio.Queue[Message | None] = asyncio.Queue()
        sent_body = False

        async def receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": b"", "more_body": False}
            # The client's disconnect ends the relay, which cancels this call.
            await asyncio.Event().wait()
            return {"type": "http.disconnect"}  # pragma: no cover

        async def send(message: Message) -> None:
            await queue.put(message)

        raw = {**headers, **self._headers, "host": HOST}
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": urlencode(params).encode(),
            "headers": [(k.lower().encode(), v.encode()) for k, v in raw.items()],
            "client": self._client,
            "server": (HOST, 80),
            "state": {},
        }

        async def run() -> None:
            try:
                await self._app(scope, receive, send)
            finally:
                await queue.put(None)

        task = asyncio.create_task(run())
        start = await queue.get()
        if start is None or start["type"] != "http.response.start":
            await _stop(task)
            return 502, {}, _empty()
        status = int(start["status"])
        response_headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}

        async def body() -> AsyncIterator[bytes]:
            try:
                while (message := await queue.get()) is not None:
                    if message["type"] == "http.response.body":
                        if chunk := message.get("body", b""):
                            yield chunk
                        if not message.get("more_body", False):
                            break
            finally:
                await _stop(task)

        return status, response_headers, body()


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
