"""Download many files, and pieces of big ones, over a bounded pool of connections; resume what was cut.

A CDN gives one connection a fraction of the link (10–100 MiB/s), so a model of many shards is
fetched over :data:`DEFAULT_WORKERS` connections at once (``--max-workers``). Each file is one job:
a HEAD (commit, ETag, size, where the bytes are), then the byte ranges still missing, cut into
pieces of :data:`PIECE` and queued in the order the files were opened, so idle connections help
with a big file (a 10 GB shard is fetched over every connection; 200 small files go side by side).
HEAD requests run beside the transfers (they are not counted as connections), so a connection that
frees up finds the next file's pieces ready; a file of at most :data:`SMALL` bytes (a config, a
tokenizer) is fetched by its opener right after its HEAD, beside the transfers too. Pieces are
written at their offsets into the file's partial download (:mod:`modelguard.store.partial`), and
every byte is hashed once, in order, while the pieces land (:class:`~modelguard.store.ordered.OrderedHasher`):
memory stays bounded by the workers' 1 MiB buffers and each file's hashing backlog, whatever the file sizes.

Budgets (issue 14) hold per request, whatever it asks for: each whole-file GET, each piece and each
resume has its own connect/read timeouts and :class:`~modelguard.hub.pace.Pace` (deadline, minimum
rate; :mod:`modelguard.hub.ranged`), so a stalled piece is retried from its next byte and, after the
client's retries, fails its file with no verdict (MG-H134/H135); a body is never kept past its range.

Resume: a piece cut short is asked for again from its next byte (``Range``), with the client's
backoff; a partial left by an earlier run (kill -9, Ctrl-C, a network failure) is continued, its
bytes re-hashed from disk, never trusted. A server that ignores ``Range`` is detected
(:class:`~modelguard.hub.ranged.RangeIgnored`) and the file downloaded again from byte 0 in one
request (MG-H150); a resumed file that does not hash to the lock is downloaded once more from byte
0 (MG-H151). Checks are per file and unchanged: size, the locked SHA-256, the ETag's hash.

Failures are per file: one file's refusal cancels its own pieces only, and its bytes are removed
(as are those of a file the disk could not hold); a file the network failed keeps its partial. A failure that gives no
verdict (Hub down after retries, disk full) stops opening further files, as the rest would fail
alike; files already started finish or fail on their own. A bug in a worker stops the pool and is
raised in the caller's thread. Ctrl-C stops every transfer, keeps the partials, and re-raises.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence

from modelguard.errors import (
    IntegrityError,
    ModelguardError,
    NotFoundError,
    NoVerdictError,
    RejectedError,
)
from modelguard.hub.jobs import Done, Job, Want, check, cut, store_error
from modelguard.hub.progress import Progress, Silent
from modelguard.hub.ranged import Cancelled, RangeIgnored, get_range
from modelguard.hub.transport import HubClient, Transient, pause
from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.store.ordered import OrderedHasher
from modelguard.store.partial import Partial

__all__ = ["DEFAULT_WORKERS", "MAX_WORKERS", "PIECE", "Claim", "Done", "Gate", "Head", "Pool", "Want"]

DEFAULT_WORKERS = 8
"""connections at once, as huggingface_hub's snapshot_download uses"""
MAX_WORKERS = 64
PIECE = 32 << 20
"""bytes one request asks for at most: a bigger file is fetched over several connections"""
SMALL = 1 << 20
"""a file this small jumps the queue (configs, tokenizers: a connection for milliseconds)"""

Head = Callable[[str, "int | None"], tuple[str, str, int]]
"""(path, locked size) -> (ETag, location of the bytes, size), each checked (:func:`modelguard.hub.client.head_file`)"""
Claim = Callable[["Want", int], Partial]
Gate = Callable[[str, str], "ModelguardError | None"]
"""(path, the ETag its HEAD announced) -> why its bytes must not be asked for (may wait), or None"""


