"""Fixtures for the mirror tests: a real registry (plain, and with htpasswd auth) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mirror.registry import Registry, start_registry

USERS = {"alice": "correct horse battery"}


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    started = start_registry(tmp_path / "registry")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[Registry]:
    started = start_registry(tmp_path / "auth-registry", users=USERS)
    try:
        yield started
    finally:
        started.stop()
