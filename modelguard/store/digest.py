"""Streaming digests: SHA-256 of content and the git blob SHA-1 the Hub publishes for small files.

Every byte is read once: :class:`HashingWriter` hashes while a download writes, and
:func:`hash_file` reads into one preallocated buffer (hashlib releases the GIL on large
updates, so several files hash in parallel on several cores).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

CHUNK = 1 << 20  # 1 MiB: large enough that per-call overhead vanishes, small enough for the cache

BACKLOG = 8
"""chunks a background :class:`HashingWriter` lets wait for its thread (8 MiB with 1 MiB chunks)"""

PROGRESS_MIN_BYTES = 256 << 20
"""Below this much hashing a progress bar is noise."""


class _Progress(Protocol):
    def update(self, n: int) -> object: ...


_progress: _Progress | None = None
"""The bar hash_file reports to while :func:`hashing_progress` is active (one per process)."""


@contextlib.contextmanager
def hashing_progress(total: int, *, enabled: bool, desc: str = "verifying") -> Iterator[None]:
    """Show one progress bar (tqdm, on stderr) for ``total`` bytes hashed by any thread.

    Only when ``enabled`` (the CLI passes "stderr is a TTY") and the work is large: the bar costs
    one method call per MiB hashed, nothing measurable next to SHA-256.
    """
    global _progress
    if not enabled or total < PROGRESS_MIN_BYTES:
        yield
        return
    from tqdm import tqdm

    bar = tqdm(total=total, unit="B", unit_scale=True, desc=desc, leave=False)
    _progress = bar
    try:
        yield
    finally:
        _progress = None
        bar.close()


@dataclass(frozen=True)
class Digests:
    size: int
    sha256: str
    git_blob_sha1: str | None = None


def git_blob_header(size: int) -> bytes:
    return b"blob " + str(size).encode() + b"\0"


def hash_file(path: str | os.PathLike[str], *, git_blob: bool = False) -> Digests:
    """SHA-256 (and optionally the git blob SHA-1) of a file, reading it once."""
    sha256 = hashlib.sha256()
    sha1 = None
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        if git_blob:
            sha1 = hashlib.sha1(git_blob_header(size), usedforsecurity=False)
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        total = 0
        bar = _progress
        while True:
            n = f.readinto(buf)
            if not n:
                break
            chunk = view[:n]
            sha256.update(chunk)
            if sha1 is not None:
                sha1.update(chunk)
            total += n
            if bar is not None:
                bar.update(n)
    # A file that changed size while being read is reported with what was actually hashed.
    return Digests(total, sha256.hexdigest(), sha1.hexdigest() if sha1 is not None else None)


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(git_blob_header(len(data)) + data, usedforsecurity=False).hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class HashingWriter:
    """A binary file wrapper that hashes every byte written through it (hash while writing).

    The git blob SHA-1 needs the size up front; pass ``expected_size`` to compute it. If the
    final size differs, :meth:`digests` reports ``git_blob_sha1=None`` (it cannot be right).

    ``background=True`` hashes in a second thread (hashlib releases the GIL), so a download's
    receive loop and its hashing run on two cores; at most :data:`BACKLOG` chunks wait to be
    hashed. Call :meth:`close` (or :meth:`digests`) to stop the thread.
    """

    def __init__(self, raw: BinaryIO, *, expected_size: int | None = None, background: bool = False) -> None:
        self._raw = raw
        self._sha256 = hashlib.sha256()
        self._expected = expected_size
        self._sha1 = (
            hashlib.sha1(git_blob_header(expected_size), usedforsecurity=False)
            if expected_size is not None
            else None
        )
        self.size = 0
        self._queue: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.Queue(maxsize=BACKLOG)
            self._thread = threading.Thread(target=self._hash_queued, name="modelguard-hash", daemon=True)
            self._thread.start()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = self._raw.write(data)
        # Hash what was written, not what was offered: a short write must not be counted.
        size = len(memoryview(data)) if n is None else n
        if self._queue is not None:
            # The hashing thread gets immutable bytes: the caller may reuse a buffer it passed.
            chunk = data if isinstance(data, bytes) and size == len(data) else bytes(memoryview(data)[:size])
            self._queue.put(chunk)
        else:
            self._update(memoryview(data)[:size])
        self.size += size
        return size

    def _update(self, chunk: bytes | memoryview) -> None:
        self._sha256.update(chunk)
        if self._sha1 is not None:
            self._sha1.update(chunk)

    def _hash_queued(self) -> None:
        assert self._queue is not None
        while (chunk := self._queue.get()) is not None:
            self._update(chunk)

    def flush(self) -> None:
        self._raw.flush()

    def tell(self) -> int:
        return self.size

    def close(self) -> None:
        """Wait for the hashing thread to hash what was written, and stop it (idempotent)."""
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def digests(self) -> Digests:
        self.close()
        sha1 = None
        if self._sha1 is not None and self.size == self._expected:
            sha1 = self._sha1.hexdigest()
        return Digests(self.size, self._sha256.hexdigest(), sha1)


def hash_files(
    paths: list[str] | list[os.PathLike[str]] | list[str | os.PathLike[str]],
    *,
    git_blob: bool = False,
    workers: int | None = None,
) -> list[Digests]:
    """Hash several files in parallel threads (hashlib releases the GIL on large updates).

    Results are in the order of ``paths``. ``workers`` defaults to the number of CPUs.
    An OSError for any file propagates.
    """
    if len(paths) <= 1:
        return [hash_file(p, git_blob=git_blob) for p in paths]
    from concurrent.futures import ThreadPoolExecutor

    n = min(len(paths), workers or os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="modelguard-hash") as pool:
        return list(pool.map(lambda p: hash_file(p, git_blob=git_blob), paths))