class Pool:
    """One model's downloads (see the module docstring); :meth:`run` once per set of files."""

    def __init__(self, client: HubClient, repo: str, commit: str, *, head: Head, claim: Claim,
                 workers: int = DEFAULT_WORKERS, progress: Progress | None = None, piece: int = PIECE,
                 gate: Gate | None = None, flowing: threading.Event | None = None) -> None:
        self.client = client
        self._gate = gate
        self.repo = repo
        self.commit = commit
        self._head = head
        self._claim = claim
        self.workers = max(1, min(MAX_WORKERS, workers))
        self.progress: Progress = progress or Silent()
        self.piece = piece
        self._opens: deque[Job] = deque()
        self._pieces: deque[tuple[Job, int, int]] = deque()
        self._cv = threading.Condition()
        self._busy = 0
        self._opened = 0
        """files opened and not finished: at most :attr:`open_limit` (each holds a descriptor and a hasher)"""
        self.open_limit = 2 * self.workers
        self._stop = False
        """no further file is opened (a failure without verdict)"""
        self._cancel = False
        """every transfer stops now (Ctrl-C, a bug)"""
        self._crash: BaseException | None = None
        self._results: dict[str, Done] = {}
        self.flowing = flowing or threading.Event()
        """set once every transfer connection has had its first piece (or nothing more can start), and when
        :meth:`run` ends: from then on, work the caller does beside the pool (asking for the file listing,
        importing scanners) delays no first byte"""
        self._transfers = 0
        self._taken = 0
        self._opening = 0

    def run(self, wants: Sequence[Want]) -> dict[str, Done]:
        """Download ``wants``; a file that was never opened (after a failure without verdict) has no entry."""
        jobs = [Job(w, f"{self.repo}@{self.commit[:12]}:{w.path}") for w in wants]
        self._opens.extend(sorted(jobs, key=lambda j: (j.want.size or 0) > SMALL))  # small files asked about first
        try:
            return self._run(jobs)
        finally:
            self.flowing.set()
            for job in jobs:
                if job.partial is not None and not job.finished:  # stopped mid-way: keep what arrived
                    if job.hasher is not None:
                        job.hasher.close()
                    self._finish(job, record=False)

    def _run(self, jobs: list[Job]) -> dict[str, Done]:
        # HEAD requests (openers) do not count as transfers: while every connection is busy with bytes,
        # the next files are already asked about, so a connection that frees up starts at once.
        # Transfers: as many as there are pieces to fetch (a single 10 GB file still gets every
        # connection), up to the pool's size; a file of unknown size counts as one piece until its HEAD.
        count = {"open": min(self.workers, max(1, len(jobs))),
                 "get": min(self.workers, max(1, sum(len(cut(0, j.want.size or 1, self.piece)) for j in jobs)))}
        self._transfers = count["get"]
        threads = [threading.Thread(target=self._worker, args=(kind,), name=f"modelguard-{kind}-{i}", daemon=True)
                   for kind, n in count.items() for i in range(n)]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)  # a bounded join keeps Ctrl-C deliverable to this thread
        except BaseException:
            with self._cv:
                self._cancel = self._stop = True
                self._opens.clear()
                self._pieces.clear()
                self._cv.notify_all()
            for t in threads:
                t.join(5.0)
            raise
        if self._crash is not None:
            raise self._crash
        return self._results

    # --- the queues

    def _next(self, kind: str) -> Job | tuple[Job, int, int] | None:
        """The next piece (``get``) or file to open (``open``); None once nothing is left for anyone."""
        with self._cv:
            while True:
                if self._stop:
                    self._opens.clear()
                if kind == "get" and self._pieces:
                    self._busy += 1
                    self._taken += 1
                    task = self._pieces.popleft()
                    self._note_flowing()  # after the pop: the last piece taken can be what empties the queue
                    return task
                if kind == "open" and self._opens and self._opened < self.open_limit:
                    self._busy += 1
                    self._opened += 1
                    self._opening += 1
                    return self._opens.popleft()
                if not self._pieces and not self._opens and self._busy == 0:
                    self._cv.notify_all()
                    return None
                self._cv.wait()

    def _note_flowing(self) -> None:
        """Under the lock: every connection has started, or no file waits to be opened and no piece to be taken."""
        if self._taken >= self._transfers or not (self._opens or self._pieces or self._opening):
            self.flowing.set()

    def _push(self, tasks: list[tuple[Job, int, int]], *, first: bool = False) -> None:
        """Queue pieces: in the order their files were opened (a small file is not kept waiting behind a big
        one's pieces), or ``first`` (a file started over goes before the files that wait)."""
        with self._cv:
            if first:
                self._pieces.extendleft(reversed(tasks))
            else:
                self._pieces.extend(tasks)
            self._cv.notify_all()

    def _worker(self, kind: str) -> None:
        while (task := self._next(kind)) is not None:
            try:
                if isinstance(task, Job):
                    self._open(task)
                else:
                    self._piece(*task)
            except BaseException as e:  # a bug: stop everything, raise it in the caller's thread
                with self._cv:
                    self._crash = self._crash or e
                    self._cancel = self._stop = True
                    self._opens.clear()
                    self._pieces.clear()
            finally:
                with self._cv:
                    self._busy -= 1
                    if isinstance(task, Job):
                        self._opening -= 1
                        self._note_flowing()
                    self._cv.notify_all()

    # --- one file

    def _open(self, job: Job) -> None:
        if self._stop:
            self._finish(job, record=False)
            return  # not attempted: not reported
        try:
            job.etag, job.location, job.size = self._head(job.want.path, job.want.size)
            veto = self._gate(job.want.path, job.etag) if self._gate is not None else None
            if veto is not None:
                raise veto
            job.partial = self._claim(job.want, job.size)
            job.fd = job.partial.open()
        except (RejectedError, NoVerdictError, NotFoundError) as e:
            self._finish(job, error=e)
            return
        except OSError as e:
            self._finish(job, error=store_error(job.what, e))
            return
        job.inherited = job.partial.done.total
        self.progress.start(job.want.path, job.size, job.inherited)
        self._plan(job, inline=True)

    def _plan(self, job: Job, *, inline: bool = False) -> None:
        """Start hashing what is on disk and queue the missing ranges, cut into pieces (``inline``: called
        by the file's opener, which fetches a small file itself)."""
        assert job.partial is not None
        job.hasher = OrderedHasher(job.fd, job.size, git_sha1=len(job.etag) != 64, landed=job.partial.done)
        if job.whole_only:
            pieces = [(job, 0, job.size)] if job.size else []
        else:
            pieces = [(job, a, b) for start, end in job.partial.done.missing(job.size)
                      for a, b in cut(start, end, self.piece)]
        if not pieces:
            self._settle(job)
            return
        job.outstanding = len(pieces)
        if inline and job.size <= SMALL and len(pieces) == 1:
            # A small file is fetched by its opener, right after its HEAD and like it beside the transfers:
            # it takes a connection for milliseconds, and a transfer connection it held first would start
            # a big file's piece that much later (and the whole model would end that much later).
            with self._cv:
                self._taken += 1
                self._note_flowing()
            self._piece(*pieces[0])
            return
        self._push(pieces, first=job.restarts > 0 or job.retried_fresh or job.size <= SMALL)

    def _piece(self, job: Job, start: int, end: int) -> None:
        at = [start]

        def write(offset: int, data: bytes) -> None:
            view = memoryview(data)
            done = 0
            while done < len(view):
                done += os.pwrite(job.fd, view[done:], offset + done)
            assert job.partial is not None and job.hasher is not None
            job.partial.landed(offset, offset + len(data))
            job.hasher.landed(offset, data)
            at[0] = offset + len(data)
            self.progress.advance(job.want.path, len(data))

        waits = iter(self.client.retry.waits())
        try:
            while not (job.stopped() or self._cancel) and at[0] < end:
                try:
                    get_range(self.client, job.location, self.commit, job.what, size=job.size, start=at[0], end=end,
                              ranged=(at[0], end) != (0, job.size), write=write,
                              cancelled=lambda: job.stopped() or self._cancel)
                except RangeIgnored:
                    self._restart(job, finding("MG-H150", f"{job.what}: the server ignored a Range request; "
                                                          "downloading the file again from byte 0"))
                except Cancelled:
                    return
                except (Transient, IntegrityError) as e:
                    if isinstance(e, IntegrityError) and e.rule != "MG-H008":
                        raise
                    # A cut or a transient failure: ask again for the rest of this piece, after the backoff.
                    backoff = next(waits, None)
                    if backoff is None or job.stopped() or self._cancel:
                        raise
                    wait = max(backoff, e.wait if isinstance(e, Transient) else 0.0)
                    if wait > self.client.retry.max_server_wait:
                        raise
                    pause(wait, e.message)
        except (RejectedError, NoVerdictError, NotFoundError) as e:
            self._fail(job, e)
        except OSError as e:
            self._fail(job, store_error(job.what, e))
        finally:
            with job.lock:
                job.outstanding -= 1
                last = job.outstanding == 0
            if last:
                self._settle(job)

    def _restart(self, job: Job, note: Finding) -> None:
        with job.lock:
            if job.restart is None:
                job.restart = note.message
                if not any(n.rule == note.rule for n in job.done.notes):
                    job.done.notes.append(note)
                if note.rule == "MG-H150":
                    job.whole_only = True

    def _fail(self, job: Job, error: ModelguardError) -> None:
        with job.lock:
            job.error = job.error or error
        if isinstance(error, NoVerdictError):
            self._stop = True

    def _settle(self, job: Job) -> None:
        """Every piece of ``job`` ended: finish the file, or download it again from byte 0."""
        assert job.partial is not None and job.hasher is not None
        if job.error is not None or self._cancel:
            job.hasher.close()
            self._finish(job, error=job.error)
            return
        if job.restart is not None:
            job.hasher.close()
            job.restarts += 1
            if job.restarts > self.client.retry.retries:
                self._finish(job, error=IntegrityError(f"{job.what}: {job.restart}, {job.restarts} times",
                                                       rule="MG-H008"))
                return
            self._start_over(job)
            return
        try:
            got = job.hasher.digests()
        except OSError as e:
            self._finish(job, error=store_error(job.what, e))
            return
        problem = check(job, got)
        if problem is not None and job.inherited and not job.retried_fresh:
            # Bytes an earlier attempt left did not add up to the lock: they go, and the file comes anew.
            job.retried_fresh = True
            job.done.notes.append(finding("MG-H151", f"{job.what}: the partial download kept from an earlier "
                                                     f"attempt did not hash to the lock ({problem.rule}); "
                                                     "downloading the file again from byte 0"))
            self._start_over(job)
            return
        if problem is not None:
            self._finish(job, error=problem)
            return
        try:
            os.fsync(job.fd)
            os.replace(job.partial.part, job.want.dest)
            # The name must still be the file that was hashed (no one swapped it in the meantime).
            moved, hashed = os.lstat(job.want.dest), os.fstat(job.fd)
        except OSError as e:
            self._finish(job, error=store_error(job.what, e))
            return
        if (moved.st_dev, moved.st_ino) != (hashed.st_dev, hashed.st_ino):
            job.want.dest.unlink(missing_ok=True)
            self._finish(job, error=IntegrityError(f"{job.what}: the partial download was replaced while it was "
                                                   "written; fetch again", rule="MG-H001"))
            return
        job.done.digests = got
        self._finish(job)

    def _start_over(self, job: Job) -> None:
        assert job.partial is not None
        job.restart = None
        self.progress.restart(job.want.path, job.partial.done.total)
        job.partial.reset(job.fd)
        job.inherited = 0
        self._plan(job)

    def _finish(self, job: Job, *, error: ModelguardError | None = None, record: bool = True) -> None:
        """Close the file and keep the outcome. A partial survives a failure without verdict (to resume);
        refused bytes are removed."""
        if job.finished:
            return
        job.finished = True
        with self._cv:
            self._opened -= 1
            self._cv.notify_all()
        if job.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(job.fd)
            job.fd = -1
        if job.partial is not None:
            if error is None and job.done.digests is not None:
                job.partial.discard()  # its bytes are now the downloaded file
            elif error is None or (isinstance(error, NoVerdictError) and error.rule != "MG-H106"):
                # Stopped, or the network failed: kept to resume. A full disk gets its space back.
                with contextlib.suppress(OSError):
                    job.partial.save()
            else:
                job.partial.discard()
        if error is not None:
            self._fail(job, error)
        job.done.error = error
        if record and (error is not None or job.done.digests is not None):
            with self._cv:
                self._results[job.want.path] = job.done
        self.progress.finish(job.want.path)
