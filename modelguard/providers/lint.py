"""``modelguard lint PATH...``: provider model IDs in application code and configuration.

Reads Python, JS/TS, YAML, JSON, TOML and ``.env`` files as text (never imports or runs them)
and finds model IDs two ways: a value given to a ``model`` key (``model=``, ``"model":``,
``model:``, ``OPENAI_MODEL=``) and any string literal with a known provider ID shape or the exact
name of a model a provider retired. Reports floating aliases (MG-P201), deprecated/retired IDs
(MG-P203/P204), IDs the lockfile does not pin (MG-P206), provider-shaped IDs the catalog does not
list (MG-P209, low) and keyed values of no known provider (MG-P210, info). modelguard's own
manifest, lockfile and policy files are recognised by content and checked by
:mod:`modelguard.providers.ownfiles` instead. Does no network and writes nothing.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from modelguard import clock
from modelguard.errors import LockfileError
from modelguard.models import FileResult, Finding, Report, Severity
from modelguard.providers.catalog import Catalog, load_catalog
from modelguard.providers.lifecycle import alias_finding, lifecycle_findings
from modelguard.providers.ownfiles import own_findings, recognise
from modelguard.report.rules import finding
from modelguard.spec import bounded
from modelguard.spec.limits import OverBudget
from modelguard.spec.lockfile import read_lockfile_text
from modelguard.spec.tomlsource import TomlSyntaxError, key_lines, loads
from modelguard.spec.types import Policy

DEFAULT_LOCKFILE = "modelguard.lock"
_FORMATS = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript",
    ".cjs": "javascript", ".ts": "typescript", ".tsx": "typescript", ".mts": "typescript", ".yaml": "yaml",
    ".yml": "yaml", ".json": "json", ".toml": "toml", ".env": "dotenv",
}
_SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache", "dist", "build"}
_SKIP_FILES = {"package-lock.json"}  # modelguard's own files are recognised by content, not skipped by name
_MAX_BYTES = 2 * 1024 * 1024

_KEY = r"""["']?\b[A-Za-z0-9_]*(?i:model)(?:_?(?i:name|id))?\b["']?"""
_QUOTED_VALUE = re.compile(_KEY + r"""\s*[:=]\s*(["'`])([^"'`\s]{2,120})\1""")
_BARE_VALUE = re.compile(_KEY + r"""\s*[:=]\s*([A-Za-z0-9][A-Za-z0-9._:/@-]{1,119})\s*(?:#.*)?$""")
_LITERAL = re.compile(r"""(["'`])([A-Za-z0-9][A-Za-z0-9._:/@-]{2,119})\1""")


@dataclass(frozen=True)
class LockedIds:
    """Model IDs the lockfile covers: each entry's resolved ID, and its requested ID -> resolved."""

    resolved: frozenset[str]
    pins: dict[str, str]


def read_locked_ids(path: str) -> LockedIds:
    """The ``[[provider-model]]`` IDs of a lockfile (read-only, tolerant of other tables)."""
    text = read_lockfile_text(path)  # within the lockfile budget
    try:
        key_lines(text, source=path)  # shaped so the parser gets no bomb
        doc = loads(text)
    except OverBudget as e:
        raise LockfileError(e.message, rule=e.rule) from None
    except TomlSyntaxError as e:
        raise LockfileError(f"lockfile {path} is not valid TOML: {e}") from None
    entries = doc.get("provider-model", [])
    if not isinstance(entries, list):
        raise LockfileError(f"lockfile {path}: provider-model must be an array of tables")
    resolved: set[str] = set()
    pins: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("resolved"), str):
            raise LockfileError(f"lockfile {path}: a [[provider-model]] entry has no resolved ID")
        resolved.add(entry["resolved"])
        if isinstance(entry.get("requested"), str):
            pins[entry["requested"]] = entry["resolved"]
    return LockedIds(frozenset(resolved), pins)


def _files(paths: Sequence[str]) -> Iterator[str]:
    for top in paths:
        if not os.path.isdir(top):
            yield top
            continue
        for root, dirs, names in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
            for name in sorted(names):
                if name not in _SKIP_FILES and _format(name) != "text":
                    yield os.path.join(root, name)


def _format(path: str) -> str:
    name = os.path.basename(path)
    if name == ".env" or name.startswith(".env.") or name.endswith(".env"):
        return "dotenv"
    return _FORMATS.get(os.path.splitext(name)[1].lower(), "text")


def _ids_on_line(line: str, fmt: str) -> list[tuple[str, bool]]:
    """(model ID, keyed) pairs on one line, in order, without repeats."""
    found: dict[str, bool] = {}
    for m in _QUOTED_VALUE.finditer(line):
        found[m.group(2)] = True
    if fmt in ("yaml", "dotenv"):
        bare = _BARE_VALUE.search(line.strip().removeprefix("export ").removeprefix("- "))
        if bare:
            found.setdefault(bare.group(1), True)
    for m in _LITERAL.finditer(line):
        found.setdefault(m.group(2), False)
    return list(found.items())


def _worth_checking(model_id: str, keyed: bool, catalog: Catalog) -> bool:
    """A keyed value always is; a bare string literal only with a provider's ID shape, or when it is
    the exact name of a catalogued model and carries a digit (``text-davinci-003``, not ``"ada"``)."""
    if keyed or catalog.shaped(model_id) is not None:
        return True
    return catalog.names(model_id) and any(c.isdigit() for c in model_id)


