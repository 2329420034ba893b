"""An independent loopback Hugging Face Hub ("althub"): the real Hub's answers, with its own faults.

Three stdlib servers on 127.0.0.1, random ports: ``hub`` (API and ``resolve``), ``cdn`` (LFS bytes
behind signed URLs, like cdn-lfs / the Xet bridge) and ``elsewhere`` (a host nobody should trust).
Written without looking at ``modelguard.demo.fakehub``; see tests/althub/README.md for where each
behaviour comes from. Test-only; never for real traffic.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.althub.bodies import Bodies
from tests.althub.repo import AltFile, AltRepo


@dataclass
class Fault:
    kind: str
    repo: str | None
    path: str | None
    times: int | None
    value: Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, hub: AltHub, role: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hub, self.role = hub, role
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.hub.handle(self, head=False)

    def do_HEAD(self) -> None:
        self.server.hub.handle(self, head=True)

    def reply(self, status: int, headers: dict[str, str], body: bytes = b"", *, head: bool = False,
              length: int | None = None) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if not head:
            self.wfile.write(body)


class AltHub(Bodies):
    """Use as a context manager. ``add``/``push``/``tag`` create content; ``fault`` makes it misbehave."""

    def __init__(self, *, page_size: int = 1000) -> None:
        self.page_size = page_size
        self.lock = threading.Lock()
        self.repos: dict[str, AltRepo] = {}
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, str, bool]] = []  # (role, method, raw path, had Authorization)
        self.servers: dict[str, _Server] = {}
        self.moved: dict[str, str] = {}
        """old repo id -> new one: a renamed or transferred repo"""

    def __enter__(self) -> AltHub:
        for role in ("hub", "cdn", "elsewhere"):
            server = _Server(self, role)
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
            self.servers[role] = server
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()

    @property
    def endpoint(self) -> str:
        return self.servers["hub"].url

    # --- content and faults

    def add(self, repo_id: str, files: dict[str, bytes], *, gated: bool = False, private: bool = False,
            readers: tuple[str, ...] = (), **kw: Any) -> str:
        self.repos[repo_id] = AltRepo(repo_id, gated=gated, private=private, readers=set(readers))
        return self.repos[repo_id].push(files, **kw)

    def file(self, repo_id: str, revision: str, path: str) -> AltFile:
        repo = self.repos[repo_id]
        commit = repo.resolve(revision)
        assert commit is not None
        return repo.commits[commit][path]

    def fault(self, kind: str, *, repo: str | None = None, path: str | None = None, times: int | None = None,
              value: Any = None) -> None:
        with self.lock:
            self.faults.append(Fault(kind, repo, path, times, value))

    def _take(self, kind: str, repo: str | None, path: str | None = None) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.kind == kind and f.repo in (None, repo) and f.path in (None, path) and f.times != 0:
                    if f.times is not None:
                        f.times -= 1
                    return f
        return None

    def requests(self, role: str | None = None) -> list[tuple[str, str, str, bool]]:
        with self.lock:
            return [r for r in self.log if role in (None, r[0])]

    # --- HTTP entry point

    def handle(self, h: _Handler, *, head: bool) -> None:
        with self.lock:
            self.log.append((h.server.role, h.command, h.path, "Authorization" in h.headers))
        try:
            if h.server.role == "hub":
                self._hub(h, head)
            else:
                self._blob_host(h, head)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _common(self, kind: str = "api") -> dict[str, str]:
        return {"X-Powered-By": "huggingface-moon", "X-Request-Id": "Root=1-" + hashlib.md5(
                    str(time.time()).encode()).hexdigest()[:24],
                "RateLimit": f'"{kind}";r=499;t=120', "RateLimit-Policy": f'"fixed window";"{kind}";q=500;w=300',
                "Vary": "Origin, Accept", "Access-Control-Expose-Headers":
                    "X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,"
                    "Content-Range,X-Linked-Size,X-Linked-ETag,X-Xet-Hash"}

    def _error(self, h: _Handler, head: bool, status: int, code: str | None, message: str,
               extra: dict[str, str] | None = None) -> None:
        headers = {**self._common(), "Content-Type": "application/json; charset=utf-8",
                   "X-Error-Message": message, **(extra or {})}
        if code:
            headers["X-Error-Code"] = code
        h.reply(status, headers, json.dumps({"error": message}).encode(), head=head)

    def _json(self, h: _Handler, head: bool, data: object, repo: str, extra: dict[str, str] | None = None) -> None:
        if (endless := self._take("endless-json", repo)) is not None and not head:
            self._endless_json(h, int(endless.value or 1 << 30))
            return
        body = json.dumps(data, separators=(",", ":")).encode()
        headers = {**self._common(), "Content-Type": "application/json; charset=utf-8", **(extra or {})}
        if self._take("gzip-json", repo) and "gzip" in h.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        if (raw := self._take("raw-json", repo)) is not None:
            body = raw.value
        if self._take("bad-gzip", repo):
            headers["Content-Encoding"] = "gzip"  # ... on a body that is not gzip
        h.reply(200, headers, body, head=head)

    # --- the Hub

    def _hub(self, h: _Handler, head: bool) -> None:
        url = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        if parts[:3] == ["api", "resolve-cache", "models"]:
            route, rest = "resolve-cache", parts[3:]
        elif parts[:2] == ["api", "models"]:
            route, rest = "api", parts[2:]
        else:
            route, rest = "resolve", parts
        repo_id = "/".join(rest[:2])
        tail = rest[2:]
        if repo_id in self.moved:
            # A renamed or transferred repo: the Hub redirects every old URL to the new name.
            prefix = "/".join(url.path.split("/")[: len(parts) - len(rest) + 1])
            old = prefix + "/" + "/".join(quote(p) for p in rest[:2])
            target = url.path.replace(old, prefix + "/" + self.moved[repo_id], 1)
            h.reply(307, {**self._common(), "Location": target + (f"?{url.query}" if url.query else "")},
                    head=head)
            return
        repo = self.repos.get(repo_id)
        file = "/".join(tail[2:]) if route == "resolve" else "/".join(tail[1:]) if route == "resolve-cache" else None
        if (window := self._take("rate-window", repo_id, file)) is not None and time.monotonic() < window.value:
            # Rate limited until a moment: the Hub says how long with Retry-After and RateLimit.
            left = int(window.value - time.monotonic()) + 1
            self._error(h, head, 429, None, "Too Many Requests",
                        {"Retry-After": str(left), "RateLimit": f'"resolvers";r=0;t={left}'})
            return
        if (status := self._take("status", repo_id, file)) is not None:
            code, retry_after = status.value if isinstance(status.value, tuple) else (status.value or 503, None)
            extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            if code == 429 and retry_after is not None:
                extra["RateLimit"] = f'"api";r=0;t={retry_after}'
            self._error(h, head, code, None, "Too Many Requests" if code == 429 else "Internal Error", extra)
            return
        if not self._authorized(h, head, repo, download=route != "api"):
            return
        assert repo is not None
        if route == "api" and not tail:
            self._model_info(h, head, repo, "main")
        elif route == "api" and tail[0] == "revision" and len(tail) > 1:
            self._model_info(h, head, repo, "/".join(tail[1:]))
        elif route == "api" and tail[0] == "tree" and len(tail) > 1:
            self._tree(h, head, repo, tail[1], "/".join(tail[2:]), query)
        elif route == "resolve" and tail[:1] == ["resolve"] and len(tail) > 2:
            self._resolve(h, head, repo, tail[1], "/".join(tail[2:]), url.path)
        elif route == "resolve-cache" and len(tail) > 1:
            self._resolve_cache(h, head, repo, tail[0], "/".join(tail[1:]))
        else:
            self._error(h, head, 404, None, "Sorry, we can't find the page you are looking for.")

    def _authorized(self, h: _Handler, head: bool, repo: AltRepo | None, *, download: bool) -> bool:
        auth = h.headers.get("Authorization")
        token = auth[7:] if auth and auth.startswith("Bearer ") else None
        known = {t for r in self.repos.values() for t in r.readers}
        if auth is not None and token not in known:
            self._error(h, head, 401, None, "Invalid credentials in Authorization header")
            return False
        if repo is None or (repo.private and token not in repo.readers):
            # The Hub does not tell a missing repo from a private one: 401 without a token, 404 with one.
            self._error(h, head, 401 if token is None else 404, "RepoNotFound",
                        "Invalid username or password." if token is None else "Repository not found")
            return False
        if repo.gated and download and token not in repo.readers:
            if token is None:
                msg = (f"Access to model {repo.repo_id} is restricted. You must have access to it and be "
                       "authenticated to access it. Please log in.")
            else:
                msg = (f"Access to model {repo.repo_id} is restricted and you are not in the authorized list. "
                       f"Visit https://huggingface.co/{repo.repo_id} to ask for access.")
            self._error(h, head, 401 if token is None else 403, "GatedRepo", msg)
            return False
        return True

    def _commit(self, h: _Handler, head: bool, repo: AltRepo, revision: str) -> str | None:
        commit = repo.resolve(revision)
        if commit is None:
            self._error(h, head, 404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return commit

    def _listed(self, repo: AltRepo, f: AltFile) -> dict[str, Any]:
        """One file's metadata after metadata faults: path, size, oid, sha256 (None for git files)."""
        out: dict[str, Any] = {"path": f.path, "size": f.size, "oid": f.oid, "sha256": f.sha256 if f.lfs else None}
        if self._take("meta-hash", repo.repo_id, f.path):
            if f.lfs:
                out["sha256"] = hashlib.sha256(f.content + b"!").hexdigest()
            else:
                out["oid"] = hashlib.sha1(f.content + b"!").hexdigest()
        if self._take("meta-size", repo.repo_id, f.path):
            out["size"] = f.size + 1
        if (bad := self._take("meta-path", repo.repo_id, f.path)) is not None:
            out["path"] = bad.value
        if (bad := self._take("meta-oid", repo.repo_id, f.path)) is not None:
            out["oid"] = bad.value
        return out

    def _model_info(self, h: _Handler, head: bool, repo: AltRepo, revision: str) -> None:
        commit = self._commit(h, head, repo, revision)
        if commit is None:
            return
        siblings = []
        for f in sorted(repo.commits[commit].values(), key=lambda f: f.path):
            meta = self._listed(repo, f)
            sib: dict[str, Any] = {"rfilename": meta["path"]}
            if urlsplit(h.path).query.find("blobs=true") >= 0:
                sib.update(blobId=meta["oid"], size=meta["size"])
                if f.lfs:
                    sib["lfs"] = {"sha256": meta["sha256"], "size": meta["size"], "pointerSize": f.pointer_size}
            siblings.append(sib)
        sha = commit
        if (other := self._take("info-sha", repo.repo_id)) is not None:
            sha = other.value
        org = repo.repo_id.split("/")[0]
        info: dict[str, Any] = {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24], "id": repo.repo_id, "modelId": repo.repo_id,
            "author": org, "sha": sha, "lastModified": "2026-03-14T09:26:53.000Z", "private": repo.private,
            "gated": "auto" if repo.gated else False, "disabled": False, "downloads": 1234, "likes": 5,
            "library_name": "transformers", "pipeline_tag": "feature-extraction",
            "tags": ["transformers", "safetensors", "bert", "license:apache-2.0", "region:us"],
            "config": {"architectures": ["BertModel"], "model_type": "bert"},
            "cardData": {"license": "apache-2.0", "language": ["en"]},
            "transformersInfo": {"auto_model": "AutoModel", "pipeline_tag": "feature-extraction",
                                 "processor": "AutoTokenizer"},
            "widgetData": [{"text": "Hello"}], "spaces": [], "createdAt": "2025-01-02T03:04:05.000Z",
            "safetensors": {"parameters": {"F32": 1}, "total": 1}, "usedStorage": 4242,
            "inference": "warm", "siblings": siblings, "xetEnabled": True, "someFutureField": {"nested": [1, 2]},
        }
        if self._take("info-no-siblings", repo.repo_id):
            del info["siblings"]
        self._json(h, head, info, repo.repo_id)

    def _tree(self, h: _Handler, head: bool, repo: AltRepo, revision: str, folder: str, q: dict[str, str]) -> None:
        commit = self._commit(h, head, repo, revision)
        if commit is None:
            return
        files = repo.commits[commit]
        recursive = q.get("recursive", "false").lower() in ("true", "1")
        entries: list[dict[str, Any]] = []
        dirs = sorted({"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)})
        for name in sorted([*dirs, *files], key=lambda p: p.split("/")):
            inside = name.startswith(folder + "/") if folder else True
            depth_ok = recursive or "/" not in name[len(folder) + 1 if folder else 0:]
            if not (inside and depth_ok):
                continue
            if name in dirs:
                entries.append({"type": "directory", "oid": hashlib.sha1(name.encode()).hexdigest(), "size": 0,
                                "path": name})
                continue
            f = files[name]
            meta = self._listed(repo, f)
            item: dict[str, Any] = {"type": "file", "oid": meta["oid"], "size": meta["size"], "path": meta["path"]}
            if f.lfs:
                item["lfs"] = {"oid": meta["sha256"], "size": meta["size"], "pointerSize": f.pointer_size}
                if f.xet:
                    item["xetHash"] = f.xet_hash
            if q.get("expand", "false").lower() == "true":
                item["lastCommit"] = {"id": commit, "title": "Upload folder", "date": "2026-03-14T09:26:53.000Z"}
                item["securityFileStatus"] = {"status": "safe"}
            entries.append(item)
        if folder and not entries:
            self._error(h, head, 404, "EntryNotFound", f"{folder} does not exist on {revision}")
            return
        if self._take("echo-token", repo.repo_id) and (token := self._token(h)):
            # A Hub (or a proxy in front of it) that puts the Authorization it received into a file name.
            entries.append({"type": "file", "oid": hashlib.sha1(token.encode()).hexdigest(), "size": 1,
                            "path": f"leak/{token}.json"})
        size = 50 if q.get("expand", "false").lower() == "true" else self.page_size
        start = int(base64.urlsafe_b64decode(q["cursor"]).rsplit(b":", 1)[1]) if "cursor" in q else 0
        page = entries[start:start + size]
        extra = {}
        if self._take("endless-pages", repo.repo_id):
            # Always one more page: past the real entries, empty pages whose next link never repeats.
            entries += [{}] * (start + 2 * size)
        if start + size < len(entries):
            last = page[-1].get("path", "") if page else ""
            cursor = base64.urlsafe_b64encode(f'{{"file_name":"{last}"}}:{start + size}'.encode())
            if self._take("link-loop", repo.repo_id):
                cursor = q.get("cursor", "").encode() or cursor
            base = self.endpoint
            if (other := self._take("link-host", repo.repo_id)) is not None:
                base = other.value or self.servers["elsewhere"].url
            where = f"/api/models/{repo.repo_id}/tree/{quote(revision, safe='')}"
            where += f"/{quote(folder)}" if folder else ""
            expand = q.get("expand", "false")
            link = f"{base}{where}?recursive={str(recursive).lower()}&expand={expand}&cursor={cursor.decode()}"
            extra["Link"] = f'<{link}>; rel="next"'
        self._json(h, head, page, repo.repo_id, extra)

    @staticmethod
    def _token(h: _Handler) -> str | None:
        auth = h.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else None

    def _file_headers(self, repo: AltRepo, commit: str, f: AltFile) -> dict[str, str]:
        etag = f.etag
        if self._take("head-hash", repo.repo_id, f.path):
            etag = hashlib.sha256(b"lie" + f.content).hexdigest() if f.lfs else hashlib.sha1(f.content).hexdigest()
        if (bad := self._take("head-etag", repo.repo_id, f.path)) is not None:
            etag = bad.value
        served = commit
        if (bad := self._take("head-commit", repo.repo_id, f.path)) is not None:
            served = bad.value
        name = f.path.rsplit("/", 1)[-1]
        ascii_name = name.encode("ascii", "replace").decode()
        headers = {**self._common("resolvers"), "X-Repo-Commit": served, "Accept-Ranges": "bytes",
                   "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}; filename=\"{ascii_name}\";",
                   "Cache-Control": "public, max-age=31536000, immutable"}
        weak = "W/" if self._take("weak-etag", repo.repo_id, f.path) else ""
        if f.lfs:
            size = f.size + (1 if self._take("head-size", repo.repo_id, f.path) else 0)
            # The redirect's own ETag is not the content's: clients must prefer X-Linked-Etag.
            headers.update({"ETag": f'W/"{f.oid}"', "X-Linked-Etag": f'{weak}"{etag}"', "X-Linked-Size": str(size)})
            if f.xet:
                headers["X-Xet-Hash"] = f.xet_hash
                headers["X-Xet-Refresh-Route"] = f"/api/models/{repo.repo_id}/xet-read-token/{commit}"
                headers["Link"] = (f'<{self.endpoint}/api/models/{repo.repo_id}/xet-read-token/{commit}>; '
                                   f'rel="xet-auth", <{self.servers["cdn"].url}/v1/reconstructions/{f.xet_hash}>; '
                                   'rel="xet-reconstruction-info"')
        else:
            headers["ETag"] = f'{weak}"{etag}"'
        return headers

    def _resolve(self, h: _Handler, head: bool, repo: AltRepo, revision: str, path: str, raw: str) -> None:
        commit = self._commit(h, head, repo, revision)
        if commit is None:
            return
        f = repo.commits[commit].get(path)
        if f is None:
            self._error(h, head, 404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": commit})
            return
        headers = self._file_headers(repo, commit, f)
        if self._take("direct", repo.repo_id, path):
            # A simpler Hub (a mirror, an on-prem server) serves the bytes at resolve itself, no redirect.
            for name in ("X-Linked-Etag", "X-Linked-Size", "X-Xet-Hash", "X-Xet-Refresh-Route", "Link"):
                headers.pop(name, None)
            headers["ETag"] = f'"{f.etag}"'
            self._content(h, head, repo.repo_id, f, {**headers, "Content-Type": "application/octet-stream"})
            return
        if f.lfs:
            host = self.servers["cdn"].url
            if (other := self._take("foreign", repo.repo_id, path)) is not None:
                host = other.value or self.servers["elsewhere"].url
            location = self._signed(host, f)
            status = 302
        else:
            location = (f"/api/resolve-cache/models/{repo.repo_id}/{commit}/{quote(path)}?"
                        f"{quote(raw, safe='')}=&etag=%22{f.etag}%22")
            if (other := self._take("git-foreign", repo.repo_id, path)) is not None:
                location = f"{other.value or self.servers['elsewhere'].url}{location}"
            if self._take("hub-loop", repo.repo_id, path):
                location = raw
            status = 307
        text = f"{'Found' if status == 302 else 'Temporary Redirect'}. Redirecting to {location}".encode()
        h.reply(status, {**headers, "Location": location, "Content-Type": "text/plain; charset=utf-8"}, text,
                head=head)

    def _resolve_cache(self, h: _Handler, head: bool, repo: AltRepo, commit: str, path: str) -> None:
        f = repo.commits.get(commit, {}).get(path)
        if f is None:
            self._error(h, head, 404, "EntryNotFound", "Entry not found")
            return
        headers = {**self._file_headers(repo, commit, f), "Content-Type": "text/plain; charset=utf-8"}
        self._content(h, head, repo.repo_id, f, headers)
