"""A loopback Hugging Face Hub that speaks what huggingface_hub 2.4 asks, with fault injection.

Three stdlib HTTP servers on 127.0.0.1, each on a random port:

* ``hub``: ``GET /api/models/{repo}[/revision/{rev}]`` (``?blobs=true`` adds sizes, blob ids and
  LFS data), ``GET /api/models/{repo}/tree/{rev}[/{path}]`` (``recursive``, ``Link: rel="next"``
  pagination), ``HEAD|GET /{repo}/resolve/{rev}/{path}`` (307 to ``/api/resolve-cache/...`` for
  git files, 302 to the CDN for LFS files), ``X-Error-Code`` errors, gated and private repos.
* ``cdn``: serves LFS content from signed-looking URLs; never needs a token.
* ``foreign``: a host nobody should trust; serves other bytes.

Every request is recorded (Authorization redacted) so tests can assert what was, and was not, sent.
Standard library only: ``modelguard demo`` serves its models with it and the test suite drives
the real client against it (``tests/fakehub`` re-exports this package). Never for real traffic.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from urllib.parse import parse_qs, quote, unquote, urlsplit

from modelguard.demo.fakehub.model import FakeCommit, FakeFile, FakeRepo, Fault, Injection, git_blob_sha1, sha256
from modelguard.demo.fakehub.transport import Handler, RecordedRequest, Server, byte_range

_MAX_DELAY = 5.0


class FakeHub:
    """The fake Hub. Use as a context manager (or ``start()``/``stop()``); add repos, inject faults."""

    def __init__(self, *, page_size: int = 1000) -> None:
        self.page_size = page_size
        self.lock = threading.RLock()
        self._repos: dict[str, FakeRepo] = {}
        self._faults: list[Injection] = []
        self._requests: list[RecordedRequest] = []
        self._servers: dict[str, Server] = {}

    # --- lifecycle

    def start(self) -> FakeHub:
        for role in ("hub", "cdn", "foreign"):
            server = Server(self, role)
            threading.Thread(target=server.serve_forever, args=(0.05,), name=f"fakehub-{role}", daemon=True).start()
            self._servers[role] = server
        return self

    def stop(self) -> None:
        """Stop every server and cut open connections: the Hub becomes unreachable."""
        servers, self._servers = self._servers, {}
        for server in servers.values():
            server.shutdown()
            with self.lock:
                open_connections = list(server.connections)
            for conn in open_connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            server.server_close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        return self._servers["hub"].url

    def limit_rate(self, bytes_per_second: float | None) -> None:
        """Cap every connection of every server at ``bytes_per_second`` (None: no cap), as a CDN edge
        caps one stream: only more connections make a client faster."""
        with self.lock:
            for server in self._servers.values():
                server.rate = bytes_per_second

    @property
    def bytes_served(self) -> int:
        """Body bytes written to clients so far, by every server (file content, listings, errors)."""
        with self.lock:
            return sum(server.served for server in self._servers.values())

    @property
    def cdn_url(self) -> str:
        return self._servers["cdn"].url

    @property
    def foreign_url(self) -> str:
        return self._servers["foreign"].url

    # --- content

    def add_repo(self, repo: str, files: Mapping[str, bytes], *, branch: str = "main", tags: Iterable[str] = (),
                 lfs_threshold: int = 1024, lfs: Iterable[str] = (), gated: bool = False, private: bool = False,
                 tokens: Iterable[str] = ()) -> str:
        """Create ``repo`` with one commit on ``branch``; files of ``lfs_threshold`` bytes or more
        (or named in ``lfs``) are LFS files. Returns the commit id."""
        with self.lock:
            if repo in self._repos:
                raise ValueError(f"repo {repo} exists; use push()")
            self._repos[repo] = FakeRepo(repo, lfs_threshold, gated, private, frozenset(tokens))
        return self.push(repo, files, branch=branch, tags=tags, lfs=lfs)

    def push(self, repo: str, files: Mapping[str, bytes], *, branch: str = "main", tags: Iterable[str] = (),
             lfs: Iterable[str] = ()) -> str:
        """A new commit whose tree is exactly ``files``, on top of ``branch`` (which moves). Returns its id."""
        with self.lock:
            target = self._repos[repo]
            oid = target.commit(files, branch=branch, lfs=frozenset(lfs))
            for tag in tags:
                target.tags[tag] = oid
            return oid

    def set_ref(self, repo: str, name: str, commit: str, *, tag: bool = False) -> None:
        with self.lock:
            target = self._repos[repo]
            (target.tags if tag else target.branches)[name] = commit

    def delete_commit(self, repo: str, commit: str) -> None:
        """Forget a commit (a force-push that dropped it); refs to it are removed too."""
        with self.lock:
            target = self._repos[repo]
            del target.commits[commit]
            for refs in (target.branches, target.tags):
                for name in [n for n, oid in refs.items() if oid == commit]:
                    del refs[name]

    def file(self, repo: str, revision: str, path: str) -> FakeFile:
        with self.lock:
            commit = self._repos[repo].resolve(revision)
            assert commit is not None, revision
            return commit.files[path]

    # --- faults and the request log

    def inject(self, fault: Fault, *, repo: str | None = None, path: str | None = None, times: int | None = None,
               value: object = None, delay: float = 0.0) -> None:
        """Make the Hub misbehave for ``repo`` (all repos if None) and ``path`` (all files if None).
        ``times`` bounds how often it fires (None: until :meth:`clear_faults`)."""
        with self.lock:
            self._faults.append(Injection(fault, repo, path, times, value, min(delay, _MAX_DELAY)))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self.lock:
            self._requests.clear()

    def _fault(self, fault: Fault, repo: str | None, path: str | None = None) -> Injection | None:
        with self.lock:
            for injection in self._faults:
                if injection.matches(fault, repo, path):
                    if injection.times is not None:
                        injection.times -= 1
                    return injection
            return None

    # --- HTTP

    def handle(self, h: Handler, head: bool) -> None:
        split = urlsplit(h.path)
        headers = {k.lower(): ("<redacted>" if k.lower() == "authorization" else v) for k, v in h.headers.items()}
        with self.lock:
            self._requests.append(RecordedRequest(h.server.role, h.command, h.path, headers,
                                                  "authorization" in headers))
        parts = [unquote(p) for p in split.path.split("/")[1:]]
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        if h.server.role != "hub":
            self._serve_blob(h, head, parts)
            return
        if parts[:3] == ["api", "resolve-cache", "models"]:
            repo, tail = self._split_repo(parts[3:])
            route = "resolve-cache"
        elif parts[:2] == ["api", "models"]:
            repo, tail = self._split_repo(parts[2:])
            route = "tree" if tail[:1] == ["tree"] else "info"
        else:
            repo, tail = self._split_repo(parts)
            route = "resolve" if tail[:1] == ["resolve"] else "unknown"
        path = {"resolve": "/".join(tail[2:]), "resolve-cache": "/".join(tail[1:])}.get(route)
        if self._misbehave(h, head, repo.repo_id if repo else None, path):
            return
        if repo is None:
            h.error(404, "RepoNotFound", "Repository not found", head=head)
        elif route == "unknown" or (route == "info" and not (tail == [] or (len(tail) == 2 and tail[0] == "revision"))):
            h.error(404, "EntryNotFound", "Unknown route", head=head)
        elif self._denied(h, head, repo, download=route in ("resolve", "resolve-cache")):
            return
        elif route == "info":
            self._model_info(h, head, repo, tail[1] if tail else "main", query.get("blobs") == "true")
        elif route == "tree":
            self._tree(h, head, repo, tail[1] if len(tail) > 1 else "main", "/".join(tail[2:]), query)
        elif route == "resolve":
            self._resolve(h, head, repo, tail[1] if len(tail) > 1 else "", "/".join(tail[2:]))
        else:
            self._resolve_cache(h, head, repo, tail[0] if tail else "", "/".join(tail[1:]))

    def _split_repo(self, rest: list[str]) -> tuple[FakeRepo | None, list[str]]:
        with self.lock:
            if len(rest) >= 2 and f"{rest[0]}/{rest[1]}" in self._repos:
                return self._repos[f"{rest[0]}/{rest[1]}"], rest[2:]
            if rest and rest[0] in self._repos:
                return self._repos[rest[0]], rest[1:]
        return None, rest[2:]

    def _misbehave(self, h: Handler, head: bool, repo: str | None, path: str | None) -> bool:
        slow = self._fault(Fault.SLOW, repo, path)
        if slow is not None:
            time.sleep(slow.delay)
        error = self._fault(Fault.SERVER_ERROR, repo, path)
        if error is not None:
            status = error.value if isinstance(error.value, int) else 503
            h.error(status, "ServerError", "Service temporarily unavailable", head=head)
            return True
        return False

    def _denied(self, h: Handler, head: bool, repo: FakeRepo, *, download: bool) -> bool:
        auth = h.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if token is not None and token in repo.tokens:
            return False
        if repo.private:
            if token is None:
                h.error(401, "RepoNotFound", "Invalid username or password.", head=head)
            else:
                h.error(404, "RepoNotFound", "Repository not found", head=head)
            return True
        if repo.gated and download:
            message = f"Access to model {repo.repo_id} is restricted. You must have access to it."
            h.error(401 if token is None else 403, "GatedRepo", message, head=head)
            return True
        return False

    def _commit_or_404(self, h: Handler, head: bool, repo: FakeRepo, revision: str) -> FakeCommit | None:
        with self.lock:
            commit = repo.resolve(revision)
        if commit is None:
            h.error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head=head)
        return commit

    def _listing(self, repo: FakeRepo, commit: FakeCommit) -> list[dict[str, object]]:
        """The files at ``commit`` as the Hub lists them, after metadata faults."""
        out: list[dict[str, object]] = []
        for file in sorted(commit.files.values(), key=lambda f: f.path):
            lfs = {"sha256": file.sha256, "size": file.size, "pointerSize": len(file.pointer)} if file.lfs else None
            entry: dict[str, object] = {"path": file.path, "size": file.size, "oid": file.blob_id, "lfs": lfs}
            name, where = repo.repo_id, file.path
            if self._fault(Fault.HASH_LIE, name, where):
                if lfs is not None:
                    lfs["sha256"] = sha256(file.content + b"lie")
                else:
                    entry["oid"] = git_blob_sha1(file.content + b"lie")
            if self._fault(Fault.SIZE_LIE, name, where):
                entry["size"] = file.size + 1
                if lfs is not None:
                    lfs["size"] = file.size + 1
            if (bad := self._fault(Fault.BAD_PATH, name, where)) is not None:
                entry["path"] = bad.value if bad.value is not None else "../evil"
            if (bad := self._fault(Fault.BAD_SHA256, name, where)) is not None:
                lfs = entry["lfs"] = {"sha256": bad.value or "z" * 64, "size": file.size, "pointerSize": 134}
            if (bad := self._fault(Fault.BAD_BLOB_ID, name, where)) is not None:
                entry["oid"] = bad.value if bad.value is not None else "not-a-blob-id"
            if (bad := self._fault(Fault.BAD_SIZE, name, where)) is not None:
                entry["size"] = bad.value if bad.value is not None else -1
            out.append(entry)
            if self._fault(Fault.DUPLICATE_PATH, name, where):
                out.append(dict(entry))
        return out

    def _model_info(self, h: Handler, head: bool, repo: FakeRepo, revision: str, blobs: bool) -> None:
        commit = self._commit_or_404(h, head, repo, revision)
        if commit is None:
            return
        siblings: list[dict[str, object]] = []
        for entry in self._listing(repo, commit):
            sibling: dict[str, object] = {"rfilename": entry["path"]}
            if blobs:
                sibling.update(size=entry["size"], blobId=entry["oid"])
                if self._fault(Fault.INCONSISTENT_INFO, repo.repo_id, str(entry["path"])):
                    sibling["size"] = int(str(entry["size"])) + 1
                if entry["lfs"] is not None:
                    sibling["lfs"] = entry["lfs"]
            siblings.append(sibling)
        sha = commit.oid
        if self._fault(Fault.COMMIT_MISMATCH, repo.repo_id):
            sha = git_blob_sha1(commit.oid.encode())
        if (bad := self._fault(Fault.BAD_COMMIT, repo.repo_id)) is not None:
            sha = str(bad.value or "../../x")
        info = {
            "_id": commit.oid[:24], "id": repo.repo_id, "modelId": repo.repo_id,
            "author": repo.repo_id.split("/")[0], "sha": sha,
            "lastModified": "2026-01-01T00:00:00.000Z", "createdAt": "2026-01-01T00:00:00.000Z",
            "private": repo.private, "gated": "manual" if repo.gated else False, "disabled": False,
            "downloads": 0, "likes": 0, "tags": [], "siblings": siblings,
        }
        h.send(200, {"Content-Type": "application/json"}, json.dumps(info).encode(), head=head)

    def _tree(self, h: Handler, head: bool, repo: FakeRepo, revision: str, folder: str,
              query: Mapping[str, str]) -> None:
        if self._fault(Fault.NO_TREE_ROUTE, repo.repo_id):
            h.send(404, {"Content-Type": "text/plain"}, b"Not Found", head=head)
            return
        commit = self._commit_or_404(h, head, repo, revision)
        if commit is None:
            return
        entries: list[dict[str, object]] = []
        folders = sorted({p.rsplit("/", i)[0] for p in commit.files for i in range(1, p.count("/") + 1)})
        for name in folders:
            entries.append({"type": "directory", "oid": git_blob_sha1(name.encode()), "size": 0, "path": name})
        for entry in self._listing(repo, commit):
            item = {"type": "file", "oid": entry["oid"], "size": entry["size"], "path": entry["path"]}
            lfs = entry["lfs"]
            if isinstance(lfs, dict):
                item["lfs"] = {"oid": lfs["sha256"], "size": lfs["size"], "pointerSize": lfs["pointerSize"]}
            entries.append(item)
        entries.sort(key=lambda e: str(e["path"]))
        prefix = f"{folder}/" if folder else ""
        entries = [e for e in entries if str(e["path"]).startswith(prefix)]
        if query.get("recursive", "false").lower() != "true":
            entries = [e for e in entries if "/" not in str(e["path"])[len(prefix):]]
        start = int(query.get("cursor", "0"))
        page = entries[start:start + self.page_size]
        headers = {"Content-Type": "application/json"}
        if start + self.page_size < len(entries):
            base = self.endpoint
            if (foreign := self._fault(Fault.FOREIGN_NEXT_LINK, repo.repo_id)) is not None:
                base = str(foreign.value or self.foreign_url)
            where = f"{repo.repo_id}/tree/{quote(revision, safe='')}" + (f"/{quote(folder)}" if folder else "")
            link = f"{base}/api/models/{where}?recursive={query.get('recursive', 'false')}&cursor={start + len(page)}"
            headers["Link"] = f'<{link}>; rel="next"'
        h.send(200, headers, json.dumps(page).encode(), head=head)

    def _file_headers(self, repo: FakeRepo, commit: FakeCommit, file: FakeFile) -> dict[str, str]:
        name = repo.repo_id
        served = commit.oid
        if self._fault(Fault.COMMIT_MISMATCH, name, file.path):
            served = git_blob_sha1(commit.oid.encode())
        if (bad := self._fault(Fault.BAD_COMMIT, name)) is not None:
            served = str(bad.value or "../../x")
        etag = file.etag
        if self._fault(Fault.HASH_LIE, name, file.path):
            etag = sha256(file.content + b"lie") if file.lfs else git_blob_sha1(file.content + b"lie")
        if (bad := self._fault(Fault.BAD_ETAG, name, file.path)) is not None:
            etag = str(bad.value or "../../x")
        size = file.size + 1 if self._fault(Fault.SIZE_LIE, name, file.path) else file.size
        headers = {"X-Repo-Commit": served, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        if file.lfs:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(size)})
        headers["X-Size"] = str(size)  # internal: what HEAD announces as Content-Length
        return headers

    def _resolve(self, h: Handler, head: bool, repo: FakeRepo, revision: str, path: str) -> None:
        commit = self._commit_or_404(h, head, repo, revision)
        if commit is None:
            return
        file = commit.files.get(path)
        if file is None:
            h.error(404, "EntryNotFound", f"{path} does not exist on {revision}",
                    {"X-Repo-Commit": commit.oid}, head=head)
            return
        headers = self._file_headers(repo, commit, file)
        headers.pop("X-Size")
        where = f"{quote(repo.repo_id)}/{commit.oid}/{quote(path)}"
        if (foreign := self._fault(Fault.FOREIGN_REDIRECT, repo.repo_id, path)) is not None:
            location = str(foreign.value or f"{self.foreign_url}/foreign/{where}")
            h.send(302, {**headers, "Location": location}, head=head)
        elif file.lfs:
            h.send(302, {**headers, "Location": f"{self.cdn_url}/cdn/{where}?X-Amz-Signature=fake"}, head=head)
        else:
            h.send(307, {**headers, "Location": f"/api/resolve-cache/models/{where}"}, head=head)

    def _resolve_cache(self, h: Handler, head: bool, repo: FakeRepo, commit_id: str, path: str) -> None:
        with self.lock:
            commit = repo.commits.get(commit_id)
        file = commit.files.get(path) if commit is not None else None
        if commit is None or file is None:
            h.error(404, "EntryNotFound", "Entry not found", head=head)
            return
        self._send_content(h, head, repo.repo_id, file, self._file_headers(repo, commit, file))

    def _serve_blob(self, h: Handler, head: bool, parts: list[str]) -> None:
        """CDN and foreign host: ``/{cdn|foreign}/{repo}/{commit}/{path}``, no token needed."""
        repo, tail = self._split_repo(parts[1:])
        if self._misbehave(h, head, repo.repo_id if repo else None, "/".join(tail[1:]) or None):
            return
        with self.lock:
            commit = repo.commits.get(tail[0]) if repo is not None and tail else None
        file = commit.files.get("/".join(tail[1:])) if commit is not None else None
        if repo is None or file is None:
            h.error(404, "EntryNotFound", "NoSuchKey", head=head)
            return
        if h.server.role == "foreign":
            file = FakeFile(file.path, (b"pwned! " * (file.size // 7 + 1))[:file.size], file.lfs)
        self._send_content(h, head, repo.repo_id, file, {"ETag": f'"{file.sha256}"', "Accept-Ranges": "bytes"})

    def _send_content(self, h: Handler, head: bool, repo: str, file: FakeFile, headers: dict[str, str]) -> None:
        announced = int(headers.pop("X-Size", file.size))
        data = file.content
        if data and self._fault(Fault.TAMPER, repo, file.path):
            data = bytes([data[0] ^ 1]) + data[1:]
        if head:
            h.send(200, headers, head=True, length=announced)
            return
        if self._fault(Fault.TRUNCATE, repo, file.path):
            h.send_response(200)
            for name, value in headers.items():
                h.send_header(name, value)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.write_body(data[: len(data) // 2])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        start, end = byte_range(h.headers.get("Range"), len(data))
        if (start, end) != (0, len(data)) and self._fault(Fault.IGNORE_RANGE, repo, file.path):
            start, end = 0, len(data)
        if (start, end) != (0, len(data)) and self._fault(Fault.WRONG_RANGE, repo, file.path):
            start, end = min(start + 1, end - 1), end
        if (start, end) != (0, len(data)):
            h.send(206, {**headers, "Content-Range": f"bytes {start}-{end - 1}/{len(data)}"}, data[start:end])
            return
        slow = self._fault(Fault.SLOW_BODY, repo, file.path)
        if slow is None:
            h.send(200, headers, data)
            return
        h.send(200, headers, head=True, length=len(data))
        piece = max(1, -(-len(data) // 16))
        for offset in range(0, len(data), piece):
            h.write_body(data[offset:offset + piece])
            h.wfile.flush()
            time.sleep(slow.delay / 16)
