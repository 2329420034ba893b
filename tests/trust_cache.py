"""A verified cache laid out by hand (DESIGN.md §5), for revocation and eviction tests."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def admit(root: Path, repo: str, commit: str, files: dict[str, bytes], *, lfs: set[str] = frozenset(),
          record: bool = True, ref: str | None = "main") -> dict[str, str]:
    """Place ``files`` as an admitted snapshot; return path -> sha256."""
    folder = "models--" + repo.replace("/", "--")
    repo_dir = root / "hub" / folder
    snapshot = repo_dir / "snapshots" / commit
    entries = []
    sha256s = {}
    for path, data in files.items():
        sha256 = hashlib.sha256(data).hexdigest()
        blob_name = sha256 if path in lfs else git_blob_sha1(data)
        blob = repo_dir / "blobs" / blob_name
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            blob.write_bytes(data)
            blob.chmod(0o444)
        link = snapshot / path
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
        entries.append({"path": path, "sha256": sha256, "blob": blob_name, "size": len(data)})
        sha256s[path] = sha256
    if ref:
        (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
        (repo_dir / "refs" / ref).write_text(commit)
    if record:
        rec = root / "admissions" / folder / f"{commit}.json"
        rec.parent.mkdir(parents=True, exist_ok=True)
        rec.write_text(json.dumps({"record-version": 1, "repo": repo, "commit": commit, "files": entries}))
    return sha256s


def holds(root: Path, repo: str, commit: str) -> bool:
    folder = "models--" + repo.replace("/", "--")
    return (root / "hub" / folder / "snapshots" / commit).exists() or (
        root / "admissions" / folder / f"{commit}.json").exists()
