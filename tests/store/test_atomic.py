"""modelguard.store.atomic.replace_file: old or new, never half; modes and symlinks kept."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from modelguard.store.atomic import replace_file


def test_new_file_is_0644_and_leaves_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "modelguard.lock"
    replace_file(p, "lock-version = 1\n")
    assert p.read_text() == "lock-version = 1\n"
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["modelguard.lock"]


def test_existing_mode_is_kept(tmp_path: Path) -> None:
    p = tmp_path / "policy.toml"
    p.write_text("a = 1\n")
    p.chmod(0o600)
    replace_file(p, b"a = 2\n")
    assert p.read_bytes() == b"a = 2\n"
    assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_symlink_target_is_replaced_and_link_kept(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "org-policy.toml"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "policy.toml"
    link.symlink_to(real)
    replace_file(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "modelguard.lock"
    p.write_text("old\n")
    with pytest.raises(TypeError):  # the write itself fails after the temp file exists
        replace_file(p, 12345)  # type: ignore[arg-type]
    assert p.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["modelguard.lock"]


def test_missing_folder_is_a_usage_error_naming_the_path(tmp_path: Path) -> None:
    from modelguard.errors import UsageError

    with pytest.raises(UsageError) as e:
        replace_file(tmp_path / "no" / "such" / "report.json", "{}\n")
    assert e.value.exit_code == 2 and "report.json" in e.value.message and "does not exist" in e.value.message
    assert os.listdir(tmp_path) == []


def test_unwritable_target_is_no_verdict_and_keeps_the_old_file(tmp_path: Path) -> None:
    from modelguard.errors import UnreadableError

    target = tmp_path / "report.json"
    target.mkdir()  # os.replace onto a folder fails after the temp file exists, even for root
    with pytest.raises(UnreadableError) as e:
        replace_file(target, "{}\n")
    assert e.value.exit_code == 3 and "nothing was changed" in e.value.message
    assert os.listdir(tmp_path) == ["report.json"] and target.is_dir()
