"""The audit log: one JSON line per action in ``<cache root>/audit.log``, and reading it back.

Owns the record shape (timestamp, command, model, commit, file hashes, verdicts, policy hash,
modelguard version, user, host, plus what the caller adds), the append (``O_APPEND`` under the
log's own cross-process lock, one ``write``, ``fsync``), secret scrubbing, and the reader behind
``modelguard log``.

Must not: record a token, password or key — keys that name one are dropped, values that look
like one (or equal a secret in the environment) are replaced, before anything is written;
let an action pass when its record cannot be written (fail closed: :class:`UnreadableError`,
exit 3); crash on a malformed line when reading (it is reported, with its line number), or hold
more than the ``AUDIT_LINE_BYTES`` budget of one line in memory.

The lock is :mod:`filelock` on ``audit.log.lock`` beside the log (the one cross-process lock
mechanism modelguard uses, as for the cache's writer lock), not the cache's writer lock itself,
so a fetch that holds the writer lock can still append. A sidecar file, because filelock opens
its lock file for writing and must not be handed the log.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import getpass
import json
import os
import re
import socket
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelguard.errors import NothingToCheckError, UnreadableError
from modelguard.models import Report
from modelguard.spec import bounded, filenames, limits
from modelguard.spec.types import Lockfile
from modelguard.store.cache import cache_root as cache_root  # re-exported: the log lives in the cache root

LOG_NAME = filenames.AUDIT_LOG
RECORD_VERSION = 1

_SECRET_KEY = re.compile(r"token|secret|password|passwd|private|api[-_]?key|authorization|credential|signing[-_]?key",
                         re.IGNORECASE)
_SECRET_VALUE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"  # PEM private keys
    r"|\bhf_[A-Za-z0-9]{20,}"                                                       # Hugging Face tokens
    r"|\b(?:sk|pk|rk)-[A-Za-z0-9_-]{20,}"                                           # provider API keys
    r"|\bAIza[0-9A-Za-z_-]{30,}"                                                    # Google API keys
    r"|\bBearer\s+[A-Za-z0-9._~+/=-]{8,}",
    re.DOTALL,
)
_SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|API_KEY|SIGNING_KEY|PRIVATE", re.IGNORECASE)
REDACTED = "[redacted]"
_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
"""O_NOFOLLOW: the cache is writable by others, and an audit.log made a link to ~/.bashrc must not be appended to"""


def log_path(cache_root: str | os.PathLike[str]) -> Path:
    return Path(cache_root) / LOG_NAME


def append(cache_root: str | os.PathLike[str], event: Mapping[str, Any]) -> dict[str, Any]:
    """Append one record for ``event`` (``command`` required) and return what was written.

    Raises :class:`UnreadableError` (exit 3) when the log cannot be written: an action that
    cannot be recorded does not happen.
    """
    if not event.get("command"):
        raise ValueError("an audit event needs a command")  # a bug in the caller, not user input
    from modelguard import __version__

    record: dict[str, Any] = {
        "model": "", "repo": "", "commit": "", "files": {}, "verdicts": {}, "policy-sha256": "",
        **event,
        # Who, when and which modelguard are stamped here, never taken from the caller.
        "v": RECORD_VERSION,
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "modelguard-version": __version__,
        "user": _user(),
        "host": socket.gethostname(),
    }
    clean: dict[str, Any] = scrub(record)
    line = (json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n").encode("ascii")
    path, fd = _open_log(cache_root)
    try:
        _locked_write(fd, line, path)
    finally:
        os.close(fd)
    return clean


def _locked_write(fd: int, line: bytes, path: Path) -> None:
    """One record, whole, while no other process appends (records never interleave)."""
    from filelock import FileLock

    try:
        with FileLock(f"{path}.lock"):
            start = os.fstat(fd).st_size  # O_APPEND under the lock: the line goes exactly here
            try:
                written = 0
                while written < len(line):
                    written += os.write(fd, line[written:])
                os.fsync(fd)
            except OSError:
                # A full disk may take part of the line: cut it back, so the log never holds half a record.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise
    except OSError as e:
        raise _unwritable(path, e) from None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def scrub(value: Any, _env_secrets: tuple[str, ...] | None = None) -> Any:
    """A copy of ``value`` with secret-named keys dropped and secret-looking strings redacted."""
    secrets = _env_secrets if _env_secrets is not None else _environment_secrets()
    if isinstance(value, Mapping):
        return {str(k): scrub(v, secrets) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, str):
        text = _SECRET_VALUE.sub(REDACTED, value)
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return text
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return scrub(str(value), secrets)


def _environment_secrets() -> tuple[str, ...]:
    """Values of environment variables whose names say they are secrets (long enough to matter), and
    the secrets :mod:`modelguard.report.redact` knows (the Hub token passed with --token)."""
    from modelguard.report.redact import secrets

    found = set(secrets())
    for name, value in os.environ.items():
        if _SECRET_ENV.search(name) and len(value) >= 8:
            found.add(value)
            found.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 16)
    return tuple(sorted(found, key=len, reverse=True))


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Malformed:
    """A line that is not a well-formed record: reported, never skipped silently."""

    line: int
    problem: str


@dataclass(frozen=True)
class Entry:
    line: int
    record: dict[str, Any]

    @property
    def time(self) -> _dt.datetime | None:
        return parse_time(str(self.record.get("time", "")))


def parse_time(text: str) -> _dt.datetime | None:
    try:
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def read(cache_root: str | os.PathLike[str]) -> Iterator[Entry | Malformed]:
    """Every line of the log, in order; raises :class:`UnreadableError` when the log cannot be read."""
    path = log_path(cache_root)
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return
    except OSError as e:
        raise UnreadableError(f"cannot read the audit log {path}: {e.strerror or e}") from None
    cap = limits.active().audit_line_bytes
    with f:
        number = 0
        while raw := f.readline(cap + 1):  # never more than the budget in memory, however long the line
            number += 1
            if len(raw) > cap:
                yield Malformed(number, f"MG-H141 {limits.over(limits.BUDGETS.audit_line_bytes, 'the line')}")
                while raw and not raw.endswith(b"\n"):  # skip the rest of it, a budget at a time
                    raw = f.readline(cap + 1)
                continue
            if not raw.endswith(b"\n"):
                yield Malformed(number, "incomplete last line (a write was cut short)")
                continue
            try:
                record = bounded.load_json(raw, limits.BUDGETS.audit_line_bytes, what="the line")
            except limits.OverBudget as e:
                yield Malformed(number, f"{e.rule} {e.message}")
                continue
            except (UnicodeDecodeError, json.JSONDecodeError):
                yield Malformed(number, "not JSON")
                continue
            if not isinstance(record, dict) or not isinstance(record.get("command"), str):
                yield Malformed(number, "not an audit record (no command)")
                continue
            if parse_time(str(record.get("time", ""))) is None:
                yield Malformed(number, "no valid time")
                continue
            yield Entry(number, record)


def select(
    items: Iterator[Entry | Malformed], *, since: _dt.datetime | None = None, model: str | None = None
) -> tuple[list[Entry], list[Malformed]]:
    """Entries at or after ``since`` about ``model`` (name or repo), and every malformed line."""
    entries: list[Entry] = []
    malformed: list[Malformed] = []
    for item in items:
        if isinstance(item, Malformed):
            malformed.append(item)
            continue
        moment = item.time
        if since is not None and (moment is None or moment < since):
            continue
        if model is not None and model not in (item.record.get("model"), item.record.get("repo")):
            continue
        entries.append(item)
    return entries, malformed


@dataclass(frozen=True)
class AuditLog:
    """What ``modelguard log`` shows: the selected records of one log, and every malformed line."""

    path: Path
    entries: tuple[Entry, ...]
    malformed: tuple[Malformed, ...]


def read_log(cache_root: str | os.PathLike[str], *, since: _dt.datetime | None = None,
             model: str | None = None) -> AuditLog:
    """The log of ``cache_root`` (entries at or after ``since`` about ``model``); raises
    :class:`NothingToCheckError` when there is no log yet (nothing was ever recorded)."""
    path = log_path(cache_root)
    if not path.exists():
        raise NothingToCheckError(f"no audit log at {path}; nothing has been recorded in this cache yet")
    entries, malformed = select(read(cache_root), since=since, model=model)
    return AuditLog(path, tuple(entries), tuple(malformed))


def ensure_writable(cache_root: str | os.PathLike[str]) -> None:
    """Raise :class:`UnreadableError` now if the log cannot be appended to, before any change is made."""
    os.close(_open_log(cache_root)[1])


def _open_log(cache_root: str | os.PathLike[str]) -> tuple[Path, int]:
    """The log's path and a descriptor open for appending (never through a link)."""
    path = log_path(cache_root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path, os.open(path, _APPEND_FLAGS, 0o644)
    except OSError as e:
        raise _unwritable(path, e) from None


def report_events(report: Report, *, policy_sha256: str = "", **common: Any) -> list[dict[str, Any]]:
    """One audit event per model of a fetch/verify report (or one for the command when it has none).

    Each carries the model's file hashes, per-file verdicts, the ids of the rules that failed it,
    and its outcome (fetch: the model's status; verify: ``ok`` or ``rejected``).
    """
    failing = report.failing()
    base = {"command": report.command, "policy-sha256": policy_sha256, **common}
    if not report.models:
        return [{**base, "outcome": "ok" if report.ok else "rejected", "rules": sorted({f.rule for f in failing})}]
    events = []
    for m in report.models:
        event = {**base, "model": m.name, "repo": m.repo, "commit": m.commit,
                 "files": {r.path: r.sha256 or "" for r in m.files},
                 "verdicts": {r.path: r.verdict.value for r in m.files},
                 "rules": sorted({f.rule for f in failing if f.model == m.name}), "outcome": m.status.value}
        if m.reason:
            event["reason"] = m.reason
        events.append(event)
    return events


def append_report(cache_root: str | os.PathLike[str], report: Report, *, policy_sha256: str = "",
                  **common: Any) -> None:
    """Append :func:`report_events` of ``report``; fails closed like :func:`append`."""
    for event in report_events(report, policy_sha256=policy_sha256, **common):
        append(cache_root, event)


def lock_events(lockfile: Lockfile, *, path: str, resolved: Iterable[str] = (), written: bool = True
                ) -> list[dict[str, Any]]:
    """One ``lock`` event per locked hf-model (``outcome`` resolved or kept), or one for the lockfile."""
    fresh = set(resolved)
    base = {"command": "lock", "lockfile": path, "written": written, "policy-sha256": lockfile.policy_sha256}
    events = [{**base, "model": m.name, "repo": m.repo, "commit": m.commit,
               "files": {f.path: f.sha256 for f in m.files},
               "outcome": "resolved" if m.name in fresh else "kept"} for m in lockfile.hf_models]
    return events or [{**base, "outcome": "written" if written else "unchanged"}]


def _unwritable(path: Path, e: OSError) -> UnreadableError:
    # Fail closed (nothing runs unrecorded), and say how to get going again.
    return UnreadableError(f"audit log cannot be written: {path}: {e.strerror or e}; make the cache writable, "
                           "or pass --cache-dir (or set MODELGUARD_HOME) to a writable verified cache")
