"""A real OCI registry for the tests: the CNCF distribution registry (Debian ``docker-registry``, 2.8).

:func:`start_registry` runs ``docker-registry serve CONFIG`` on a free loopback port (the registry
binds ``127.0.0.1:0`` and the port is read from its "listening on" log line), with filesystem
storage under the test's tmp_path and, for the auth tests, htpasswd (bcrypt) basic auth. 2.8 serves
htpasswd auth over plain HTTP (it warns, it does not refuse), so no TLS is needed on loopback.

When the binary is missing, a test that needs it fails under ``CI`` (``.ci/run`` installs it) and
is skipped elsewhere with the command that installs it: never a silent gap in CI.

:class:`RedirectingFront` is a stdlib proxy in front of a registry, as object-storage-backed
registries behave: every request is passed through, except a blob GET the registry answers 200,
which is answered ``307`` to an "object store" on another loopback port serving the same bytes.
Both record every request (with whether ``Authorization`` was sent), and the store can cut a
transfer part way (to test resume with ``Range``).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

INSTALL = "apt-get install -y docker-registry"


def registry_binary() -> str:
    found = shutil.which("docker-registry")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"docker-registry is not installed, and CI must run the registry tests; .ci/run installs it "
                    f"({INSTALL})")
    pytest.skip(f"docker-registry (CNCF distribution) is not installed; run `{INSTALL}` (Debian/Ubuntu, as root) "
                "to run the OCI registry tests")


@dataclass
class Registry:
    host: str
    """``127.0.0.1:PORT``"""
    root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, namespace: str = "models") -> str:
        return f"oci://{self.host}/{namespace}"

    def blob_file(self, digest: str) -> Path:
        """Where the filesystem driver keeps a blob's bytes (tests tamper with it)."""
        hexd = digest.removeprefix("sha256:")
        return self.root / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def htpasswd_line(user: str, password: str) -> str:
    import bcrypt

    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}"


def start_registry(folder: Path, *, users: dict[str, str] | None = None, extra: str = "") -> Registry:
    binary = registry_binary()
    folder.mkdir(parents=True, exist_ok=True)
    storage = folder / "storage"
    auth = ""
    if users:
        (folder / "htpasswd").write_text("".join(htpasswd_line(u, p) + "\n" for u, p in users.items()))
        auth = f"auth:\n  htpasswd:\n    realm: modelguard-tests\n    path: {folder / 'htpasswd'}\n"
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:0\n  secret: {secrets.token_hex(16)}\n{auth}{extra}"
    )
    log = folder / "registry.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if found:
            return Registry(f"127.0.0.1:{found.group(1)}", storage, process, log)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    pytest.fail(f"docker-registry did not start: {log.read_text(errors='replace')[-2000:]}")


# --- a redirecting front and an object store ------------------------------------------------------


@dataclass
class Seen:
    server: str
    method: str
    path: str
    authorization: bool
    range: str | None


@dataclass
class RedirectingFront:
    """A proxy in front of ``upstream`` (``host:port``) that sends blob downloads to an object store."""

    upstream: str
    seen: list[Seen] = field(default_factory=list)
    cut_after: int | None = None
    """the store closes the next full (non-Range) answer of a longer blob after this many bytes, once"""
    referrers_api: dict[str, bytes] | None = None
    """when set, ``GET /v2/<repo>/referrers/<digest>`` is answered from it (a registry with the API)"""
    subject_header: bool = False
    """answer a manifest PUT with a subject with ``OCI-Subject``, as OCI 1.1 registries do"""
    _objects: dict[str, bytes] = field(default_factory=dict)
    _servers: list[ThreadingHTTPServer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> RedirectingFront:
        front = ThreadingHTTPServer(("127.0.0.1", 0), _front_handler(self))
        store = ThreadingHTTPServer(("127.0.0.1", 0), _store_handler(self))
        self._servers = [front, store]
        for s in self._servers:
            threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        for s in self._servers:
            s.shutdown()
            s.server_close()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def store_host(self) -> str:
        return f"127.0.0.1:{self._servers[1].server_address[1]}"

    def record(self, server: str, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.seen.append(Seen(server, handler.command, handler.path, "Authorization" in handler.headers,
                                  handler.headers.get("Range")))

    def of(self, server: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.server == server]


_BLOB = re.compile(r"^/v2/.+/blobs/sha256:[0-9a-f]{64}$")
_REFERRERS = re.compile(r"^/v2/.+/referrers/(sha256:[0-9a-f]{64})$")
_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


def _front_handler(front: RedirectingFront) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _forward(self) -> None:
            front.record("front", self)
            wanted = _REFERRERS.match(self.path)
            if front.referrers_api is not None and self.command == "GET" and wanted:
                body = front.referrers_api.get(wanted.group(1), b'{"schemaVersion":2,"manifests":[]}')
                self._reply(200, {"Content-Type": "application/vnd.oci.image.index.v1+json"}, body)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            conn = http.client.HTTPConnection(front.upstream, timeout=60)
            blob_get = self.command == "GET" and bool(_BLOB.match(self.path))
            # A blob GET is redirected whatever its Range: the store answers the Range (as S3 does).
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP
                       and not (blob_get and k.lower() == "range")}
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            conn.close()
            out = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP}
            if "Location" in out:  # upload locations name the upstream: keep them on the front
                out["Location"] = out["Location"].replace(f"http://{front.upstream}", f"http://{front.host}")
            if front.subject_header and self.command == "PUT" and body and b'"subject"' in body \
                    and answer.status == 201:
                out["OCI-Subject"] = json.loads(body)["subject"]["digest"]
            if blob_get and answer.status == 200:
                key = secrets.token_hex(8)
                with front.lock:
                    front._objects[key] = data
                self._reply(307, {"Location": f"http://{front.store_host}/o/{key}?X-Signature=abc"}, b"")
                return
            self._reply(answer.status, out, b"" if self.command == "HEAD" else data,
                        length=out.get("Content-Length") if self.command == "HEAD" else None)

        def _reply(self, status: int, headers: dict[str, str], body: bytes, length: str | None = None) -> None:
            self.send_response(status)
            for k, v in headers.items():
                if k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", length if length is not None else str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    return Handler


def _store_handler(front: RedirectingFront) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            front.record("store", self)
            key = self.path.split("?")[0].rsplit("/", 1)[-1]
            with front.lock:
                data = front._objects.get(key)
            if data is None:
                self.send_error(404)
                return
            wanted = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
            start = int(wanted.group(1)) if wanted else 0
            self.send_response(206 if wanted else 200)
            if wanted:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            with front.lock:
                cut = front.cut_after if not wanted and front.cut_after is not None and \
                    front.cut_after < len(data) else None
                if cut is not None:
                    front.cut_after = None
            if cut is not None:
                self.wfile.write(data[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data[start:])

    return Handler
