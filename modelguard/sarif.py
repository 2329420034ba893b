"""SARIF 2.1.0 rendering (placeholder until the CI-integration work lands): refuses clearly."""

from __future__ import annotations

from typing import Any

from modelguard.errors import UsageError
from modelguard.models import Report


def to_sarif(report: Report, *, anchors: Any = None) -> str:
    raise UsageError("--format sarif is not available yet; use --format json")
