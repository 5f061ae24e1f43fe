"""A local fake of the OpenAI chat-completions HTTP API that serves scripted model turns.

    with FakeOpenAI([tool_call("ls", {"path": "/"}), text("done")]) as fake:
        model = ChatOpenAI(base_url=fake.base_url, api_key="k", model="gpt-fake")
        ...
        fake.requests  # every request body, in order

A script is a list of replies (served in order) or a function `(request, index) -> Reply`.
Replies: `text(...)`, `tool_call(...)`/`tool_calls(...)`, `status(429, retry_after=0)`,
`raw(b"garbage")`. Streaming requests get server-sent events; `usage` is always reported.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer of the fake model."""

    content: str | None = None
    calls: tuple[tuple[str, str], ...] = ()  # (tool name, JSON arguments)
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None  # raw body, bypasses the JSON encoder (garbage)
    finish_reason: str | None = None


def text(content: str) -> Reply:
    """An assistant message with text content (empty string: an empty message)."""
    return Reply(content=content)


def tool_call(name: str, args: dict[str, Any] | str) -> Reply:
    """An assistant message with one tool call; `args` as a dict or a raw JSON string."""
    return tool_calls((name, args))


def tool_calls(*calls: tuple[str, dict[str, Any] | str]) -> Reply:
    """An assistant message with several (parallel) tool calls."""
    encoded = tuple((n, a if isinstance(a, str) else json.dumps(a)) for n, a in calls)
    return Reply(calls=encoded)


def status(code: int, *, retry_after: float | None = None, message: str = "") -> Reply:
    """An HTTP error, e.g. 429 with a Retry-After header."""
    headers = (("Retry-After", f"{retry_after:g}"),) if retry_after is not None else ()
    error = {
        "error": {"message": message or f"status {code}", "type": "fake_error", "code": str(code)}
    }
    return Reply(status=code, headers=headers, body=json.dumps(error).encode())


def raw(body: bytes, *, code: int = 200, content_type: str = "application/json") -> Reply:
    """A raw HTTP body (garbage, truncated JSON...)."""
    return Reply(status=code, body=body, headers=(("Content-Type", content_type),))


Script = (
    Sequence[Reply | Callable[[dict[str, Any], int], Reply]]
    | Callable[[dict[str, Any], int], Reply]
)


def approx_tokens(data: Any) -> int:
    """A rough token count (4 characters a token), stable across runs."""
    textual = data if isinstance(data, str) else json.dumps(data, sort_keys=True)
    return max(1, len(textual) // 4)


@dataclass
class Stats:
    """What the fake served."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass
class FakeOpenAI:
    """The fake server: start() on a free 127.0.0.1 port, stop() when done (or use `with`)."""

    script: Script = ()
    latency: float = 0.0
    exhausted: Reply = field(default_factory=lambda: status(500, message="fake script exhausted"))
    requests: list[dict[str, Any]] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (ends in /v1)."""
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FakeOpenAI:
        """Serve in a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def next_reply(self, request: dict[str, Any]) -> tuple[Reply, int]:
        """Record the request and pick the scripted reply."""
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
        if callable(self.script):
            return self.script(request, index), index
        if index >= len(self.script):
            return self.exhausted, index
        item = self.script[index]
        return (item(request, index) if callable(item) else item), index

    def tool_names(self, index: int = -1) -> list[str]:
        """Names of the tools offered in one recorded request."""
        return [t["function"]["name"] for t in self.requests[index].get("tools", [])]

    def messages_text(self, index: int = -1) -> str:
        """All message contents of one recorded request, joined (for assertions)."""
        parts = []
        for msg in self.requests[index].get("messages", []):
            content = msg.get("content")
            if isinstance(content, list):
                content = " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
            parts.append(str(content or ""))
        return "\n".join(parts)


def _completion(reply: Reply, request: dict[str, Any], fake: FakeOpenAI) -> dict[str, Any]:
    """The chat.completion body for a reply, with usage counted into the stats."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.calls:
        message["tool_calls"] = [
            {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {"name": name, "arguments": args},
            }
            for name, args in reply.calls
        ]
    prompt = approx_tokens(request.get("messages", [])) + approx_tokens(request.get("tools", []))
    completion = approx_tokens((reply.content or "") + "".join(a for _, a in reply.calls))
    with fake._lock:
        fake.stats.calls += 1
        fake.stats.prompt_tokens += prompt
        fake.stats.completion_tokens += completion
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "gpt-fake"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": reply.finish_reason or ("tool_calls" if reply.calls else "stop"),
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def _chunks(body: dict[str, Any], include_usage: bool) -> list[dict[str, Any]]:
    """A completion split into streaming chunks (role, content, one per tool call, finish)."""
    choice = body["choices"][0]
    msg = choice["message"]
    base = {k: body[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return base | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    if msg.get("content"):
        out.append(chunk({"content": msg["content"]}))
    for i, call in enumerate(msg.get("tool_calls", [])):
        out.append(chunk({"tool_calls": [{"index": i, **call}]}))
    out.append(chunk({}, choice["finish_reason"]))
    if include_usage:
        out.append(base | {"choices": [], "usage": body["usage"]})
    return out


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to one fake."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet: tests read `fake.requests` instead."""

        def _send(self, code: int, body: bytes, headers: Sequence[tuple[str, str]] = ()) -> None:
            self.send_response(code)
            names = {k.lower() for k, _ in headers}
            if "content-type" not in names:
                self.send_header("Content-Type", "application/json")
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            """/v1/models: what startup reachability checks probe."""
            if self.path.rstrip("/").endswith("/models"):
                self._send(
                    200,
                    json.dumps(
                        {
                            "object": "list",
                            "data": [{"id": "gpt-fake", "object": "model", "owned_by": "fake"}],
                        }
                    ).encode(),
                )
            else:
                self._send(404, b'{"error": {"message": "not found"}}')

        def do_POST(self) -> None:  # noqa: N802
            """/v1/chat/completions, streaming or not."""
            length = int(self.headers.get("Content-Length") or 0)
            try:
                request = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._send(400, b'{"error": {"message": "bad json"}}')
                return
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, b'{"error": {"message": "only chat completions are faked"}}')
                return
            reply, _ = fake.next_reply(request)
            if fake.latency:
                time.sleep(fake.latency)
            if reply.body is not None or reply.status != 200:
                self._send(reply.status, reply.body or b"", reply.headers)
                return
            body = _completion(reply, request, fake)
            if not request.get("stream"):
                self._send(200, json.dumps(body).encode())
                return
            usage = bool((request.get("stream_options") or {}).get("include_usage"))
            events = (
                b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in _chunks(body, usage))
                + b"data: [DONE]\n\n"
            )
            self._send(200, events, (("Content-Type", "text/event-stream"),))

    return Handler
