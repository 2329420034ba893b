"""The audit log: one well-formed JSON line per action, no secret ever, fail closed, readable by `modelguard log`."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.errors import ExitCode, UnreadableError
from modelguard.store import audit
from tests.trust_keys import new_key, private_pem

HF_TOKEN = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
COMMIT = "c" * 40


def lines(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "audit.log").read_text().splitlines()]


def test_one_well_formed_line_per_action(tmp_path: Path) -> None:
    audit.append(tmp_path, {"command": "fetch", "model": "bert", "repo": "acme/tiny-bert", "commit": COMMIT,
                            "files": {"config.json": "ab" * 32}, "verdicts": {"config.json": "clean"},
                            "policy-sha256": "cd" * 32, "outcome": "admitted"})
    audit.append(tmp_path, {"command": "verify", "outcome": "ok"})
    raw = (tmp_path / "audit.log").read_bytes()
    assert raw.count(b"\n") == 2 and raw.endswith(b"\n")
    first, second = lines(tmp_path)
    for key in ("time", "command", "model", "commit", "files", "verdicts", "policy-sha256", "modelguard-version",
                "user", "host"):
        assert key in first
    assert first["time"].endswith("Z") and audit.parse_time(first["time"]) is not None
    assert first["files"] == {"config.json": "ab" * 32} and first["outcome"] == "admitted"
    assert second["command"] == "verify" and second["model"] == ""


def test_never_a_secret(tmp_path: Path, monkeypatch) -> None:
    key_pem = private_pem(new_key("ed25519")).decode()
    monkeypatch.setenv("HF_TOKEN", HF_TOKEN)
    monkeypatch.setenv("MODELGUARD_SIGNING_KEY", key_pem)
    monkeypatch.setenv("ACME_API_TOKEN", "plain-looking-value-1234")
    audit.append(tmp_path, {
        "command": "fetch", "token": HF_TOKEN, "headers": {"Authorization": f"Bearer {HF_TOKEN}"},
        "detail": f"GET https://hub.example/x?t={HF_TOKEN} failed", "signing-key": key_pem,
        "note": "used plain-looking-value-1234 here", "argv": ["--token", HF_TOKEN],
        "error": f"bad key {key_pem.splitlines()[1]}",
    })
    text = (tmp_path / "audit.log").read_text()
    assert HF_TOKEN not in text and "plain-looking-value-1234" not in text
    for pem_line in key_pem.splitlines():
        assert pem_line not in text or pem_line.startswith("-----")
    assert "PRIVATE KEY" not in text
    record = lines(tmp_path)[0]
    assert "token" not in record and "signing-key" not in record and "Authorization" not in record["headers"]
    assert audit.REDACTED in record["detail"] and audit.REDACTED in record["note"]


def test_fails_closed_when_not_writable(tmp_path: Path) -> None:
    (tmp_path / "audit.log").mkdir()
    with pytest.raises(UnreadableError) as e:
        audit.append(tmp_path, {"command": "fetch"})
    assert e.value.exit_code == ExitCode.NO_VERDICT and str(e.value).startswith("audit log cannot be written")
    with pytest.raises(UnreadableError):
        audit.ensure_writable(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UnreadableError):
        audit.append(blocker / "cache", {"command": "fetch"})  # the cache root cannot even be created


def _append_many(root: str, worker: int) -> None:
    for i in range(40):
        audit.append(root, {"command": "fetch", "model": f"m{worker}", "detail": "x" * (i * 97)})


def test_concurrent_appends_do_not_interleave(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(tmp_path), w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    entries, malformed = audit.select(audit.read(tmp_path))
    assert malformed == [] and len(entries) == 120


def test_read_reports_malformed_lines(tmp_path: Path) -> None:
    audit.append(tmp_path, {"command": "lock"})
    with (tmp_path / "audit.log").open("a") as f:
        f.write("{not json\n")
        f.write('{"time": "2026-11-25T00:00:00Z"}\n')
        f.write('{"command": "x", "time": "yesterday"}\n')
    audit.append(tmp_path, {"command": "verify"})
    with (tmp_path / "audit.log").open("a") as f:
        f.write('{"command": "fetch"')  # cut short
    entries, malformed = audit.select(audit.read(tmp_path))
    assert [e.record["command"] for e in entries] == ["lock", "verify"]
    assert [(m.line, m.problem) for m in malformed] == [
        (2, "not JSON"), (3, "not an audit record (no command)"), (4, "no valid time"),
        (6, "incomplete last line (a write was cut short)")]


def test_select_since_and_model(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text("".join(json.dumps(r) + "\n" for r in [
        {"command": "fetch", "time": "2026-10-01T10:00:00Z", "model": "bert", "repo": "acme/tiny-bert"},
        {"command": "fetch", "time": "2026-11-01T10:00:00Z", "model": "gpt", "repo": "acme/gpt"},
        {"command": "verify", "time": "2026-11-02T10:00:00+00:00", "model": "bert", "repo": "acme/tiny-bert"},
    ]))
    since = audit.parse_time("2026-10-15")
    got, _ = audit.select(audit.read(tmp_path), since=since)
    assert [e.line for e in got] == [2, 3]
    got, _ = audit.select(audit.read(tmp_path), model="acme/tiny-bert")
    assert [e.line for e in got] == [1, 3]
    got, _ = audit.select(audit.read(tmp_path), since=since, model="bert")
    assert [e.line for e in got] == [3]


# --- modelguard log ------------------------------------------------------------------------------


def test_cli_log_text_and_json(tmp_path: Path, capsys) -> None:
    audit.append(tmp_path, {"command": "fetch", "model": "bert", "repo": "acme/tiny-bert", "commit": COMMIT,
                            "outcome": "refused", "rules": ["MG-S101"]})
    audit.append(tmp_path, {"command": "revoke", "action": "evict", "repo": "acme/tiny-bert", "commit": COMMIT,
                            "reason": "CVE"})
    assert run(["log", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert "fetch" in out[0] and "bert" in out[0] and f"acme/tiny-bert@{COMMIT[:12]}" in out[0]
    assert "outcome=refused" in out[0] and "rules=MG-S101" in out[0]
    assert "revoke/evict" in out[1] and "reason=CVE" in out[1]
    assert run(["log", "--cache-dir", str(tmp_path), "--format", "json", "--model", "bert"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "modelguard/audit-log/v1" and [e["command"] for e in doc["entries"]] == ["fetch"]
    assert doc["malformed"] == []


def test_cli_log_since(tmp_path: Path, capsys) -> None:
    audit.append(tmp_path, {"command": "lock"})
    assert run(["log", "--cache-dir", str(tmp_path), "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out == ""
    assert run(["log", "--cache-dir", str(tmp_path), "--since", "last tuesday"]) == ExitCode.USAGE


def test_cli_log_malformed_is_reported_not_crashed(tmp_path: Path, capsys) -> None:
    audit.append(tmp_path, {"command": "lock"})
    with (tmp_path / "audit.log").open("a") as f:
        f.write("garbage\n")
    assert run(["log", "--cache-dir", str(tmp_path), "--format", "json"]) == ExitCode.REJECTED
    captured = capsys.readouterr()
    assert json.loads(captured.out)["malformed"] == [{"line": 2, "problem": "not JSON"}]
    assert "audit.log:2: malformed audit record" in captured.err


def test_cli_log_without_log(tmp_path: Path, capsys) -> None:
    assert run(["log", "--cache-dir", str(tmp_path)]) == ExitCode.NO_VERDICT
    assert "no audit log" in capsys.readouterr().err


def test_cli_log_of_a_cache_dir_that_does_not_exist_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert run(["log", "--cache-dir", str(tmp_path / "cahce")]) == ExitCode.USAGE
    assert capsys.readouterr().err.splitlines() == [
        f"modelguard: error: no verified cache at {tmp_path / 'cahce'} (given as --cache-dir / cache_dir=); "
        f"check the path, or run `modelguard fetch --cache-dir {tmp_path / 'cahce'}` to create it"]
    assert not (tmp_path / "cahce").exists()


def test_cache_root_resolution(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MODELGUARD_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert audit.cache_root() == tmp_path / "xdg" / "modelguard"
    monkeypatch.setenv("MODELGUARD_HOME", str(tmp_path / "home"))
    assert audit.cache_root() == tmp_path / "home"
    assert audit.cache_root(tmp_path / "flag") == tmp_path / "flag"


def test_report_events_one_per_model(tmp_path: Path) -> None:
    from modelguard.errors import ExitCode
    from modelguard.models import FetchOutcome, FileResult, ModelStatus, Report, Severity
    from modelguard.report.rules import finding

    bad = finding("MG-P501", "revoked", model="bert")
    config = FileResult("config.json", "json", (), 2, "ab" * 32)
    weights = FileResult("model.safetensors", "safetensors", (), 9, "cd" * 32)
    report = Report(
        command="fetch", fail_on=Severity.MEDIUM, checked=2,
        files=(FileResult("bert:config.json", "json", (), 2, "ab" * 32),
               FileResult("gpt:model.safetensors", "safetensors", (), 9, "cd" * 32)),
        findings=(bad,),
        models=(FetchOutcome(name="bert", repo="acme/bert", commit=COMMIT, status=ModelStatus.REFUSED,
                             exit_code=ExitCode.REJECTED, reason="revoked", files=(config,), findings=(bad,)),
                FetchOutcome(name="gpt", repo="acme/gpt", commit=COMMIT, status=ModelStatus.ADMITTED,
                             exit_code=ExitCode.OK, files=(weights,))))
    audit.append_report(tmp_path, report, policy_sha256="ee" * 32, lockfile="modelguard.lock")
    bert, gpt = lines(tmp_path)
    assert bert["model"] == "bert" and bert["outcome"] == "refused" and bert["rules"] == ["MG-P501"]
    assert bert["files"] == {"config.json": "ab" * 32} and bert["verdicts"] == {"config.json": "clean"}
    assert bert["reason"] == "revoked" and bert["lockfile"] == "modelguard.lock" and bert["policy-sha256"] == "ee" * 32
    assert gpt["outcome"] == "admitted" and gpt["rules"] == [] and gpt["files"] == {"model.safetensors": "cd" * 32}
    no_models = Report(command="verify", fail_on=Severity.MEDIUM, checked=1)
    assert audit.report_events(no_models) == [{"command": "verify", "policy-sha256": "", "outcome": "ok",
                                                "rules": []}]


def test_lock_events() -> None:
    from modelguard.spec.types import LockedFile, LockedHFModel, Lockfile

    model = LockedHFModel(name="bert", repo="acme/bert", requested_revision="main", commit=COMMIT,
                          files=(LockedFile("config.json", 2, "ab" * 32, "git-blob-sha1", "cd" * 20),))
    lock = Lockfile(1, "modelguard 0.1.0", "00" * 32, policy_sha256="ee" * 32, hf_models=(model,))
    (event,) = audit.lock_events(lock, path="modelguard.lock", resolved=["bert"])
    assert event["outcome"] == "resolved" and event["files"] == {"config.json": "ab" * 32}
    assert event["commit"] == COMMIT and event["policy-sha256"] == "ee" * 32
    empty = Lockfile(1, "modelguard 0.1.0", "00" * 32)
    assert audit.lock_events(empty, path="x.lock", written=False)[0]["outcome"] == "unchanged"


def test_lock_appends_one_line_per_model(fake_hub, tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("MODELGUARD_HOME", str(home))
    monkeypatch.setenv("HF_TOKEN", HF_TOKEN)
    commit = fake_hub.add_repo("acme/tiny-bert", {"config.json": b"{}"})
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text('[policy]\nallowed-orgs = ["acme"]\n\n[[hf-model]]\nname = "bert"\nrepo = "acme/tiny-bert"\n')
    assert run(["--endpoint", fake_hub.endpoint, "--token", HF_TOKEN, "lock", "--manifest", str(manifest)]) == 0
    (event,) = lines(home)
    assert (event["command"], event["model"], event["commit"], event["outcome"]) == ("lock", "bert", commit, "resolved")
    assert event["files"] == {"config.json": __import__("hashlib").sha256(b"{}").hexdigest()}
    assert run(["--endpoint", fake_hub.endpoint, "lock", "--manifest", str(manifest)]) == 0
    assert [e["outcome"] for e in lines(home)] == ["resolved", "kept"]
    assert HF_TOKEN not in (home / "audit.log").read_text()


def test_lock_fails_closed_when_the_log_cannot_be_written(fake_hub, tmp_path: Path, monkeypatch, capsys) -> None:
    home = tmp_path / "home"
    (home / "audit.log").mkdir(parents=True)
    monkeypatch.setenv("MODELGUARD_HOME", str(home))
    fake_hub.add_repo("acme/tiny-bert", {"config.json": b"{}"})
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text('[policy]\nallowed-orgs = ["acme"]\n\n[[hf-model]]\nname = "bert"\nrepo = "acme/tiny-bert"\n')
    before = len(fake_hub.requests)
    assert run(["--endpoint", fake_hub.endpoint, "lock", "--manifest", str(manifest)]) == ExitCode.NO_VERDICT
    assert "audit log cannot be written" in capsys.readouterr().err
    assert not (tmp_path / "modelguard.lock").exists() and len(fake_hub.requests) == before


def test_an_audit_log_that_is_a_link_is_never_appended_through(tmp_path: Path) -> None:
    from modelguard.errors import UnreadableError

    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    root = tmp_path / "cache"
    root.mkdir()
    (root / "audit.log").symlink_to(victim)  # someone else wrote to the cache
    with pytest.raises(UnreadableError) as e:
        audit.append(root, {"command": "fetch"})
    assert "audit.log" in e.value.message and e.value.exit_code == 3
    assert victim.read_text() == "keep\n"
