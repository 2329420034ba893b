"""Placeholder: the scanner for this format is not written yet. Fails closed (MG-S002)."""

from __future__ import annotations

from modelguard.rules import finding
from modelguard.scan.base import Outcome, ScanContext, Source


def scan(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    return Outcome("unknown", [finding("MG-S002", "no scanner for this format yet", location=source.name)])


def probe(source: Source) -> bool:
    """Whether ``source`` parses as a pickle stream (protocol 0/1 can look like text)."""
    return False