def _unknown(model_id: str, keyed: bool, locked: LockedIds | None, location: str, path: str) -> list[Finding]:
    if not keyed or (locked is not None and (model_id in locked.resolved or model_id in locked.pins)):
        return []
    if locked is not None:
        return [finding("MG-P206", f"{model_id} is not pinned by the lockfile", location=location, path=path)]
    return [finding("MG-P210", f"{model_id} is not the model ID of any provider modelguard knows",
                    location=location, path=path)]


def _check_id(model_id: str, keyed: bool, catalog: Catalog, locked: LockedIds | None, policy: Policy,
              today: date, location: str, path: str) -> list[Finding]:
    scope = catalog.guess(model_id) if _worth_checking(model_id, keyed, catalog) else None
    if scope is None:
        return _unknown(model_id, keyed, locked, location, path)
    provider, platform = scope
    known = catalog.classify(provider, platform, model_id)
    life = catalog.lifecycle(provider, platform, model_id)
    if life is None and known.resolves_to:
        life = catalog.lifecycle(provider, platform, known.resolves_to)
    out: list[Finding] = []
    # a retired ID gets the retirement, not advice to pin a snapshot of a model that no longer answers
    if known.kind == "alias" and not (life is not None and life.status(today) == "retired"):
        if locked is not None and model_id in locked.pins:
            hint = f"; the lockfile pins it to {locked.pins[model_id]}: use that ID"
        elif known.resolves_to:
            hint = f" (resolves to {known.resolves_to} as of {catalog.as_of.isoformat()}): pin that ID"
        else:
            hint = "; pin a dated snapshot"
        out.append(alias_finding(model_id, policy, hint=hint, location=location, path=path))
    elif known.kind == "unknown" and life is None and locked is None:
        out.append(finding("MG-P209", f"{model_id} is not in the provider catalog; cannot tell whether it is "
                           "pinned, deprecated or retired", location=location, path=path))
    if life is not None:
        out.extend(lifecycle_findings(model_id, life, policy, today, location=location, path=path))
    if locked is not None and model_id not in locked.resolved and model_id not in locked.pins:
        out.append(finding("MG-P206", f"{model_id} is not pinned by the lockfile", location=location, path=path))
    return out


def _read_start(path: str) -> bytes | None:
    """The first ``_MAX_BYTES + 1`` bytes of the regular file ``path``; None for anything else.

    Opened non-blocking and checked with fstat before reading: a FIFO named on the command line (or
    met while walking a folder) would otherwise hold ``lint`` and the pre-commit hook forever.
    """
    fd = os.open(path, bounded.READ_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return bounded.read_prefix(fd, _MAX_BYTES + 1)
    finally:
        os.close(fd)


def _lint_file(path: str, catalog: Catalog, locked: LockedIds | None, policy: Policy, today: date) -> FileResult:
    fmt = _format(path)
    try:
        data = _read_start(path)
    except OSError as e:
        return FileResult(path, fmt, (finding("MG-S004", f"cannot read: {e.strerror}", path=path),))
    if data is None:
        return FileResult(path, fmt, (finding("MG-S004", "not a regular file (FIFO, device or socket); lint does "
                                              "not read it", path=path),))
    findings: list[Finding] = []
    if len(data) > _MAX_BYTES:
        findings.append(finding("MG-S003", f"larger than {_MAX_BYTES} bytes; only the start was linted",
                                path=path))
        data = data[:_MAX_BYTES]
    text = data.decode("utf-8", errors="replace")
    own = recognise(text) if fmt in ("toml", "text") else None
    if own is not None:
        findings.extend(own_findings(own, text, path, catalog, policy, today))
        return FileResult(path, own.kind, tuple(findings), size=len(data))
    for number, line in enumerate(text.splitlines(), start=1):
        for model_id, keyed in _ids_on_line(line, fmt):
            # The column of the ID itself, so an editor's link lands on it (1-based, in characters).
            where = f"line {number}, column {line.find(model_id) + 1}" if model_id in line else f"line {number}"
            findings.extend(_check_id(model_id, keyed, catalog, locked, policy, today, where, path))
    return FileResult(path, fmt, tuple(findings), size=len(data))


def lint_paths(
    paths: Sequence[str],
    *,
    lockfile: str | None = None,
    fail_on: Severity = Severity.MEDIUM,
    policy: Policy | None = None,
    today: date | None = None,
) -> Report:
    """Lint files and folders; ``lockfile`` (else ./modelguard.lock when present) adds MG-P206."""
    catalog = load_catalog()
    pol = policy or Policy()
    day = today or clock.today()
    if lockfile is None and os.path.isfile(DEFAULT_LOCKFILE):
        lockfile = DEFAULT_LOCKFILE
    locked = read_locked_ids(lockfile) if lockfile else None
    results = [_lint_file(p, catalog, locked, pol, day) for p in _files(paths)]
    extra: dict[str, object] = {"lockfile": lockfile or "", "catalog-as-of": catalog.as_of.isoformat()}
    return Report(command="lint", fail_on=fail_on, files=tuple(results), checked=len(results), extra=extra)
