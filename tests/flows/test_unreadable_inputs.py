"""Unreadable inputs: no verdict (exit 3), one line naming the file, never a traceback or exit 2/70.

The files are unreadable for real (see tests/unreadable.py: as root, the command runs without the
capabilities that let root read anything).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.errors import ExitCode
from tests.cache_helpers import COMMIT, admit_local, locked_model, write_project
from tests.unreadable import as_user, deny

FILES = {"weights.bin": b"tensor bytes " * 64, "config.txt": b"hidden=4\n"}


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(project folder, lockfile, cache) with the model admitted."""
    model = locked_model("tiny", "acme/tiny", FILES)
    folder = tmp_path / "proj"
    folder.mkdir()
    lock_path, manifest = write_project(folder, [model])
    cache = tmp_path / "cache"
    admit_local(cache, model, FILES, manifest.policy)
    return folder, lock_path, cache


def _one_line(err: str, *names: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for name in names:
        assert name in lines[0], err


def test_verify_with_an_unreadable_lockfile(project: tuple[Path, Path, Path]) -> None:
    _, lock_path, cache = project
    deny(lock_path)
    ran = as_user(lambda: run(["verify", "--lockfile", str(lock_path), "--cache-dir", str(cache)]))
    assert ran.code == ExitCode.NO_VERDICT, ran
    _one_line(ran.err, str(lock_path))


def test_verify_with_an_unreadable_blob(project: tuple[Path, Path, Path]) -> None:
    _, lock_path, cache = project
    blob = Path(os.path.realpath(cache / "hub" / "models--acme--tiny" / "snapshots" / COMMIT / "weights.bin"))
    os.chmod(blob, 0o644)
    deny(blob)
    ran = as_user(lambda: run(["verify", "--lockfile", str(lock_path), "--cache-dir", str(cache)]))
    assert ran.code == ExitCode.NO_VERDICT, ran  # was 70: a PermissionError out of the hashing
    _one_line(ran.err, str(blob), "weights.bin")


def test_snapshot_verify_with_an_unreadable_blob_raises_a_modelguard_error(project: tuple[Path, Path, Path]) -> None:
    _, lock_path, cache = project
    blob = Path(os.path.realpath(cache / "hub" / "models--acme--tiny" / "snapshots" / COMMIT / "config.txt"))
    os.chmod(blob, 0o644)
    deny(blob)

    def call() -> int:
        from modelguard import UnreadableError, api

        try:
            api.snapshot("tiny", lockfile=lock_path, cache_dir=cache, verify=True)
        except UnreadableError as e:  # not a raw PermissionError
            print(e.message)
            return int(e.exit_code)
        return 0

    ran = as_user(call)
    assert ran.code == ExitCode.NO_VERDICT, ran
    assert str(blob) in ran.out


def test_fetch_with_a_writer_lock_that_is_a_folder(project: tuple[Path, Path, Path], capsys) -> None:
    _, lock_path, cache = project
    (cache / ".lock").unlink(missing_ok=True)
    (cache / ".lock").mkdir()
    code = run(["--endpoint", "http://127.0.0.1:9", "fetch", "--lockfile", str(lock_path), "--cache-dir", str(cache)])
    assert code == ExitCode.NO_VERDICT  # was 70: IsADirectoryError out of filelock
    _one_line(capsys.readouterr().err, str(cache / ".lock"))


def test_scan_behind_a_folder_nobody_may_search(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "model.bin").write_bytes(b"\x80\x02}q\x00.")
    deny(secret)
    ran = as_user(lambda: run(["scan", str(secret / "model.bin")]))
    secret.chmod(0o755)  # so pytest can clean up
    assert ran.code == ExitCode.NO_VERDICT, ran  # was 2: "no such file or directory"
    _one_line(ran.err, str(secret / "model.bin"))


def test_scan_of_a_folder_with_a_subfolder_nobody_may_list(tmp_path: Path) -> None:
    (tmp_path / "ok.json").write_text("{}")
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "evil.pkl").write_bytes(b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00echo\x85R.")
    deny(hidden)
    ran = as_user(lambda: run(["scan", str(tmp_path)]))
    assert ran.code == ExitCode.NO_VERDICT, ran  # was 0: the folder was skipped and the rest was clean
    _one_line(ran.err, str(hidden))
    hidden.chmod(0o755)  # so pytest can clean up
