"""HTTP plumbing of the fake Hub: threaded loopback servers, a handler that records every request
and hands it to a router, and Range parsing. Knows nothing about repos or faults.

Two knobs for benchmarks and transfer tests: ``Server.rate`` caps every connection at that many bytes
a second (what a CDN edge gives one stream: a client only goes faster by opening more connections),
and every body byte written is counted (``Server.served``), so a test can tell how much a client
downloaded again after an interruption.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol


class Router(Protocol):
    lock: threading.RLock

    def handle(self, h: Handler, head: bool) -> None: ...


@dataclass(frozen=True)
class RecordedRequest:
    server: str
    """``hub``, ``cdn`` or ``foreign``"""
    method: str
    path: str
    """path and query as sent"""
    headers: Mapping[str, str]
    """lower-cased names; ``authorization`` is redacted"""
    authorized: bool
    """an Authorization header was sent"""


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    """listen backlog: socketserver's default of 5 drops the SYN of a client opening many connections at
    once, which then waits a second to retry (a real Hub or CDN accepts them)"""

    def __init__(self, hub: Router, role: str) -> None:
        self.hub = hub
        self.role = role
        self.connections: set[socket.socket] = set()
        self.rate: float | None = None
        """bytes per second each connection may carry (None: as fast as the socket takes them)"""
        self.served = 0
        """body bytes written to clients (all connections, all requests)"""
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    server: Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.hub.lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.hub.lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def _dispatch(self, head: bool) -> None:
        try:
            self.server.hub.handle(self, head)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send(self, status: int, headers: Mapping[str, str] | None = None, body: bytes = b"", *,
             head: bool = False, length: int | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if not head and body:
            self.write_body(body)

    def write_body(self, body: bytes | memoryview) -> None:
        """Write body bytes, counted, at no more than the server's per-connection rate."""
        view = memoryview(body)
        rate = self.server.rate
        piece = len(view) if rate is None else max(1, min(len(view), int(rate) // 20, 1 << 20))
        started = time.monotonic()
        sent = 0
        while sent < len(view):
            chunk = view[sent:sent + piece]
            self.wfile.write(chunk)
            sent += len(chunk)
            with self.server.hub.lock:
                self.server.served += len(chunk)
            if rate is not None:
                # Paced from the start of this body: a sleep that ran long is made up, never a burst above it.
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)

    def error(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None,
              *, head: bool = False) -> None:
        body = json.dumps({"error": message}).encode()
        all_headers = {"Content-Type": "application/json", "X-Error-Code": code, "X-Error-Message": message}
        self.send(status, {**all_headers, **(headers or {})}, body, head=head)


def byte_range(header: str | None, size: int) -> tuple[int, int]:
    """``bytes=a-`` / ``bytes=a-b`` -> [start, end); anything else is the whole body."""
    if not header or not header.startswith("bytes=") or "," in header:
        return 0, size
    first, _, last = header[len("bytes="):].partition("-")
    try:
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return 0, size
    return (start, min(end, size)) if 0 <= start < size and start < end else (0, size)
