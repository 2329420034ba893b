"""Where a finding points: the repository file, line, column (and byte offset) every report format shares.

Owns :class:`Anchors` (what the renderer knows about the lockfile and manifest lines of each model)
and :func:`position`, the one rule that turns a :class:`~modelguard.models.Finding` into a
:class:`Position`. The text report prints it as ``path:line:col:`` (the form ruff, flake8, eslint and
compilers print, which terminals, editors and CI problem matchers turn into links); SARIF uses the
same position for ``physicalLocation``. So a finding points at the same place in every format.

Anchoring, in order (the first that applies wins):

1. a finding whose ``location`` (or ``path``) is ``FILE:LINE[:COL]`` (a lockfile, manifest or policy
   line) -> that file, line and column;
2. a finding about a locked model -> the lockfile line of the model's entry (``verify``, ``fetch``);
3. a finding about a file (``scan``, ``lint``; for a model's file, only when it is a real file)
   -> that file, at ``line N[, column M]`` when the location says so, else line 1; a location
   ``FILE@offset N`` (no archive member in between) is also a byte offset into the file;
4. a finding about a model that is not locked -> its manifest line; else the lockfile, the
   manifest, or ``modelguard.lock`` / ``modelguard.toml`` in the base folder, line 1.

Pure apart from :func:`os.path.isfile` checks (a model file named ``embedder:model.bin`` is no
repository file); never reads a file's content.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from modelguard.models import Finding
from modelguard.spec import filenames

__all__ = ["Anchors", "Position", "detail_location", "is_file_line", "position", "subject"]

_FILE_LINE = re.compile(r"^(?P<file>.+?):(?P<line>[1-9][0-9]*)(?::(?P<col>[1-9][0-9]*))?$")
_LINE_WORD = re.compile(r"\bline (?P<line>[1-9][0-9]*)(?:,? col(?:umn)? (?P<col>[1-9][0-9]*))?\b")
_OFFSET = re.compile(r"^@?offset (?P<offset>[0-9]+)$")


@dataclass(frozen=True)
class Anchors:
    """What the renderer knows about the project's files. Paths may be absolute or relative to
    the working directory; SARIF makes its URIs relative to ``base_dir`` (``%SRCROOT%``)."""

    base_dir: str = ""
    """the repository root (default: the working directory)"""
    lockfile_path: str = ""
    manifest_path: str = ""
    lines: Mapping[str, int] = field(default_factory=dict)
    """model entry name -> 1-based line of its entry in the lockfile"""
    manifest_lines: Mapping[str, int] = field(default_factory=dict)
    """model entry name -> 1-based line of its entry in the manifest"""

    @classmethod
    def for_lock(cls, lockfile: object, lockfile_path: str, *, manifest: object | None = None,
                 base_dir: str = "") -> Anchors:
        """Anchors for ``verify`` and ``fetch``: the lockfile's entry lines, and the manifest's if given.

        ``lockfile`` is a :class:`~modelguard.spec.types.Lockfile`, ``manifest`` a
        :class:`~modelguard.spec.types.Manifest` (typed loosely: ``scan`` must not import spec.types).
        """
        manifest_lines: dict[str, int] = {}
        manifest_path = ""
        if manifest is not None:
            manifest_path = str(getattr(manifest, "path", ""))
            for spec in [*getattr(manifest, "hf_models", ()), *getattr(manifest, "provider_models", ())]:
                if spec.line:
                    manifest_lines[spec.name] = spec.line
        return cls(base_dir=base_dir, lockfile_path=lockfile_path, manifest_path=manifest_path,
                   lines=dict(getattr(lockfile, "lines", ())), manifest_lines=manifest_lines)


@dataclass(frozen=True)
class Position:
    """A place in a file: 1-based line and column, and a byte offset when the file is binary and it is known."""

    path: str
    line: int = 1
    column: int = 1
    byte_offset: int | None = None
    own_file: bool = False
    """the position is in the file the finding is about (so the path already names its subject)"""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


def position(f: Finding, anchors: Anchors | None = None) -> Position:
    """The one place ``f`` points at; see the module docstring for the order of the rules."""
    anchors = anchors or Anchors()
    m = _FILE_LINE.match(f.location) or _FILE_LINE.match(f.path)
    if m:
        return Position(m.group("file"), int(m.group("line")), int(m.group("col") or 1),
                        own_file=m.group("file") == f.path)
    if f.model and anchors.lockfile_path and anchors.lines.get(f.model):
        return Position(anchors.lockfile_path, anchors.lines[f.model])
    if f.path and (not f.model or os.path.isfile(f.path)):  # verify's "model:file" is no repository file
        return _in_file(f)
    if f.model and anchors.manifest_path and anchors.manifest_lines.get(f.model):
        return Position(anchors.manifest_path, anchors.manifest_lines[f.model])
    for fallback in (anchors.lockfile_path, anchors.manifest_path):
        if fallback:
            return Position(fallback)
    root = anchors.base_dir or "."
    for default in (filenames.LOCKFILE, filenames.MANIFEST):
        if os.path.isfile(os.path.join(root, default)):
            return Position(os.path.normpath(os.path.join(anchors.base_dir, default)) if anchors.base_dir
                            else default)
    return Position(f.path or f.location or filenames.MANIFEST)


def _in_file(f: Finding) -> Position:
    words = _LINE_WORD.search(f.location)
    if words:
        return Position(f.path, int(words.group("line")), int(words.group("col") or 1), own_file=True)
    inside = f.location[len(f.path):] if f.location.startswith(f.path) else f.location
    offset = _OFFSET.match(inside)
    return Position(f.path, byte_offset=int(offset.group("offset")) if offset else None, own_file=True)


def is_file_line(text: str) -> bool:
    """Whether ``text`` is ``FILE:LINE[:COL]`` (a position), not a file path."""
    return bool(_FILE_LINE.match(text))


def subject(f: Finding, pos: Position) -> str:
    """What the finding is about when its position does not say it: ``model:path``, the model, or the path."""
    if pos.own_file:
        return ""
    if f.model and f.path and not _FILE_LINE.match(f.path):
        inner = f.path.split(":", 1)[1] if f.path.startswith(f.model + ":") else f.path
        return f"{f.model}:{inner}"
    if f.model:
        return f.model
    if f.path and f.path != pos.path and not _FILE_LINE.match(f.path):
        return f.path
    return ""


def detail_location(f: Finding, pos: Position) -> str:
    """The part of ``f.location`` the position does not already say (an archive member, a JSON key)."""
    loc = f.location
    if not loc or loc == f.path or loc == pos.path or _FILE_LINE.match(loc):
        return ""
    if _LINE_WORD.fullmatch(loc) and pos.own_file:
        return ""
    # Scanners name members after the file as they saw it: the path given, or (verify, fetch) the
    # repo-relative path inside ``model:path``.
    for prefix in (f.path, f.path.split(":", 1)[1] if f.model and f.path.startswith(f.model + ":") else ""):
        if prefix and loc.startswith(prefix) and len(loc) > len(prefix) and loc[len(prefix)] in "!@":
            return loc[len(prefix) + 1:]
    return loc
