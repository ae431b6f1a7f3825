"""A fake OpenAI server on 127.0.0.1, for tests and benchmarks that need a real HTTP backend.

:class:`FakeOpenAI` serves ``POST /v1/chat/completions`` (non-streaming) from a
standard-library ``ThreadingHTTPServer`` in a daemon thread, on an ephemeral port. It can
limit the request rate (HTTP 429 with ``Retry-After``), fail every request, reflect the
Authorization header in its error (a hostile server) and add latency; it counts what it
served. :func:`closed_port` gives a port that nothing listens on.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langchain_openai import ChatOpenAI

API_KEY = "sk-test-loopback-5eCr3t-0123456789"
"""The API key of :func:`chat_model`: a secret that must never be recorded or logged."""

Answer = Callable[[list[dict[str, Any]]], str]


def chat_model(url: str, **kwargs: Any) -> ChatOpenAI:
    """A ``ChatOpenAI`` at temperature 0 talking to ``url`` with :data:`API_KEY`."""
    return ChatOpenAI(base_url=url, api_key=API_KEY, model="fake-model", temperature=0, **kwargs)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, read and closed again)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeOpenAI:
    """An OpenAI-compatible chat completions server on loopback; use it as a context manager.

    Args:
        answer: the answer text for a request's messages (role/content dicts); for a request
            with ``tools`` it is the JSON arguments of a call of the first tool.
        rate_limit: requests per second admitted (a token bucket whose burst is the rate);
            the others get HTTP 429 with ``Retry-After``. None admits all.
        retry_after: the ``Retry-After`` header of a 429, in seconds.
        echo_auth: answer every request with HTTP 401 whose message holds the request's
            Authorization header verbatim.
        fail_status: answer every request with this HTTP status.
        latency_s: seconds to wait before answering.

    Attributes:
        requests: HTTP requests received.
        rejected: requests refused with HTTP 429.
        answered: requests answered with a completion.
        last_request: the JSON body of the latest request.
    """

    def __init__(
        self,
        answer: Answer = lambda _messages: "stay",
        *,
        rate_limit: float | None = None,
        retry_after: str = "1",
        echo_auth: bool = False,
        fail_status: int | None = None,
        latency_s: float = 0.0,
    ) -> None:
        self.answer = answer
        self.rate_limit = rate_limit
        self.retry_after = retry_after
        self.echo_auth = echo_auth
        self.fail_status = fail_status
        self.latency_s = latency_s
        self.requests = self.rejected = self.answered = 0
        self.last_request: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._tokens = rate_limit or 0.0
        self._refilled = time.monotonic()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        self._server.request_queue_size = 256  # many clients connect at once
        self._server.server_bind()
        self._server.server_activate()
        self._server.fake = self  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        """The base URL of the API, ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def chat_model(self, **kwargs: Any) -> ChatOpenAI:
        """A ``ChatOpenAI`` for this server (see :func:`chat_model`)."""
        return chat_model(self.url, **kwargs)

    def __enter__(self) -> FakeOpenAI:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def receive(self, body: dict[str, Any]) -> None:
        """Count a request and keep its body."""
        with self._lock:
            self.requests += 1
            self.last_request = body

    def admit(self) -> bool:
        """Whether the rate limit admits a request now (a 429 is counted otherwise)."""
        if self.rate_limit is None:
            return True
        with self._lock:
            now = time.monotonic()
            elapsed, self._refilled = now - self._refilled, now
            self._tokens = min(self.rate_limit, self._tokens + elapsed * self.rate_limit)
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            self.rejected += 1
            return False

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """The chat completion answering ``body``, with word counts as token usage."""
        messages = body.get("messages", [])
        text = self.answer(messages)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            call = {"id": "call_0", "type": "function", "function": {"name": name, "arguments": text}}
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages)
        completion_tokens = len(text.split())
        with self._lock:
            self.answered += 1
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if body.get("tools") else "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _error(message: str, kind: str, code: str) -> dict[str, Any]:
    """OpenAI's error body."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    """Answers one connection's requests for the server's :class:`FakeOpenAI`."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the OpenAI client expects

    def do_POST(self) -> None:
        fake: FakeOpenAI = self.server.fake  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        fake.receive(body)
        time.sleep(fake.latency_s)
        if fake.echo_auth:
            auth = self.headers.get("Authorization", "")
            self._send(401, _error(f"Incorrect API key provided: {auth}", "invalid_request_error", "401"))
        elif fake.fail_status is not None:
            self._send(fake.fail_status, _error("The server had an error.", "server_error", "fail"))
        elif not self.path.endswith("/chat/completions"):
            self._send(404, _error(f"Unknown path {self.path}", "invalid_request_error", "404"))
        elif not fake.admit():
            error = _error("Rate limit reached for requests.", "requests", "rate_limit_exceeded")
            self._send(429, error, {"Retry-After": fake.retry_after})
        else:
            self._send(200, fake.completion(body))

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Serve quietly (the base class writes every request to stderr)."""
