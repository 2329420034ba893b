"""Crafted files in the user's repository and the cache: refused with their exit code, one line and a
rule, nothing written where it should not be, never RecursionError/MemoryError (exit 70).

Each case is one of issue 14's: nesting bombs in every JSON modelguard reads (model.sig,
modelguard.lock.sig, an audit line), nesting and size bombs in the lockfile, a policy-file that is
a device, and a lockfile or signature committed as a dangling symlink out of the repository.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.errors import ExitCode
from modelguard.trust.lock_signature import signer_entry
from tests.cache_helpers import publish, write_project
from tests.fakehub import FakeHub
from tests.trust_keys import new_key, write_key

FILES = {"weights.bin": b"tensor bytes " * 64, "config.txt": b"hidden=4\n"}
BOMB = b"[" * 100_000 + b"]" * 100_000


def _json_run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, str]:
    code = run([*args, "--format", "json"])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else {}), out.err


def _rules(doc: dict) -> set[str]:
    return {f["rule"] for f in doc.get("findings", [])} | {
        f["rule"] for r in doc.get("files", []) for f in r["findings"]}


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "RecursionError" not in err, err
    return lines[0]


def test_model_sig_nesting_bomb_is_refused_not_parsed(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    key = new_key("ed25519")
    bombed = publish(fake_hub, "bombed", "acme/bombed", {**FILES, "model.sig": BOMB})
    proj, cache = tmp_path / "proj", tmp_path / "cache"
    proj.mkdir()
    lock, _ = write_project(proj, [bombed], 'allowed-orgs = ["acme"]\n\n' + signer_entry(key.public_key(),
                                                                                           scope="acme"))
    code, doc, _ = _json_run(["--endpoint", fake_hub.endpoint, "fetch", "--lockfile", str(lock), "--cache-dir",
                              str(cache)], capsys)
    assert code == ExitCode.REJECTED, doc
    # The scanner sees the bomb first (MG-S003); the signature reader would refuse it too (MG-L025, see
    # tests/trust/test_model_signature.py): either way it is a refusal, never a RecursionError.
    assert _rules(doc) & {"MG-S003", "MG-L025"} and [m["status"] for m in doc["models"]] == ["refused"]
    assert not (cache / "hub" / "models--acme--bombed" / "snapshots").exists()


def test_lock_sig_nesting_bomb_and_oversize_are_malformed_signatures(fake_hub: FakeHub, tmp_path: Path,
                                                                      capsys, monkeypatch) -> None:
    key = new_key("ed25519")
    model = publish(fake_hub, "tiny", "acme/tiny", FILES)
    proj, cache = tmp_path / "proj", tmp_path / "cache"
    proj.mkdir()
    lock, _ = write_project(proj, [model], 'allowed-orgs = ["acme"]\nrequire-signature = true\n\n'
                            + signer_entry(key.public_key()))
    key_path = write_key(tmp_path, key)
    assert run(["sign", "--key", str(key_path), "--lockfile", str(lock)]) == 0  # fetch requires it
    assert run(["--endpoint", fake_hub.endpoint, "fetch", "--lockfile", str(lock), "--cache-dir", str(cache)]) == 0
    capsys.readouterr()
    sig = lock.with_name("modelguard.lock.sig")
    sig.write_bytes(BOMB)
    code, doc, err = _json_run(["verify", "--lockfile", str(lock), "--cache-dir", str(cache)], capsys)
    assert code == ExitCode.REJECTED and "MG-L025" in _rules(doc), (doc, err)
    monkeypatch.setenv("MODELGUARD_LIMIT_LOCK_BYTES", "4096")  # the .sig budget follows the lockfile's
    assert run(["sign", "--key", str(key_path), "--lockfile", str(lock)]) == 0
    capsys.readouterr()
    sig.write_bytes(b" " * (2 << 20) + sig.read_bytes())
    code, doc, err = _json_run(["verify", "--lockfile", str(lock), "--cache-dir", str(cache)], capsys)
    assert code == ExitCode.REJECTED and "MG-L025" in _rules(doc), (doc, err)


def test_audit_line_nesting_bomb_is_reported_by_line(tmp_path: Path, capsys) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    good = json.dumps({"command": "fetch", "time": "2026-01-01T00:00:00.000Z", "model": "m"})
    (cache / "audit.log").write_bytes(good.encode() + b"\n" + BOMB + b"\n" + good.encode() + b"\n")
    code = run(["log", "--cache-dir", str(cache), "--format", "json"])
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert code == ExitCode.REJECTED and len(doc["entries"]) == 2
    assert [m["line"] for m in doc["malformed"]] == [2] and doc["malformed"][0]["problem"].startswith("MG-H141")
    assert "audit.log:2: malformed audit record: MG-H141" in out.err


def test_audit_line_longer_than_its_budget_is_never_held_whole(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("MODELGUARD_LIMIT_AUDIT_LINE_BYTES", "4096")
    cache = tmp_path / "cache"
    cache.mkdir()
    good = json.dumps({"command": "fetch", "time": "2026-01-01T00:00:00.000Z"}).encode() + b"\n"
    (cache / "audit.log").write_bytes(good + b'{"command": "' + b"x" * 100_000 + b'"}\n' + good)
    assert run(["log", "--cache-dir", str(cache), "--format", "json"]) == ExitCode.REJECTED
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["entries"]) == 2 and [m["line"] for m in doc["malformed"]] == [2]


@pytest.mark.parametrize(("body", "rule"), [
    ("x = " + "[\n" * 50_000 + "]\n" * 50_000, "MG-L021"),       # 50k nested arrays (RecursionError in tomllib)
    ("x = " + "{a = " * 20 + "1" + "}" * 20, "MG-L021"),           # nested inline tables
    ('x = "' + "s" * 50_000_000 + '"', "MG-L020"),                 # a 50 MB string (6 GB in the old line regex)
])
def test_lockfile_bombs_are_usage_errors_of_one_line(tmp_path: Path, capsys, body: str, rule: str) -> None:
    lock = tmp_path / "modelguard.lock"
    lock.write_text(f'lock-version = 1\ncreated-by = "x"\nmanifest-sha256 = "{"a" * 64}"\n' + body + "\n")
    code = run(["verify", "--lockfile", str(lock), "--cache-dir", str(tmp_path)])
    line = _one_line(capsys.readouterr().err)
    assert code == ExitCode.USAGE and line.startswith(f"{lock}:") and f"error: {rule} " in line, line


def test_lockfile_over_its_size_budget(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("MODELGUARD_LIMIT_LOCK_BYTES", "100")
    lock = tmp_path / "modelguard.lock"
    lock.write_text("# " + "x" * 200 + "\nlock-version = 1\n")
    assert run(["verify", "--lockfile", str(lock), "--cache-dir", str(tmp_path)]) == ExitCode.USAGE
    line = _one_line(capsys.readouterr().err)
    assert "MG-L020" in line and "MODELGUARD_LIMIT_LOCK_BYTES" in line


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_policy_file_that_is_a_device(tmp_path: Path, capsys, device: str) -> None:
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text(f'policy-file = "{device}"\n\n[[hf-model]]\nname = "m"\nrepo = "acme/m"\n')
    code = run(["lock", "--manifest", str(manifest), "--check"])
    line = _one_line(capsys.readouterr().err)
    assert code == ExitCode.USAGE and device in line and "not a regular file" in line  # was MemoryError


def test_lock_refuses_to_write_through_a_dangling_link_out_of_the_project(fake_hub: FakeHub, tmp_path: Path,
                                                                          capsys) -> None:
    publish(fake_hub, "tiny", "acme/tiny", FILES)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "modelguard.toml").write_text('[policy]\nallowed-orgs = ["acme"]\n\n[[hf-model]]\nname = "tiny"\n'
                                          'repo = "acme/tiny"\n')
    outside = tmp_path / "victim" / "bashrc"
    outside.parent.mkdir()
    (proj / "modelguard.lock").symlink_to(outside)  # committed as a dangling link
    code = run(["--endpoint", fake_hub.endpoint, "lock", "--manifest", str(proj / "modelguard.toml")])
    line = _one_line(capsys.readouterr().err)
    assert code == ExitCode.USAGE and "MG-L024" in line and "symlink" in line
    assert not outside.exists() and (proj / "modelguard.lock").is_symlink()


def test_sign_refuses_a_signature_link_out_of_the_project(tmp_path: Path, capsys) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    lock = proj / "modelguard.lock"
    lock.write_text("lock-version = 1\n")
    outside = tmp_path / "elsewhere.sig"
    (proj / "modelguard.lock.sig").symlink_to(outside)
    key = write_key(tmp_path, new_key("ed25519"))
    code = run(["sign", "--key", str(key), "--lockfile", str(lock)])
    line = _one_line(capsys.readouterr().err)
    assert code == ExitCode.USAGE and "MG-L024" in line
    assert not outside.exists()


def test_a_link_inside_the_project_is_written_through(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    (proj / "locks").mkdir(parents=True)
    lock = proj / "modelguard.lock"
    lock.write_text("lock-version = 1\n")
    (proj / "modelguard.lock.sig").symlink_to(proj / "locks" / "modelguard.lock.sig")  # dangling, but inside
    key = write_key(tmp_path, new_key("ed25519"))
    assert run(["sign", "--key", str(key), "--lockfile", str(lock)]) == 0
    assert (proj / "locks" / "modelguard.lock.sig").is_file() and (proj / "modelguard.lock.sig").is_symlink()


def test_report_output_through_a_link_out_of_the_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "a.txt").write_text("x")
    out = tmp_path / "out" / "report.json"
    out.parent.mkdir()
    out.symlink_to(tmp_path.parent / "somewhere-else.json")
    assert run(["scan", "--format", "json", "--output", str(out), str(tmp_path / "a.txt")]) == ExitCode.USAGE
    assert "MG-L024" in _one_line(capsys.readouterr().err)
    assert not (tmp_path.parent / "somewhere-else.json").exists()
