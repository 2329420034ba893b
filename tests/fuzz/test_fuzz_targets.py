"""The fuzz targets in the suite: every seed and every saved crash replays without an unexpected exception.

The coverage-guided campaign itself runs in CI after the tests (``python -m tests.fuzz.run``, see
``.ci/run``); here each target is held to its oracle on the inputs that matter most: its seeds
(so a target cannot rot unnoticed) and every input a campaign ever crashed on, saved under
``tests/fuzz/regressions/<target>/`` once the bug was fixed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.run import REGRESSIONS
from tests.fuzz.targets import TARGETS, replay


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeds_hold_the_oracle(name: str) -> None:
    target = TARGETS[name]
    seeds = target.seeds()
    assert seeds, f"{name} has no seed"
    for data in [*seeds, b""]:
        replay(target, data)


def _saved() -> list[tuple[str, Path]]:
    return sorted((p.parent.name, p) for p in REGRESSIONS.glob("*/*") if p.is_file())


def test_every_saved_crash_names_a_target() -> None:
    assert {name for name, _ in _saved()} <= set(TARGETS)


@pytest.mark.parametrize(("name", "path"), _saved(), ids=[f"{n}/{p.name}" for n, p in _saved()])
def test_saved_crash_no_longer_crashes(name: str, path: Path) -> None:
    replay(TARGETS[name], path.read_bytes())
