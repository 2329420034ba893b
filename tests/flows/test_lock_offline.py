"""`modelguard lock` paths that must not touch the network: --check, kept pins, refusals.

Every test here points the Hub endpoint at a closed loopback port: a request would fail the run
(exit 3), so exit 0 proves no request was made.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.errors import ExitCode
from modelguard.spec.lockfile import read_lockfile, render_lockfile
from modelguard.spec.manifest import load_manifest, spec_sha256
from modelguard.spec.types import LockedFile, LockedHFModel, Lockfile

MANIFEST = """\
[policy]
allowed-orgs = ["google", "acme"]

[[hf-model]]
name = "bert"
repo = "google/bert-tiny"

[[hf-model]]
name = "acme"
repo = "acme/widget"
revision = "v2"
include = ["*.json"]
"""


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def seed(tmp_path: Path, text: str = MANIFEST) -> tuple[Path, Path]:
    """A manifest and a lockfile that is fresh for it (hashes made up, format real)."""
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text(text)
    m = load_manifest(str(manifest))
    models = tuple(
        LockedHFModel(s.name, s.repo, s.revision, f"{i + 1:040x}",
                      (LockedFile("config.json", 2, f"{i + 1:064x}", "git-blob-sha1", f"{i + 9:040x}"),),
                      spec_sha256(s))
        for i, s in enumerate(m.hf_models)
    )
    lock = tmp_path / "modelguard.lock"
    lock.write_text(render_lockfile(Lockfile(1, "modelguard 0.0.9", m.sha256, m.policy.sha256, models)))
    return manifest, lock


def lock_cli(tmp_path: Path, *args: str) -> int:
    return run(["--endpoint", _closed_port(), "lock", "--manifest", str(tmp_path / "modelguard.toml"), *args])


def test_check_fresh_lock_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(tmp_path)
    assert lock_cli(tmp_path, "--check") == ExitCode.OK
    assert "up to date (2 entries)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace('revision = "v2"', 'revision = "v3"'), "changed: acme"),
        (lambda t: t.replace('include = ["*.json"]', 'include = ["*.json", "*.txt"]'), "changed: acme"),
        (lambda t: t + '\n[[hf-model]]\nname = "new"\nrepo = "google/t5"\n', "not locked: new"),
        (lambda t: t.split("[[hf-model]]\nname = \"acme\"")[0], "no longer in the manifest: acme"),
    ],
)
def test_check_stale_lock_exits_1_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: object, expected: str
) -> None:
    manifest, lock = seed(tmp_path)
    before = lock.read_bytes()
    manifest.write_text(edit(MANIFEST))  # type: ignore[operator]
    assert lock_cli(tmp_path, "--check") == ExitCode.REJECTED
    err = capsys.readouterr().err
    assert "is stale" in err and expected in err and "run `modelguard lock`" in err
    assert lock.read_bytes() == before


def test_policy_edit_does_not_make_the_lock_stale(tmp_path: Path) -> None:
    """The policy is evaluated live by fetch/verify; an org-wide policy edit must not break every gate."""
    manifest, lock = seed(tmp_path)
    before = lock.read_bytes()
    manifest.write_text(MANIFEST.replace('"google", "acme"]', '"google", "acme", "mistralai"]'))
    assert MANIFEST != manifest.read_text()
    assert lock_cli(tmp_path, "--check") == ExitCode.OK
    assert lock.read_bytes() == before


def test_check_ignores_comment_and_whitespace_edits(tmp_path: Path) -> None:
    manifest, _ = seed(tmp_path)
    manifest.write_text("# reviewed 2026-11\n" + MANIFEST.replace(" = ", "  =  ") + "\n\n")
    assert lock_cli(tmp_path, "--check") == ExitCode.OK


def test_check_missing_lock_exits_1_mg_l002(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "modelguard.toml").write_text(MANIFEST)
    assert lock_cli(tmp_path, "--check") == ExitCode.REJECTED
    assert "no lockfile" in capsys.readouterr().err
    assert not (tmp_path / "modelguard.lock").exists()


def test_check_unparsable_or_future_lock_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, lock = seed(tmp_path)
    lock.write_text(lock.read_text().replace("lock-version = 1", "lock-version = 7"))
    assert lock_cli(tmp_path, "--check") == ExitCode.USAGE
    assert "upgrade modelguard" in capsys.readouterr().err
    lock.write_text("[[hf-model]\n")
    assert lock_cli(tmp_path, "--check") == ExitCode.USAGE


def test_check_refuses_write_flags(tmp_path: Path) -> None:
    seed(tmp_path)
    assert lock_cli(tmp_path, "--check", "--upgrade", "bert") == ExitCode.USAGE


def test_relock_with_nothing_changed_makes_no_request_and_leaves_file_untouched(tmp_path: Path) -> None:
    _, lock = seed(tmp_path)
    before = lock.read_bytes()
    os.utime(lock, (1_000_000, 1_000_000))
    assert lock_cli(tmp_path) == ExitCode.OK
    assert lock.read_bytes() == before
    assert lock.stat().st_mtime == 1_000_000
    assert "modelguard 0.0.9" in lock.read_text()  # created-by kept: nothing changed


def test_removed_entry_is_dropped_and_policy_change_rehashed_without_requests(tmp_path: Path) -> None:
    manifest, lock = seed(tmp_path)
    old = read_lockfile(str(lock))
    manifest.write_text(MANIFEST.split('[[hf-model]]\nname = "acme"')[0].replace('"acme"]', '"acme", "meta"]'))
    assert lock_cli(tmp_path) == ExitCode.OK
    new = read_lockfile(str(lock))
    assert [m.name for m in new.hf_models] == ["bert"]
    assert new.hf_models[0] == next(m for m in old.hf_models if m.name == "bert")  # pin kept as is
    assert new.policy_sha256 != old.policy_sha256
    assert new.created_by.startswith("modelguard 0.1")
    assert lock_cli(tmp_path, "--check") == ExitCode.OK


def test_upgrade_unknown_name_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, lock = seed(tmp_path)
    before = lock.read_bytes()
    assert lock_cli(tmp_path, "--upgrade", "nope") == ExitCode.USAGE
    assert "no entry named 'nope'" in capsys.readouterr().err
    assert lock.read_bytes() == before


def test_existing_unparsable_lock_is_not_overwritten(tmp_path: Path) -> None:
    _, lock = seed(tmp_path)
    lock.write_text("garbage = [\n")
    assert lock_cli(tmp_path) == ExitCode.USAGE
    assert lock.read_text() == "garbage = [\n"


def test_denied_org_refused_even_when_pinned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest, lock = seed(tmp_path)
    before = lock.read_bytes()
    manifest.write_text(MANIFEST.replace('allowed-orgs = ["google", "acme"]',
                                         'allowed-orgs = ["*"]\ndenied-orgs = ["acme"]'))
    assert lock_cli(tmp_path) == ExitCode.REJECTED
    err = capsys.readouterr().err
    assert f"{manifest}:9" in err and "denied-orgs" in err
    assert lock.read_bytes() == before



@pytest.mark.parametrize(
    ("edit", "args", "code", "rule"),
    [
        (lambda t: t.replace('["google", "acme"]', '["*"]\ndenied-orgs = ["acme"]'), (), ExitCode.REJECTED, "MG-P002"),
        (lambda t: t.replace('revision = "v2"', 'revision = "v3"'), ("--check",), ExitCode.REJECTED, "MG-L001"),
        (None, ("--check",), ExitCode.REJECTED, "MG-L002"),
        (lambda t: t, ("--upgrade", "nope"), ExitCode.USAGE, None),
    ],
    ids=["denied-org", "stale", "no-lockfile", "no-rule"],
)
def test_failure_line_carries_the_rule_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: object, args: tuple[str, ...], code: int,
    rule: str | None,
) -> None:
    manifest, lock = seed(tmp_path)
    if edit is None:
        lock.unlink()
    else:
        manifest.write_text(edit(MANIFEST))  # type: ignore[operator]
    before = lock.read_bytes() if lock.exists() else None
    assert lock_cli(tmp_path, *args) == code
    lines = capsys.readouterr().err.splitlines()
    # One line: "modelguard: error: ...", or, for an error at a line of a file, "FILE:LINE:COL: error: ..."
    # (the form compilers print, so editors and CI problem matchers link it).
    prefix = re.match(r"^(modelguard|\S+:\d+:\d+): error: ", lines[0]) if len(lines) == 1 else None
    assert prefix, lines
    if rule is None:
        assert "MG-" not in lines[0]
    else:
        assert lines[0][prefix.end():].startswith(f"{rule} ") and lines[0].count(rule) == 1
    assert (lock.read_bytes() if lock.exists() else None) == before


def test_provider_entries_lock_from_the_catalog_and_track_staleness(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest, lock = seed(tmp_path)
    provider = '\n[[provider-model]]\nname = "chat"\nprovider = "openai"\nmodel = "gpt-4o"\n'
    manifest.write_text(MANIFEST + provider)
    assert lock_cli(tmp_path, "--check") == ExitCode.REJECTED
    assert lock_cli(tmp_path) == ExitCode.OK  # HF pins kept, provider resolved offline: no request
    (chat,) = read_lockfile(str(lock)).provider_models
    assert (chat.requested, chat.pin_kind) == ("gpt-4o", "dated")
    assert lock_cli(tmp_path, "--check") == ExitCode.OK
    before = lock.read_bytes()
    assert lock_cli(tmp_path) == ExitCode.OK
    assert lock.read_bytes() == before
    manifest.write_text(MANIFEST + provider.replace('"gpt-4o"', '"gpt-4o-mini"'))
    capsys.readouterr()
    assert lock_cli(tmp_path, "--check") == ExitCode.REJECTED
    assert "changed: chat" in capsys.readouterr().err


def test_check_raises_stale_lock_error_with_rule(tmp_path: Path) -> None:
    from modelguard.errors import StaleLockError
    from modelguard.flows.lock import check

    manifest, lock = seed(tmp_path)
    assert [m.name for m in check(str(manifest)).hf_models] == ["acme", "bert"]
    manifest.write_text(MANIFEST.replace('"v2"', '"v3"'))
    with pytest.raises(StaleLockError) as stale:
        check(str(manifest))
    assert stale.value.rule == "MG-L001" and stale.value.exit_code == ExitCode.REJECTED
    lock.unlink()
    with pytest.raises(StaleLockError) as missing:
        check(str(manifest), str(lock))
    assert missing.value.rule == "MG-L002"


def test_unreadable_lock_error_gives_a_way_out_that_lock_accepts(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`lock` refuses to overwrite a lockfile it cannot read, so no error may tell the user to just run it."""
    _, lock = seed(tmp_path)
    good = lock.read_text()
    for damaged in ("garbage = [\n", good.replace("lock-version = 1", "lock-version = 9"),
                    good.replace("lock-version = 1", 'lock-version = 1\nextra = 1'), "\udcff"):
        lock.write_bytes(damaged.encode("utf-8", "surrogateescape"))
        capsys.readouterr()
        assert lock_cli(tmp_path) == ExitCode.USAGE
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "and run `modelguard lock`" in err and "delete" in err, err


def test_lock_output_names_the_provider_models_it_pinned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = '[[provider-model]]\nname = "chat"\nprovider = "openai"\nmodel = "gpt-4o"\n'
    (tmp_path / "modelguard.toml").write_text(manifest)
    assert lock_cli(tmp_path) == ExitCode.OK  # the catalog pins it: no network (the endpoint is a closed port)
    out = capsys.readouterr().out.splitlines()
    assert "  chat: openai gpt-4o -> gpt-4o-2024-08-06 (dated, catalog)" in out
    assert out[-1].endswith("written (0 resolved, 0 kept, 1 provider model(s) pinned)")
