"""The small interface every format scanner implements, and the byte sources they read.

A scanner is a function ``scan(ctx, source, head) -> Outcome``. It reads what it needs
from ``source`` (seekable, never the whole file when only framing is needed), returns the
findings and the name of the format it recognised, and hands nested members back to
``ctx.nested(...)`` so depth, size and count limits are enforced in one place.

Scanners never execute, import or unpickle what they read. Anything they do not understand
becomes a finding (fail closed); an exception escaping a scanner is a bug (exit 70), except
:class:`ScanLimitError` and :class:`MalformedError`, which the engine turns into findings.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from modelguard.models import Finding


class MalformedError(Exception):
    """Raised inside a scanner for input that does not parse; becomes an MG-S001 finding."""

    def __init__(self, message: str, location: str = "") -> None:
        super().__init__(message)
        self.location = location


class ScanLimitError(Exception):
    """Raised inside a scanner when a safety limit is exceeded; becomes an MG-S003 finding."""

    def __init__(self, message: str, location: str = "") -> None:
        super().__init__(message)
        self.location = location


@dataclass(frozen=True)
class Limits:
    """Safety limits: a bomb becomes a finding, not an out-of-memory or a hang."""

    max_depth: int = 8
    """nesting of containers (zip in tar in gzip ...)"""
    max_members: int = 100_000
    """members of one archive"""
    max_expanded_bytes: int = 8 << 30
    """total bytes decompressed while scanning one top-level file"""
    max_ratio: int = 1_000
    """decompressed / compressed size of one member, above which output is no longer stored or scanned"""
    max_discard_bytes: int = 1 << 30
    """output past the ratio limit decompressed (never stored) to tell padding from more content"""
    max_pickle_bytes: int = 2 << 30
    """a single pickle stream longer than this is not analysed (tensor data is never pickled)"""
    max_pickle_ops: int = 50_000_000
    max_pickle_container_items: int = 10_000_000
    max_text_bytes: int = 64 << 20
    """python / json / template text read for analysis"""


class Source:
    """A named, sized, seekable byte source: a file on disk or bytes in memory."""

    name: str
    """display location, e.g. ``model.zip!archive/data.pkl``"""
    size: int

    def open(self) -> BinaryIO:
        raise NotImplementedError

    def read_head(self, n: int) -> bytes:
        with self.open() as f:
            return f.read(n)

    def read_all(self, limit: int) -> bytes:
        """All bytes, refusing (ScanLimitError) beyond ``limit``."""
        if self.size > limit:
            raise ScanLimitError(f"{self.size} bytes exceeds the {limit}-byte analysis limit", self.name)
        with self.open() as f:
            return f.read()


class FileSource(Source):
    def __init__(self, path: str | os.PathLike[str], name: str | None = None) -> None:
        self.path = os.fspath(path)
        self.name = name if name is not None else self.path
        self.size = os.stat(self.path).st_size

    def open(self) -> BinaryIO:
        return open(self.path, "rb")


class BytesSource(Source):
    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.name = name
        self.size = len(data)

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data)


@dataclass
class Outcome:
    """What one scanner found in one source."""

    format: str
    findings: list[Finding] = field(default_factory=list)


@dataclass
class ScanContext:
    """Per top-level-file state shared by nested scans: limits, budget, policy additions."""

    limits: Limits = field(default_factory=Limits)
    extra_safe_globals: frozenset[tuple[str, str]] = frozenset()
    """(module, name) pairs the policy adds to the pickle allowlist"""
    depth: int = 0
    expanded_bytes: int = 0
    nested_scanner: Callable[[ScanContext, Source], Outcome] | None = None
    plain_pickle_loop: bool = False
    """walk pickles through the per-opcode handlers alone, without the opcode loop's fast paths
    (the reference the fast paths are tested against; same results, slower)"""

    def charge_expansion(self, n: int, location: str) -> None:
        """Count decompressed bytes against the per-file budget."""
        self.expanded_bytes += n
        if self.expanded_bytes > self.limits.max_expanded_bytes:
            raise ScanLimitError(
                f"more than {self.limits.max_expanded_bytes} bytes expanded (decompression bomb?)",
                location,
            )

    def nested(self, source: Source) -> Outcome:
        """Detect and scan a member found inside a container, one level deeper."""
        if self.nested_scanner is None:  # pragma: no cover - the engine always sets it
            raise RuntimeError("ScanContext.nested_scanner is not set")
        if self.depth + 1 > self.limits.max_depth:
            raise ScanLimitError(f"nesting deeper than {self.limits.max_depth} levels", source.name)
        child = ScanContext(
            limits=self.limits,
            extra_safe_globals=self.extra_safe_globals,
            depth=self.depth + 1,
            expanded_bytes=self.expanded_bytes,
            nested_scanner=self.nested_scanner,
            plain_pickle_loop=self.plain_pickle_loop,
        )
        try:
            return self.nested_scanner(child, source)
        finally:
            self.expanded_bytes = child.expanded_bytes


Scanner = Callable[[ScanContext, Source, bytes], Outcome]
