"""Loopback fakes of provider metadata endpoints: a real HTTP server on 127.0.0.1, random port.

Routes map a path to a list of (status, JSON body[, headers]) answers; the last answer repeats. Every
request is recorded (path, query, headers) so tests can assert what the real client sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "MISTRAL_API_KEY",
            "OPENROUTER_API_KEY")


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class FakeProvider:
    url: str
    routes: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def route(self, path: str, *answers: tuple[Any, ...]) -> None:
        self.routes[path] = list(answers)

    def hits(self, path: str) -> int:
        return sum(1 for s in self.seen if s.path == path)


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    state = FakeProvider(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            state.seen.append(Seen(parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}))
            answers = state.routes.get(parts.path)
            if not answers:
                status, body, headers = 404, {"error": {"message": "not found"}}, {}
            else:
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                status, body, headers = answer[0], answer[1], (answer[2] if len(answer) > 2 else {})
            data = body if isinstance(body, bytes) else json.dumps(body).encode()  # bytes: sent as they are
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start with no provider key or base URL from the developer's shell."""
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    for provider in ("OPENAI", "ANTHROPIC", "GEMINI", "MISTRAL", "OPENROUTER"):
        monkeypatch.delenv(f"MODELGUARD_{provider}_BASE_URL", raising=False)
