"""One file of a download pool (:mod:`modelguard.hub.pool`): what is wanted, what became of it, the state of
its transfer while it runs, and the per-file checks once its bytes are in (size, the locked SHA-256, the ETag).

Pure data and checks; the pool owns the threads, the requests and the partial files.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from modelguard.errors import IntegrityError, ModelguardError, UnreadableError
from modelguard.models import Finding
from modelguard.store.digest import Digests
from modelguard.store.ordered import OrderedHasher
from modelguard.store.partial import Partial


@dataclass(frozen=True)
class Want:
    """One locked file to download to ``dest``."""

    path: str
    size: int | None
    """the locked size, when there is a lock (else what the Hub announces is taken)"""
    sha256: str | None
    """the SHA-256 to check before the ETag (MG-H001 first), when the caller wants it checked here"""
    dest: Path
    key: str | None = None
    """the locked SHA-256 that names the file's partial download (resumable across runs)"""


@dataclass
class Done:
    """What became of one file: its digests, or the error that refused it; and notes (MG-H150, MG-H151)."""

    digests: Digests | None = None
    error: ModelguardError | None = None
    notes: list[Finding] = field(default_factory=list)


class Job:
    def __init__(self, want: Want, what: str) -> None:
        self.want = want
        self.what = what
        self.lock = threading.Lock()
        self.etag = ""
        self.location = ""
        self.size = want.size or 0
        self.finished = False
        self.partial: Partial | None = None
        self.fd = -1
        self.hasher: OrderedHasher | None = None
        self.inherited = 0
        """bytes of the partial that earlier attempts or runs left (re-hashed, not downloaded again)"""
        self.outstanding = 0
        self.error: ModelguardError | None = None
        self.restart: str | None = None
        """why the file must be downloaded again from byte 0 (set while pieces may still run)"""
        self.restarts = 0
        self.whole_only = False
        """the server ignored Range: one request for the whole file, no pieces"""
        self.retried_fresh = False
        self.done = Done()

    def stopped(self) -> bool:
        return self.error is not None or self.restart is not None


def cut(start: int, end: int, piece: int) -> list[tuple[int, int]]:
    """``[start, end)`` in pieces of about ``piece`` bytes, evenly (no sliver of a piece at the end)."""
    count = max(1, round((end - start) / piece))
    step = -(-(end - start) // count)
    return [(a, min(a + step, end)) for a in range(start, end, step)]


def check(job: Job, got: Digests) -> IntegrityError | None:
    """The hashed bytes against the announced size, the lock and the ETag (MG-H008, MG-H001, MG-H003)."""
    from modelguard.hub.metadata import check_etag_matches

    if got.size != job.size:
        return IntegrityError(f"{job.what}: {got.size} of the {job.size} bytes announced arrived", rule="MG-H008")
    if job.want.sha256 is not None and got.sha256 != job.want.sha256:
        return IntegrityError(f"{job.what}: SHA-256 {got.sha256} differs from the locked {job.want.sha256}",
                              rule="MG-H001")
    try:
        check_etag_matches(job.etag, got, job.what)
    except IntegrityError as e:
        return e
    return None


def store_error(what: str, e: OSError) -> UnreadableError:
    import errno

    full = e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
    reason = "no space left" if full else (e.strerror or type(e).__name__)
    return UnreadableError(f"{what}: cannot write the download into quarantine: {reason}; free space and fetch "
                          "again", rule="MG-H106")
