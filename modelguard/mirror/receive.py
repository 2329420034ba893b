"""Receive a blob into a file while a second thread hashes it, with no copy in between.

Why not :class:`modelguard.store.digest.HashingWriter`: it takes ``bytes`` chunks from requests'
``iter_content``, which allocates a new 1 MiB object per chunk inside urllib3. On a 2-core machine
that also runs the registry, those allocations and copies were ~15 % of a verified 1 GiB fetch.
Here the socket is read into a small pool of preallocated buffers; each buffer is written to the
file, handed to the hashing thread, and comes back to the pool once hashed (so the hashing never
sees a buffer being refilled). At most :data:`POOL` MiB wait to be hashed. Every socket read is
timed against the transfer's :class:`~modelguard.hub.pace.Pace` (deadline, minimum rate), as the
Hub's downloads are: a mirror that drips is a stall (MG-H134/H135), not a day-long fetch.

The fast path reads the body through the ``http.client`` response under urllib3's (``raw._fp``),
which keeps ``Content-Length``/chunked framing and raises ``IncompleteRead`` on a cut; when that
object is not there (another urllib3), :func:`pump` falls back to ``iter_content``. Bytes are
counted only once written, so a resume asks for exactly what is missing.

Must not: write more than the locked size (the excess is refused at the first extra byte), or
return digests before the hashing thread has hashed every written byte.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
from typing import Any

import requests

from modelguard.errors import IntegrityError
from modelguard.hub.pace import Pace
from modelguard.store.digest import CHUNK, Digests, git_blob_header

POOL = 8
HAND_ON = 0.1
"""seconds after which a buffer that is still filling is written and hashed anyway (a slow mirror)"""
"""buffers of :data:`~modelguard.store.digest.CHUNK` bytes: the most that waits to be hashed"""


class Receiver:
    """The quarantine file of one download: written, capped and hashed (SHA-256, optionally git SHA-1)."""

    def __init__(self, fd: int, size: int, what: str, *, git_sha1: bool) -> None:
        self._fd = fd
        self._size = size
        self._what = what
        self.written = 0
        self._sha256 = hashlib.sha256()
        self._sha1 = hashlib.sha1(git_blob_header(size), usedforsecurity=False) if git_sha1 else None
        self._free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(POOL):
            self._free.put(bytearray(CHUNK))
        self._full: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
        self._thread: threading.Thread | None = threading.Thread(target=self._hash, name="modelguard-hash",
                                                                 daemon=True)
        self._thread.start()
        self.pace: Pace | None = None
        """the current try's pace (:mod:`modelguard.hub.pace`): a mirror that drips is a stall, as a Hub is"""

    def _hash(self) -> None:
        while (item := self._full.get()) is not None:
            buf, n = item
            view = memoryview(buf)[:n]
            self._sha256.update(view)
            if self._sha1 is not None:
                self._sha1.update(view)
            self._free.put(buf)

    def _keep(self, buf: bytearray, n: int) -> None:
        """Write ``buf[:n]`` to the file and queue it for hashing (the buffer returns when hashed)."""
        if self.written + n > self._size:
            self._free.put(buf)
            raise IntegrityError(f"{self._what}: the mirror sent more than the {self._size} locked bytes",
                                 rule="MG-H002")
        view = memoryview(buf)[:n]
        while view:
            view = view[os.write(self._fd, view):]
        self.written += n
        self._full.put((buf, n))

    def read_from(self, fp: Any) -> None:
        """Fill buffers from ``fp`` until it returns 0; a cut raises after the last whole read.

        ``readinto1`` (at most one socket read each) and not ``readinto``, which waits until the whole
        1 MiB buffer is full: a registry dripping a byte a second would be timed only once a buffer
        filled, a week later. A buffer is handed on when full, at the end, or after :data:`HAND_ON` s.
        """
        read = getattr(fp, "readinto1", None) or fp.readinto
        while True:
            buf = self._free.get()
            view = memoryview(buf)
            n = 0
            began = time.monotonic()
            try:
                while n < len(buf):
                    got = read(view[n:])
                    if not got:
                        break
                    n += got
                    now = time.monotonic()
                    if self.pace is not None:
                        self.pace.arrived(got, now)
                    if now - began >= HAND_ON:
                        break
            except BaseException:
                view.release()
                if n:
                    self._keep(buf, n)  # what arrived before the cut is kept: the resume starts after it
                else:
                    self._free.put(buf)
                raise
            view.release()
            if not n:
                self._free.put(buf)
                return
            self._keep(buf, n)

    def write(self, chunk: bytes) -> None:
        """The fallback path: copy a chunk from ``iter_content`` into a pooled buffer."""
        for start in range(0, len(chunk), CHUNK):
            piece = chunk[start:start + CHUNK]
            buf = self._free.get()
            buf[:len(piece)] = piece
            self._keep(buf, len(piece))

    def close(self) -> None:
        """Let the hashing thread finish what was written, then stop it (idempotent)."""
        if self._thread is not None:
            self._full.put(None)
            self._thread.join()
            self._thread = None

    def digests(self) -> Digests:
        self.close()
        sha1 = self._sha1.hexdigest() if self._sha1 is not None and self.written == self._size else None
        return Digests(self.written, self._sha256.hexdigest(), sha1)


def pump(response: requests.Response, receiver: Receiver) -> None:
    """Move the body of ``response`` (identity-encoded: the caller checked) into ``receiver``."""
    fp = getattr(response.raw, "_fp", None)
    if fp is not None and callable(getattr(fp, "readinto", None)):
        receiver.read_from(fp)
        return
    for chunk in response.iter_content(chunk_size=CHUNK):
        receiver.write(chunk)
