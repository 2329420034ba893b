"""A registry that misbehaves: each answer is refused with its rule, in a real fetch report, nothing admitted.

A small stdlib registry (not the real one: these answers are what a compromised or broken registry,
or a proxy in front of one, would send) serves blob GETs for one model.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from modelguard.mirror.oci import OCI_MANIFEST, RegistryClient
from modelguard.mirror.reference import parse_location
from tests.cache_helpers import locked_model, publish, write_project
from tests.fakehub import FakeHub
from tests.mirror.project import Machine, cache_files

FILES = {"config.json": b'{"hidden": 4}\n'}


class Hostile:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(hostile: Hostile) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _ranged_head(self, data: bytes) -> int:
            """Answer the status and headers for ``data`` from the asked Range's start (honoured); return it."""
            start = int(self.headers.get("Range", "bytes=0-")[6:-1])
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            return start

        def do_GET(self) -> None:
            data = FILES["config.json"]
            if "/manifests/" in self.path:  # any manifest: bytes that are not the digest asked for
                self._send(200, {"Content-Type": OCI_MANIFEST}, b'{"schemaVersion":2}')
            elif hostile.mode == "file-redirect":
                self._send(307, {"Location": "file:///etc/passwd"})
            elif hostile.mode == "loop":
                self._send(302, {"Location": self.path})
            elif hostile.mode == "missing":  # the mirror was never given this model
                self._send(404, {"Content-Type": "application/json"}, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
            elif hostile.mode == "wrong-length":  # announces another size than the lock's: refused unread
                self._send(200, {"Content-Length": "99"}, data + b"x" * (99 - len(data)))
            elif hostile.mode == "gzip":
                self._send(200, {"Content-Encoding": "gzip"}, gzip.compress(data))
            elif hostile.mode == "trickle":  # honours Range, but sends one byte per answer, then hangs up
                start = self._ranged_head(data)
                self.wfile.write(data[start:start + 1])
                self.close_connection = True
            elif hostile.mode == "drip":  # honours Range, then a byte every 0.5 s: never silent long enough to time out
                start = self._ranged_head(data)
                try:
                    for i in range(start, len(data)):
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                        time.sleep(0.5)
                except OSError:
                    pass  # the client gave up on this transfer
                self.close_connection = True
            elif hostile.mode == "too-long":  # chunked, so no length to refuse early: more bytes than locked
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                extra = data + b"more bytes"
                self.wfile.write(f"{len(extra):x}\r\n".encode() + extra + b"\r\n0\r\n\r\n")
            elif hostile.mode == "bearer-over-http":
                self._send(401, {"WWW-Authenticate": 'Bearer realm="http://auth.example.com/token",service="r"'})
            else:  # an error the registry does not explain (no retry: 5xx would be retried with backoff)
                self._send(400, {"Content-Type": "application/json"},
                           b'{"errors":[{"code":"UNSUPPORTED","message":"<script>"}]}')

    return Handler


@pytest.fixture
def project(tmp_path: Path) -> Machine:
    write_project(tmp_path, [locked_model("tiny", "acme/tiny", FILES)])
    return Machine(tmp_path)


@pytest.mark.parametrize(("mode", "rule", "code"), [
    ("file-redirect", "MG-H163", 1),
    ("loop", "MG-H163", 1),
    ("gzip", "MG-H162", 1),
    ("wrong-length", "MG-H002", 1),
    ("trickle", "MG-H008", 1),
    ("too-long", "MG-H002", 1),
    ("bearer-over-http", "MG-H163", 1),
    ("error", "MG-H161", 3),
    ("missing", "MG-H160", 3),
])
def test_hostile_answers_are_refused_in_the_report(project: Machine, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, mode: str, rule: str,
                                                   code: int) -> None:
    monkeypatch.setenv("MODELGUARD_REGISTRY_USERNAME", "alice")
    monkeypatch.setenv("MODELGUARD_REGISTRY_PASSWORD", "pw-never-shown")
    hostile = Hostile(mode)
    try:
        got, doc, err = project.fetch(capsys, "--mirror", f"oci://{hostile.host}/m", "--plain-http", "--no-hub")
    finally:
        hostile.close()
    assert got == code, (doc, err)
    assert rule in {f["rule"] for f in doc["findings"]}  # every finding, files' and models'
    assert "pw-never-shown" not in json.dumps(doc) + err
    assert cache_files(project.cache) == []


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    h = Hostile("error")
    yield h
    h.close()


def test_manifest_with_other_bytes_than_its_digest_is_refused(hostile: Hostile) -> None:
    from modelguard.errors import IntegrityError

    asked = "sha256:" + hashlib.sha256(b"the real manifest").hexdigest()
    with RegistryClient(parse_location(f"oci://{hostile.host}/m", plain_http=True)) as client, \
            pytest.raises(IntegrityError) as info:
        client.get_manifest("m/acme--tiny", asked, OCI_MANIFEST)
    assert info.value.rule == "MG-H162"


def test_a_mirror_that_cannot_serve_falls_back_to_the_hub(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          fake_hub: FakeHub) -> None:
    model = publish(fake_hub, "tiny", "acme/tiny", FILES)
    write_project(tmp_path, [model])
    node = Machine(tmp_path)
    hostile = Hostile("error")
    try:
        node.add_mirror(f"oci://{hostile.host}/m", fallback="hub")
        code, doc, err = node.fetch(capsys, endpoint=fake_hub.endpoint)
    finally:
        hostile.close()
    assert code == 0, (doc, err)
    assert doc["models"][0]["status"] == "admitted"
    assert "MG-H164" in {f["rule"] for f in doc["findings"]}


def test_a_mirror_that_drips_is_a_stall_not_a_day_long_fetch(project: Machine, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Each try (the first and every resume) has its own deadline, as a Hub transfer does; a byte every
    # 0.5 s keeps the read timeout from ever firing, so only the pace can stop it (2 bytes a try).
    monkeypatch.setenv("MODELGUARD_LIMIT_FILE_DEADLINE", "0.3")
    monkeypatch.setenv("MODELGUARD_LIMIT_MIN_RATE", "1")
    hostile = Hostile("drip")
    try:
        code, doc, err = project.fetch(capsys, "--mirror", f"oci://{hostile.host}/m", "--plain-http", "--no-hub")
    finally:
        hostile.close()
    assert code == 3, (doc, err)
    assert "MG-H135" in {f["rule"] for f in doc["findings"]}
    assert doc["models"][0]["status"] != "admitted"
    assert cache_files(project.cache) == []
