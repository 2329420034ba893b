"""Exit codes and messages of the CLI shell, independent of any scanner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from modelguard.cli import run


def test_missing_path_is_usage_error(tmp_path: Path, capsys) -> None:
    code = run(["scan", str(tmp_path / "nope.bin")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err


def test_empty_folder_is_no_verdict(tmp_path: Path, capsys) -> None:
    assert run(["scan", str(tmp_path)]) == 3
    assert "nothing to scan" in capsys.readouterr().err


def test_plain_text_is_clean(tmp_path: Path, capsys) -> None:
    p = tmp_path / "README.md"
    p.write_text("# a model card\n")
    assert run(["scan", "--format", "json", str(p)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "modelguard/report/v1"
    assert doc["ok"] is True and doc["files"][0]["verdict"] == "clean"


def test_unknown_binary_fails_closed(tmp_path: Path, capsys) -> None:
    p = tmp_path / "weights.bin"
    p.write_bytes(b"\0" * 8 + b"PK\x03\x04\x14\x00" + bytes(range(256)) * 4)  # hides an archive header
    assert run(["scan", "--format", "json", str(p)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"][0]["verdict"] == "unscannable"
    assert doc["findings"][0]["rule"] == "MG-S002"


def test_bad_fail_on_is_usage_error(tmp_path: Path, capsys) -> None:
    p = tmp_path / "a.txt"
    p.write_text("x")
    assert run(["scan", "--fail-on", "severe", str(p)]) == 2


def test_bad_flag_is_usage_error(capsys) -> None:
    assert run(["scan", "--no-such-flag", "x"]) == 2


def test_console_script_exit_code(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "modelguard", "scan", str(tmp_path / "missing")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_fifo_dangling_link_and_linked_folder_are_reported_not_skipped(tmp_path: Path, capsys) -> None:
    import os

    (tmp_path / "model.safetensors.json").write_text("{}")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "dangling.bin").symlink_to(tmp_path / "gone.bin")
    elsewhere = tmp_path.parent / (tmp_path.name + "-elsewhere")
    elsewhere.mkdir()
    (elsewhere / "evil.pkl").write_bytes(b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00echo\x85R.")
    (tmp_path / "linked").symlink_to(elsewhere, target_is_directory=True)
    assert run(["scan", "--format", "json", str(tmp_path)]) == 1  # returns: the FIFO was never opened
    doc = json.loads(capsys.readouterr().out)
    verdicts = {Path(f["path"]).name: f["verdict"] for f in doc["files"]}
    assert verdicts == {"model.safetensors.json": "clean", "pipe": "unscannable",
                        "dangling.bin": "unscannable", "linked": "unscannable"}
    assert {f["rule"] for f in doc["findings"]} == {"MG-S004"}


def test_report_output_in_a_missing_folder_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    p = tmp_path / "a.txt"
    p.write_text("x")
    for out in (tmp_path / "no" / "r.json", p / "r.json"):  # a missing folder; a file used as a folder
        assert run(["scan", "--format", "json", "--output", str(out), str(p)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and "r.json" in err, err
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]



def test_quiet_text_report_keeps_only_what_fails_and_the_summary(tmp_path: Path, capsys) -> None:
    clean = tmp_path / "README.md"
    clean.write_text("# card\n")
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00echo\x85R.")
    assert run(["-q", "scan", str(clean), str(evil)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{evil}:1:1: MG-S101 critical: ") and len(out) == 2
    assert out[-1].startswith("FAILED: 2 files") and not any("README.md" in line for line in out)
    assert run(["-q", "scan", str(clean)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "OK: 1 file — 1 clean, 0 suspicious, 0 malicious, 0 unscannable; 0 findings, 0 at or above medium"]
    assert run(["-q", "scan", "--format", "json", str(clean), str(evil)]) == 1
    assert len(json.loads(capsys.readouterr().out)["files"]) == 2  # -q trims text only


def test_hub_retry_chatter_is_not_printed_without_verbose(tmp_path: Path) -> None:
    from tests.fakehub import FakeHub, Fault

    (tmp_path / "modelguard.toml").write_text(
        '[policy]\nallowed-orgs = ["acme"]\n\n[[hf-model]]\nname = "tiny"\nrepo = "acme/tiny"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(MODELGUARD_HOME=str(tmp_path / "home"), HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_XET="1")
    with FakeHub() as hub:
        hub.add_repo("acme/tiny", {"config.json": b"{}"})
        for flags, chatter in (([], False), (["-v"], True)):
            hub.inject(Fault.SERVER_ERROR, repo="acme/tiny", times=1)  # one 503, then the retry succeeds
            (tmp_path / "modelguard.lock").unlink(missing_ok=True)
            proc = subprocess.run([sys.executable, "-m", "modelguard", *flags, "--endpoint", hub.endpoint, "lock"],
                                  cwd=tmp_path, env=env, capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr
            assert ("Retrying in" in proc.stderr) is chatter, proc.stderr


def test_a_malformed_token_is_a_usage_error_that_does_not_echo_it(tmp_path: Path, capsys) -> None:
    (tmp_path / "modelguard.toml").write_text('[policy]\nallowed-orgs = ["acme"]\n')
    for token in ("hf_SECRETé", "hf_SECRET\nxyz", "hf_SECRET xyz", ""):
        # An endpoint nobody listens on: the token must be refused before any request.
        code = run(["--endpoint", "http://127.0.0.1:9", "--token", token, "lock",
                    "--manifest", str(tmp_path / "modelguard.toml")])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "--token" in err and "SECRET" not in err, err
    assert not (tmp_path / "modelguard.lock").exists()


def test_help_states_the_real_defaults(capsys) -> None:
    assert run(["scan", "--help"]) == 0
    assert "(default: the policy's fail-on, else medium)" in " ".join(capsys.readouterr().out.split())
    for command in ("fetch", "verify", "env", "log", "revoke"):
        assert run([command, "--help"]) == 0
        assert "else ~/.cache/modelguard" in " ".join(capsys.readouterr().out.split()), command


def test_a_bug_is_exit_70_with_the_traceback(monkeypatch, capsys) -> None:
    """The one path that may show a traceback: an exception modelguard did not raise on purpose."""
    import click

    from modelguard.cli import _COMMANDS

    @click.command()
    def boom() -> None:
        raise ZeroDivisionError("a bug")

    globals()["_boom_command"] = boom
    monkeypatch.setitem(_COMMANDS, "boom", (f"{__name__}:_boom_command", "raises a bug"))
    assert run(["boom"]) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: a bug" in err
    assert err.rstrip().splitlines()[-1].startswith("modelguard: internal error (a bug)")


def test_click_usage_errors_are_one_line_naming_the_help_to_read(capsys) -> None:
    for argv, command in ((["verify", "--format", "xml"], "modelguard verify"), (["--bogus"], "modelguard"),
                          (["scan"], "modelguard scan"), (["nosuchcmd"], "modelguard")):
        assert run(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("modelguard: error: "), err
        assert f"(see `{command} --help`)" in err


def test_device_given_directly_is_unscannable_and_never_read(capsys) -> None:
    assert run(["scan", "--format", "json", "/dev/zero"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"][0]["verdict"] == "unscannable"
    assert "not a regular file" in doc["findings"][0]["message"]
    assert "link" not in doc["findings"][0]["message"]


def test_paths_are_shown_tidied_as_given(tmp_path: Path, capsys, monkeypatch) -> None:
    """Display paths drop `.` parts and doubled or trailing slashes, and stay relative when given so."""
    (tmp_path / "m" / "sub").mkdir(parents=True)
    (tmp_path / "m" / "sub" / "card.md").write_text("# card\n")
    (tmp_path / "m" / "a.txt").write_text("text\n")
    monkeypatch.chdir(tmp_path)
    assert run(["scan", "--format", "json", ".//m/./", "m//a.txt", "."]) == 0
    shown = [f["path"] for f in json.loads(capsys.readouterr().out)["files"]]
    assert shown == ["m/a.txt", "m/sub/card.md", "m/a.txt", "m/a.txt", "m/sub/card.md"]
