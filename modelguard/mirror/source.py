"""A byte source for ``fetch``: a locked file's bytes, by its locked digest, from a mirror.

:meth:`MirrorSource.download` streams ``NAMESPACE/org--name@sha256:<locked sha256>`` into a file the
caller owns in quarantine, hashing every byte as it lands (a second thread), and resumes a cut
transfer with ``Range: bytes=N-`` into the same hash state, so no byte is read twice
(:mod:`modelguard.mirror.receive` does the receiving and hashing, with no copy in between). It returns
only when size and SHA-256 (and the git blob SHA-1 when the lock pins one) are the locked ones:
the mirror is untrusted, and a blob that is not the locked bytes is refused with MG-H001 exactly
as a tampered Hub file is. Scanning, policy and admission stay the fetcher's.

One call per file, no shared mutable state but the client's token cache: :meth:`MirrorSource.stage`
fetches ``workers`` files side by side (the fetch's ``--max-workers``), and each resume starts
where its own file stopped.

Must not: write anywhere but ``dest`` and a temporary file beside it, or leave either behind on
failure; accept a 200 to a ``Range`` request as a continuation (it restarts from byte 0).
"""

from __future__ import annotations

import errno
import http.client
import os
import re
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests

from modelguard.errors import (
    IntegrityError,
    ModelguardError,
    NotFoundError,
    NoVerdictError,
    RejectedError,
    UsageError,
)
from modelguard.hub.metadata import check_locked
from modelguard.hub.pace import Pace, Stalled
from modelguard.mirror.oci import BlobMissing, RegistryClient, RegistryUnreachable
from modelguard.mirror.receive import Receiver, pump
from modelguard.mirror.reference import MirrorLocation, digest_of, parse_location
from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.spec.types import LockedFile, MirrorSpec
from modelguard.store.digest import Digests

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_SKIPPED = "skipped"
_NO_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
RESUMES = 4
"""cut transfers resumed per file before giving up"""


@dataclass(frozen=True)
class MirrorSettings:
    """The mirror a fetch reads from, after ``--mirror`` / ``--no-hub`` / ``--plain-http`` override ``[mirror]``."""

    location: MirrorLocation
    hub_fallback: bool


def settings(spec: MirrorSpec | None, url: str | None = None, *, no_hub: bool = False,
             plain_http: bool = False) -> MirrorSettings | None:
    """The effective mirror, or None (Hub only). ``--no-hub`` without a mirror is a usage error."""
    chosen = url or (spec.url if spec else None)
    if chosen is None:
        if no_hub:
            raise UsageError("--no-hub needs a mirror: pass --mirror oci://HOST/NAMESPACE or add [mirror] url "
                             "to the manifest")
        return None
    from_manifest = spec is not None and (url is None or url == spec.url)
    plain = plain_http or (from_manifest and spec is not None and spec.plain_http)
    fallback = "none" if no_hub else (spec.fallback if spec is not None else "hub")
    return MirrorSettings(parse_location(chosen, plain_http=plain), hub_fallback=fallback == "hub")


@dataclass
class Staging:
    """What :meth:`MirrorSource.stage` did with the files it was asked for."""

    staged: list[tuple[LockedFile, Path]] = field(default_factory=list)
    """verified quarantine copies"""
    for_hub: list[LockedFile] = field(default_factory=list)
    """what the Hub must serve (fallback ``hub`` only)"""
    failed: list[tuple[LockedFile, ModelguardError]] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)


