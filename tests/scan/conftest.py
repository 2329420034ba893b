"""Fixtures shared by the scanner tests."""

from tests.scan.containers_build import scan_cli

__all__ = ["scan_cli"]
