"""The one assertion every red-team case makes: caught by the library and by the CLI (exit 1)."""

from __future__ import annotations

from collections.abc import Callable

from modelguard.models import Verdict
from modelguard.scan import scan_bytes
from tests.scan.containers_build import Scanned

MAL, NOT_CLEAN = "malicious", "not-clean"


def assert_caught(data: bytes, name: str, expected: str, scan_cli: Callable[[bytes, str], Scanned]) -> None:
    """Never clean; malicious when ``expected`` is MAL; the CLI exits 1 on it."""
    result = scan_bytes(data, name)
    assert result.verdict is not Verdict.CLEAN, result.findings
    if expected == MAL:
        assert result.verdict is Verdict.MALICIOUS, result.findings
    assert scan_cli(data, name).code == 1