class MirrorSource:
    """Locked files' bytes from one mirror; see the module docstring."""

    def __init__(self, client: RegistryClient | None = None, *, hub_fallback: bool,
                 location: MirrorLocation | None = None) -> None:
        """``client``, or a ``location`` whose client (and credentials) is made on the first download:
        a fetch whose models are all admitted never runs a credential helper."""
        if client is None and location is None:
            raise ValueError("MirrorSource needs a client or a location")
        self._client = client
        self._location = location
        self.hub_fallback = hub_fallback

    @classmethod
    def open(cls, mirror: MirrorSettings) -> MirrorSource:
        return cls(hub_fallback=mirror.hub_fallback, location=mirror.location)

    @property
    def client(self) -> RegistryClient:
        if self._client is None:
            from modelguard.mirror.auth import find_credentials

            assert self._location is not None
            self._client = RegistryClient(self._location, find_credentials(self._location.host))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def stage(self, hub_repo: str, missing: Sequence[LockedFile], quarantine: Path, *, workers: int = 1) -> Staging:
        """Download ``missing`` into ``quarantine``, ``workers`` files at once, each checked against the lock.

        Other bytes than the lock's are failures, never replaced from the Hub: the mirror is untrusted
        exactly like the Hub. Only an absent blob, or a mirror that gives no answer, goes to the Hub,
        and only with ``fallback = "hub"`` (noted as MG-H164). A failure with no verdict (disk full,
        mirror down) stops further downloads from the mirror: the rest would fail alike (with the Hub
        as fallback, they come from the Hub).
        """
        stop = threading.Event()

        def attempt(index: int, lf: LockedFile) -> tuple[LockedFile, Path, ModelguardError | str | None]:
            dest = quarantine / f"{index:05d}.mirror"
            if stop.is_set():
                return lf, dest, _SKIPPED
            try:
                self.download(hub_repo, lf, dest)
                return lf, dest, None
            except (RejectedError, NoVerdictError, NotFoundError) as e:
                dest.unlink(missing_ok=True)
                if isinstance(e, NoVerdictError) and not isinstance(e, BlobMissing):
                    stop.set()
                return lf, dest, e

        if workers <= 1 or len(missing) <= 1:
            attempts = [attempt(i, lf) for i, lf in enumerate(missing)]
        else:
            from concurrent.futures import ThreadPoolExecutor

            count = min(workers, len(missing))
            with ThreadPoolExecutor(max_workers=count, thread_name_prefix="modelguard-mirror") as pool:
                attempts = list(pool.map(lambda pair: attempt(*pair), enumerate(missing)))
        return self._sorted_out(attempts)

    def _sorted_out(self, attempts: Sequence[tuple[LockedFile, Path, ModelguardError | str | None]]) -> Staging:
        """What the attempts, in lock order, mean for the model (see :meth:`stage`)."""
        out = Staging()
        hub_allowed = True
        for lf, dest, e in attempts:
            if e is None:
                out.staged.append((lf, dest))
            elif isinstance(e, str):  # not attempted: the mirror stopped answering before its turn
                if self.hub_fallback and hub_allowed:
                    out.for_hub.append(lf)
            elif self.hub_fallback and isinstance(e, NoVerdictError) and e.rule != "MG-H106":
                out.notes.append(finding("MG-H164", f"{lf.path}: fetched from the Hub ({e.message})"))
                out.for_hub.append(lf)
            else:
                out.failed.append((lf, e))
                if isinstance(e, NoVerdictError):
                    out.for_hub.clear()
                    hub_allowed = False
        if not hub_allowed:
            out.for_hub.clear()
        return out

    def download(self, hub_repo: str, lf: LockedFile, dest: Path) -> Digests:
        """Download the locked file ``lf`` of ``hub_repo`` to ``dest``, checked; see the module docstring.

        Raises :class:`~modelguard.mirror.oci.BlobMissing` (the mirror lacks it), IntegrityError
        (MG-H001/H002/H008: other bytes) or another NoVerdictError (mirror down, disk full).
        """
        repository = self.client.location.repository(hub_repo)
        digest = digest_of(lf.sha256)
        what = f"{self.client.location.url}: {hub_repo}:{lf.path}"
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        except OSError as e:
            raise _store_error(what, e) from None
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as raw:
                receiver = Receiver(raw.fileno(), lf.size, what, git_sha1=lf.git_blob_sha1 is not None)
                try:
                    self._transfer(repository, digest, lf.size, receiver, what)
                    os.fsync(raw.fileno())  # while the hashing thread finishes the last buffers
                finally:
                    receiver.close()
            got = receiver.digests()
            if got.size != lf.size:
                raise IntegrityError(f"{what}: the mirror sent {got.size} of the {lf.size} locked bytes",
                                     rule="MG-H008")
            check_locked(lf, got, what=what)
            os.replace(tmp, dest)
            return got
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise _store_error(what, e) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _transfer(self, repository: str, digest: str, size: int, receiver: Receiver, what: str) -> None:
        """Stream the blob into ``receiver``; after a cut, ask for the rest with ``Range: bytes=N-``."""
        cut = "no answer"
        stalled: Stalled | None = None
        for _ in range(RESUMES + 1):
            start = receiver.written
            # Each try keeps its own deadline and minimum rate, as every Hub transfer does.
            receiver.pace = Pace.for_file(what, time.monotonic())
            response = self.client.open_blob(repository, digest, start=start)
            with response:
                _check_answer(response, start, size, what)
                try:
                    pump(response, receiver)
                except Stalled as e:
                    cut, stalled = e.message, e
                    continue
                except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                        http.client.HTTPException, ConnectionError, TimeoutError) as e:
                    cut, stalled = type(e).__name__, None
                    continue
            if receiver.written >= size:
                return
            # http.client ends a body cut short with a plain 0-byte read, not an error: resume too.
            cut, stalled = f"the connection closed after {receiver.written} bytes", None
        if stalled is not None:
            raise stalled  # no verdict (MG-H134/H135): too slow is not other bytes
        raise IntegrityError(f"{what}: the mirror cut the transfer {RESUMES + 1} times ({cut}); fetch again",
                             rule="MG-H008")


def _check_answer(response: requests.Response, start: int, size: int, what: str) -> None:
    """A resumed request must continue at ``start``; every answer must announce the locked length."""
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        raise IntegrityError(f"{what}: the mirror sent an encoded body; a blob is served as stored",
                             rule="MG-H162")
    if start:
        found = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if response.status_code != 206 or found is None or int(found.group(1)) != start:
            raise RegistryUnreachable(f"{what}: the mirror cannot resume the transfer at byte {start} (no "
                                      "matching 206 answer); fetch again")
        if found.group(3) != "*" and int(found.group(3)) != size:
            raise IntegrityError(f"{what}: the mirror's blob is {found.group(3)} bytes, the lock pins {size}",
                                 rule="MG-H002")
        return
    if response.status_code != 200:
        raise RegistryUnreachable(f"{what}: the mirror answered HTTP {response.status_code} to a whole-blob GET")
    length = response.headers.get("Content-Length", "").strip()
    if length and length != str(size):
        # Refused before a byte is stored: the mirror serves another blob than the locked one.
        raise IntegrityError(f"{what}: the mirror's blob is {length[:20]} bytes, the lock pins {size}",
                             rule="MG-H002")


def _store_error(what: str, e: OSError) -> NoVerdictError:
    reason = "no space left" if e.errno in _NO_SPACE else (e.strerror or type(e).__name__)
    return NoVerdictError(f"{what}: cannot write into quarantine: {reason}; free space and fetch again",
                          rule="MG-H106")
