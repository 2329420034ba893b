"""The real files under tests/data/real, read by the scanner tests, and the one-line summary of a
scan those tests compare (format, verdict, rule ids)."""

from __future__ import annotations

from pathlib import Path

from modelguard.scan import scan_bytes

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
PUBLISHED = REAL / "published"


def read_real(rel: str) -> bytes:
    return (REAL / rel).read_bytes()


def read_published(rel: str) -> bytes:
    return (PUBLISHED / rel).read_bytes()


def scan_summary(data: bytes, name: str) -> tuple[str, str, set[str]]:
    r = scan_bytes(data, name)
    return r.format, r.verdict.value, {f.rule for f in r.findings}
