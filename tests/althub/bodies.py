"""althub's bytes: the CDN's signed URLs, the foreign host, and every way a body can go wrong.

Mixed into :class:`tests.althub.server.AltHub`; see README.md for what is modelled and why.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import socket
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

from tests.althub.repo import AltFile, AltRepo

if TYPE_CHECKING:  # pragma: no cover
    from tests.althub.server import Fault, _Handler, _Server

_SECRET = b"althub-signing-key"
_MAX_DRIP = 3.0  # seconds a slow body may take, in total
_MAX_TRICKLE = 60.0  # seconds a trickling body keeps a server thread, whether or not the client gave up


class Bodies:
    repos: dict[str, AltRepo]
    servers: dict[str, _Server]

    def _take(self, kind: str, repo: str | None, path: str | None = None) -> Fault | None:
        raise NotImplementedError

    def _endless_json(self, h: _Handler, limit: int) -> None:
        """A JSON answer that never ends: chunked, no Content-Length, until the client hangs up (or ``limit``)."""
        h.send_response(200)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        piece = b'{"type":"file","oid":"' + b"0" * 40 + b'","size":1,"path":"a"},'
        chunk = b"[" + piece * (65536 // len(piece))
        sent = 0
        while sent < limit:
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            chunk = chunk.removeprefix(b"[")
        h.wfile.write(b"0\r\n\r\n")
        h.close_connection = True

    # --- CDN and the foreign host

    def _signed(self, host: str, f: AltFile) -> str:
        key = f"/repos/{f.sha256[:2]}/{f.sha256[2:4]}/{f.sha256}"
        expires = str(int(time.time()) + 3600)
        policy = base64.b64encode(json.dumps({"Statement": [{"Resource": key}]}).encode()).decode().rstrip("=")
        sig = hmac.new(_SECRET, f"{key}:{expires}".encode(), "sha256").hexdigest()
        disposition = quote(f"inline; filename*=UTF-8''{f.path.rsplit('/', 1)[-1]};", safe="")
        return (f"{host}{key}?response-content-disposition={disposition}&Expires={expires}&Policy={policy}"
                f"&Signature={sig}&Key-Pair-Id=KALTHUB0EXAMPLE")

    def _blob_host(self, h: _Handler, head: bool) -> None:
        url = urlsplit(h.path)
        q = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        digest = url.path.rsplit("/", 1)[-1]
        found = [(r, f) for r in self.repos.values() for files in r.commits.values() for f in files.values()
                 if f.lfs and f.sha256 == digest]
        xml = {"Content-Type": "application/xml", "Server": "AmazonS3"}
        if "Authorization" in h.headers:
            # S3 and CloudFront refuse a request that carries both a signed URL and a header credential.
            h.reply(400, xml, b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed"
                              b"</Message></Error>", head=head)
            return
        expected = hmac.new(_SECRET, f"{url.path}:{q.get('Expires', '')}".encode(), "sha256").hexdigest()
        if h.server.role == "cdn" and (not found or not hmac.compare_digest(q.get("Signature", ""), expected)):
            h.reply(403, xml, b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>", head=head)
            return
        if not found:
            h.reply(404, xml, b"<Error><Code>NoSuchKey</Code></Error>", head=head)
            return
        repo, f = found[0]
        if self._take("cdn-loop", repo.repo_id, f.path):
            h.reply(302, {"Location": h.path}, head=head)
            return
        if h.server.role == "elsewhere":
            f = AltFile(f.path, bytes(f.size), f.lfs, f.xet)
        md5 = hashlib.md5(f.content).hexdigest()
        headers = {"Content-Type": "binary/octet-stream", "ETag": f'"{md5}-3"', "Accept-Ranges": "bytes",
                   "Last-Modified": "Sat, 14 Mar 2026 09:26:53 GMT", "x-amz-server-side-encryption": "AES256",
                   "x-amz-version-id": "null", "Via": "1.1 althub.cloudfront.net (CloudFront)", "X-Cache": "Miss"}
        self._content(h, head, repo.repo_id, f, headers)

    @staticmethod
    def _cut(h: _Handler, status: int, headers: dict[str, str], data: bytes) -> None:
        """Announce all of ``data``, send half, close the connection."""
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data[: len(data) // 2])
        h.wfile.flush()
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _trickle(h: _Handler, status: int, headers: dict[str, str], data: bytes, every: float) -> None:
        """One byte every ``every`` seconds, for as long as the client listens (at most _MAX_TRICKLE)."""
        h.reply(status, headers, head=True, length=len(data))
        started = time.monotonic()
        for offset in range(len(data)):
            if time.monotonic() - started > _MAX_TRICKLE:
                break
            h.wfile.write(data[offset:offset + 1])
            h.wfile.flush()
            time.sleep(every)

    def _content(self, h: _Handler, head: bool, repo: str, f: AltFile, headers: dict[str, str]) -> None:
        data = f.content
        if data and self._take("tamper", repo, f.path):
            data = bytes([data[0] ^ 0x20]) + data[1:]
        announced = len(data)
        if self._take("head-size", repo, f.path) and not f.lfs:
            announced += 1
        if head:
            h.reply(200, headers, head=True, length=announced)
            return
        if (rng := h.headers.get("Range", "")).startswith("bytes=") and rng[6:].split("-")[0].isdigit():
            start = int(rng[6:].split("-")[0])
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            if self._take("truncate", repo, f.path):  # a resumed transfer is cut half-way too
                self._cut(h, 206, headers, data[start:])
                return
            if (trickle := self._take("trickle", repo, f.path)) is not None:  # and so is a trickle
                self._trickle(h, 206, headers, data[start:], float(trickle.value or 2.0))
                return
            h.reply(206, headers, data[start:])
            return
        if self._take("gzip-body", repo, f.path) and "gzip" in h.headers.get("Accept-Encoding", ""):
            headers["ETag"] = "W/" + headers.get("ETag", '"x"').removeprefix("W/")
            h.reply(200, {**headers, "Content-Encoding": "gzip"}, gzip.compress(data))
            return
        if self._take("bad-gzip", repo, f.path):
            h.reply(200, {**headers, "Content-Encoding": "gzip"}, data)
            return
        if self._take("truncate", repo, f.path):
            self._cut(h, 200, headers, data)
            return
        if (lie := self._take("length", repo, f.path)) is not None:
            # Content-Length says one thing, the body another; the connection closes after the body.
            h.send_response(200)
            for name, value in headers.items():
                h.send_header(name, value)
            h.send_header("Content-Length", str(len(data) + lie.value))
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(data[: len(data) + lie.value] if lie.value < 0 else data)
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        if self._take("overflow", repo, f.path):
            # No Content-Length: the body runs until the connection closes, longer than announced.
            h.send_response(200)
            for name, value in headers.items():
                h.send_header(name, value)
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(data + b"\0" * 4096)
            h.close_connection = True
            return
        if self._take("chunked", repo, f.path):
            # No Content-Length: the body comes in chunks (HTTP/1.1 chunked transfer coding).
            h.send_response(200)
            for name, value in headers.items():
                h.send_header(name, value)
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            for offset in range(0, len(data), 4096):
                piece = data[offset:offset + 4096]
                h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            h.wfile.write(b"0\r\n\r\n")
            return
        if (trickle := self._take("trickle", repo, f.path)) is not None:
            self._trickle(h, 200, headers, data, float(trickle.value or 2.0))
            return
        if (drip := self._take("drip", repo, f.path)) is not None:
            h.reply(200, headers, head=True, length=len(data))
            pieces = 8
            step = -(-len(data) // pieces) or 1
            for offset in range(0, len(data), step):
                h.wfile.write(data[offset:offset + step])
                h.wfile.flush()
                time.sleep(min(float(drip.value or 0.2), _MAX_DRIP / pieces))
            return
        h.reply(200, headers, data)
