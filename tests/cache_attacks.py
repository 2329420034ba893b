"""Tools for attacking the verified cache in tests, as someone who can write it would.

``plant`` writes a snapshot in the Hub layout by hand (blobs, relative links, refs) with an admission
record of the attacker's choosing; ``rehash_events`` observes the product's own ``modelguard.rehash``
audit events (PEP 578), which the integrity check raises for every blob it hashes; ``unprivileged``
runs a command without root's permission override, so read-only (sealed) folders bind as they bind
for every other user; ``copy_with`` copies a cache the way CI cache restores and image builds do.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelguard.store.digest import git_blob_sha1

_events: list[tuple[str, str, str]] | None = None
_events_lock = threading.Lock()
_installed = False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == "modelguard.rehash" and _events is not None:
        with _events_lock:
            _events.append((str(args[0]), str(args[1]), str(args[2])))


@contextlib.contextmanager
def rehash_events() -> Iterator[list[tuple[str, str, str]]]:
    """Every (repo, commit, path) whose bytes modelguard hashed while the block ran."""
    global _events, _installed
    if not _installed:
        sys.addaudithook(_hook)  # once per process: audit hooks cannot be removed
        _installed = True
    seen: list[tuple[str, str, str]] = []
    _events = seen
    try:
        yield seen
    finally:
        _events = None


def repo_dir(cache: Path, repo: str) -> Path:
    return cache / "hub" / ("models--" + repo.replace("/", "--"))


def record_path(cache: Path, repo: str, commit: str) -> Path:
    return cache / "admissions" / ("models--" + repo.replace("/", "--")) / f"{commit}.json"


def opened_up(path: Path) -> None:
    """Make a sealed folder (and its parents inside the cache) writable, as an attacker with write access can."""
    for p in [path, *path.parents]:
        if p.is_dir() and not p.is_symlink():
            os.chmod(p, 0o755)
        if p.name in ("hub", "admissions"):
            break


def plant(cache: Path, repo: str, commit: str, files: dict[str, bytes], *, lfs: tuple[str, ...] = (),
          record: dict[str, Any] | None = None, refs: dict[str, str] | None = None) -> Path:
    """Write ``files`` as a snapshot of ``repo@commit`` by hand; with ``record``, beside that record."""
    rdir = repo_dir(cache, repo)
    snapshot = rdir / "snapshots" / commit
    for folder in (cache / "hub", rdir, rdir / "blobs", rdir / "snapshots", rdir / "refs"):
        folder.mkdir(parents=True, exist_ok=True)
        opened_up(folder)
    for path, data in files.items():
        name = hashlib.sha256(data).hexdigest() if path in lfs else git_blob_sha1(data)
        blob = rdir / "blobs" / name
        if blob.exists():
            os.chmod(blob, 0o644)
        blob.write_bytes(data)
        link = snapshot / path
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        os.symlink(os.path.relpath(blob, link.parent), link)
    for name, target in (refs if refs is not None else {"main": commit}).items():
        ref = rdir / "refs" / name
        if ref.exists():
            os.chmod(ref, 0o644)
        ref.write_text(target)
    if record is not None:
        path = record_path(cache, repo, commit)
        path.parent.mkdir(parents=True, exist_ok=True)
        opened_up(path.parent)
        if path.exists():
            os.chmod(path, 0o644)
        path.write_text(json.dumps(record))
    return snapshot


def forged_record(genuine: dict[str, Any], repo: str, commit: str, files: dict[str, bytes], *,
                  lfs: tuple[str, ...] = ()) -> dict[str, Any]:
    """A good model's record rewritten for ``repo@commit``: its files' hashes, every verdict clean."""
    entries = []
    for path, data in sorted(files.items()):
        blob = hashlib.sha256(data).hexdigest() if path in lfs else git_blob_sha1(data)
        entries.append({"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                        "published": "lfs-sha256" if path in lfs else "git-blob-sha1",
                        "git-blob-sha1": None if path in lfs else git_blob_sha1(data), "blob": blob,
                        "format": "safetensors", "verdict": "clean", "findings": []})
    return {**genuine, "repo": repo, "commit": commit, "files": entries}


def unprivileged(cmd: list[str]) -> list[str]:
    """``cmd`` run without root's override of file permissions (as root: through setpriv)."""
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: read-only folders do not bind root")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--", *cmd]


def copy_with(tool: str, source: Path, dest: Path) -> None:
    """Copy a cache as CI cache restores and image builds do: ``tar`` (create + extract) or ``cp -a``."""
    if tool == "tar":
        dest.mkdir()
        pack = subprocess.run(["tar", "-C", str(source), "-cf", "-", "."], capture_output=True, check=True)
        subprocess.run(["tar", "-C", str(dest), "-xf", "-"], input=pack.stdout, check=True)
    elif tool == "cp -a":
        subprocess.run(["cp", "-a", str(source), str(dest)], check=True)
    else:  # pragma: no cover - a test's typo
        raise ValueError(tool)
