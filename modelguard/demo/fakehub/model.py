"""The fake Hub's data: repos, commits, files, refs and injected faults. Pure Python, no HTTP.

Commits and hashes are computed from content the way the Hub computes them (git blob SHA-1,
LFS SHA-256 and pointer), so a client cannot tell this data from a real repo's.
Standard library only; shared by ``modelguard demo`` and the test suite.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lfs_pointer(content: bytes) -> bytes:
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256(content)}\n"
            f"size {len(content)}\n").encode()


@dataclass(frozen=True)
class FakeFile:
    path: str
    content: bytes
    lfs: bool

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def sha256(self) -> str:
        return sha256(self.content)

    @property
    def pointer(self) -> bytes:
        return lfs_pointer(self.content)

    @property
    def blob_id(self) -> str:
        """The git blob id the Hub lists: of the content, or of the LFS pointer for LFS files."""
        return git_blob_sha1(self.pointer if self.lfs else self.content)

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.blob_id


@dataclass
class FakeCommit:
    oid: str
    files: dict[str, FakeFile]
    parent: str | None


@dataclass
class FakeRepo:
    repo_id: str
    lfs_threshold: int
    gated: bool = False
    private: bool = False
    tokens: frozenset[str] = frozenset()
    commits: dict[str, FakeCommit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def commit(self, files: Mapping[str, bytes], *, branch: str, lfs: frozenset[str]) -> str:
        parent = self.branches.get(branch)
        made = {p: FakeFile(p, data, p in lfs or len(data) >= self.lfs_threshold) for p, data in files.items()}
        digest = hashlib.sha1(f"commit {self.repo_id} {parent} {len(self.commits)}\n".encode(), usedforsecurity=False)
        for path in sorted(made):
            digest.update(f"{path}\0{made[path].blob_id}\0{made[path].lfs}\n".encode())
        oid = digest.hexdigest()
        self.commits[oid] = FakeCommit(oid, made, parent)
        self.branches[branch] = oid
        return oid

    def resolve(self, revision: str) -> FakeCommit | None:
        for name in (revision, revision.removeprefix("refs/heads/"), revision.removeprefix("refs/tags/")):
            oid = self.branches.get(name) or self.tags.get(name)
            if oid is not None:
                return self.commits[oid]
        return self.commits.get(revision)


class Fault(str, Enum):
    """What the fake Hub can do wrong. Scoped to a repo and optionally a file; ``times`` bounds it."""

    # --- bytes on the wire
    TAMPER = "tamper"
    """serve same-size bytes with one byte flipped; metadata stays honest"""
    TRUNCATE = "truncate"
    """announce the full length, send half the body, close the connection (ignores Range)"""
    FOREIGN_REDIRECT = "foreign-redirect"
    """redirect the download to a third server that serves other bytes of the same size
    (or to ``value``, e.g. ``file:///etc/passwd``)"""
    SERVER_ERROR = "server-error"
    """answer 503 (``value`` may give another 5xx status)"""
    SLOW = "slow"
    """wait ``delay`` seconds (at most 5) before answering"""
    IGNORE_RANGE = "ignore-range"
    """answer a ``Range`` request with 200 and the whole body, as a server without range support does"""
    WRONG_RANGE = "wrong-range"
    """answer a ``Range`` request with 206 and the bytes one further than asked (``Content-Range`` says so)"""
    SLOW_BODY = "slow-body"
    """stream the file's bytes in 16 pieces over ``delay`` seconds (at most 5): a download in progress"""
    # --- download headers
    COMMIT_MISMATCH = "commit-mismatch"
    """X-Repo-Commit (and the model info's ``sha``) name another, well-formed commit"""
    BAD_ETAG = "bad-etag"
    """ETag / X-Linked-Etag is ``value`` (default ``../../x``)"""
    # --- metadata (model info and tree listing)
    HASH_LIE = "hash-lie"
    """publish another SHA-256 (LFS) or blob id (git) than the bytes have, in listings and ETag"""
    SIZE_LIE = "size-lie"
    """publish size + 1 in listings and in the download headers; the body stays the true size"""
    BAD_COMMIT = "bad-commit"
    """the model info's ``sha`` and X-Repo-Commit are ``value`` (default ``../../x``)"""
    BAD_PATH = "bad-path"
    """list the file under ``value`` instead (``../evil``, ``/etc/passwd``, ``a\\b``, ``a\0b``, ``a//b``)"""
    DUPLICATE_PATH = "duplicate-path"
    """list the file twice"""
    BAD_SHA256 = "bad-sha256"
    """the LFS SHA-256 is ``value`` (default not hex)"""
    BAD_BLOB_ID = "bad-blob-id"
    """the blob id is ``value`` (default not hex)"""
    BAD_SIZE = "bad-size"
    """the listed size is ``value`` (default -1)"""
    INCONSISTENT_INFO = "inconsistent-info"
    """the model info (only) lists size + 1 for the file; the tree listing stays honest"""
    NO_TREE_ROUTE = "no-tree-route"
    """the tree listing route answers 404, as on a Hub or mirror that lacks it"""
    FOREIGN_NEXT_LINK = "foreign-next-link"
    """the tree listing's ``Link: rel=next`` points at the foreign server (or at ``value``, a base URL)"""


@dataclass
class Injection:
    fault: Fault
    repo: str | None
    path: str | None
    times: int | None
    value: object = None
    delay: float = 0.0

    def matches(self, fault: Fault, repo: str | None, path: str | None) -> bool:
        if self.fault is not fault or (self.times is not None and self.times <= 0):
            return False
        if self.repo is not None and self.repo != repo:
            return False
        return self.path is None or self.path == path
