"""Hash a file whose bytes land out of order (pieces downloaded side by side, a resumed prefix), in order, once.

SHA-256 is a sequence: byte N can only be hashed after bytes 0..N-1. A download that fetches several
pieces of one file at once, or continues a partial file, still has every byte hashed exactly once:
the piece at the hashing frontier is handed over in memory as it is written (no second read), and
bytes that landed further ahead (another connection's piece, a partial from an earlier run) are read
back from the file (the page cache) when the frontier reaches them. The hashing runs in a second
thread (hashlib releases the GIL), so receiving and hashing use two cores; at most :data:`BACKLOG`
chunks wait for it (bounded memory whatever the file size).

Never decides anything: :meth:`OrderedHasher.digests` says what was hashed; the caller compares it
with the lock. Must not hash a byte twice or skip one: :meth:`digests` of a file whose every byte did
not land reports the size hashed, which then differs from the locked size.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading

from modelguard.store.digest import CHUNK, Digests, git_blob_header
from modelguard.store.partial import Ranges

BACKLOG = 4
"""chunks (of up to :data:`~modelguard.store.digest.CHUNK`) waiting to be hashed, at most"""

_Item = bytes | tuple[int, int] | None


class OrderedHasher:
    """The digests of the file open at ``fd`` (``size`` bytes), fed by :meth:`landed` in any order."""

    def __init__(self, fd: int, size: int, *, git_sha1: bool, landed: Ranges | None = None) -> None:
        self._fd = fd
        self._size = size
        self._sha256 = hashlib.sha256()
        self._sha1 = hashlib.sha1(git_blob_header(size), usedforsecurity=False) if git_sha1 else None
        self._hashed = 0
        self._queued = 0
        """bytes [0, queued) are hashed or waiting in the queue, in order"""
        self._ahead = Ranges()
        """bytes on disk beyond the frontier, read back when it reaches them"""
        self._lock = threading.Lock()
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=BACKLOG)
        self._error: OSError | None = None
        self._thread: threading.Thread | None = threading.Thread(target=self._run, name="modelguard-hash",
                                                                 daemon=True)
        self._thread.start()
        if landed is not None:
            with self._lock:
                for start, end in landed.spans:
                    self._ahead.add(start, end)
                self._advance()

    def landed(self, offset: int, data: bytes) -> None:
        """``data`` was written at ``offset`` (and will not change): hash it in its turn."""
        with self._lock:
            if offset == self._queued:
                # At the frontier: hashed from memory. A full queue waits here (backpressure).
                self._queue.put(data)
                self._queued += len(data)
            else:
                self._ahead.add(offset, offset + len(data))
            self._advance()

    def _advance(self) -> None:
        """Queue the landed bytes that now touch the frontier, to be read back (under the lock)."""
        while self._ahead.spans and self._ahead.spans[0][0] <= self._queued:
            _, end = self._ahead.spans.pop(0)
            if end > self._queued:
                self._queue.put((self._queued, end))
                self._queued = end

    def _run(self) -> None:
        buf = bytearray(CHUNK)
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the caller learns of the error from digests()
            if isinstance(item, bytes):
                self._update(item)
                continue
            start, end = item
            try:
                while start < end:
                    n = os.preadv(self._fd, [memoryview(buf)[:min(CHUNK, end - start)]], start)
                    if n <= 0:
                        raise OSError(f"the file ended at byte {start} while {end} were written")
                    self._update(memoryview(buf)[:n])
                    start += n
            except OSError as e:
                self._error = e

    def _update(self, chunk: bytes | memoryview) -> None:
        self._sha256.update(chunk)
        if self._sha1 is not None:
            self._sha1.update(chunk)
        self._hashed += len(chunk)

    @property
    def frontier(self) -> int:
        """Bytes from 0 queued for hashing (every one before it landed)."""
        with self._lock:
            return self._queued

    def close(self) -> None:
        """Let the thread hash what is queued, and stop it (idempotent)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def digests(self) -> Digests:
        """What was hashed: from byte 0 up to the first byte that never landed. Raises the OSError of a
        read back that failed."""
        self.close()
        if self._error is not None:
            raise self._error
        sha1 = self._sha1.hexdigest() if self._sha1 is not None and self._hashed == self._size else None
        return Digests(self._hashed, self._sha256.hexdigest(), sha1)
