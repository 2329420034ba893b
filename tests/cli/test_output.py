"""One text finding format for every command, and the options where people type them.

``path:line:col: RULE severity: message`` (ruff, flake8, eslint, compilers) for scan, lint, fetch and
verify alike: the path is a real file (the scanned one, the code line, the manifest or policy line,
the model's lockfile entry), so terminals, editors and CI problem matchers make it a link.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from modelguard.cli import progress_enabled, run
from modelguard.demo import artifacts
from modelguard.spec.lockfile import read_lockfile
from tests.api_helpers import Project, make_project
from tests.fakehub import FakeHub, Fault

LINE = re.compile(r"^(?P<path>[^\s:][^:]*):(?P<line>[1-9]\d*):(?P<col>[1-9]\d*): (?P<rule>MG-[SHPL]\d{3}) "
                  r"(?P<severity>info|low|medium|high|critical): (?P<message>\S.*)$")
SUMMARY = re.compile(r"^(OK|FAILED|NO VERDICT): \d+ files? — \d+ clean, \d+ suspicious, \d+ malicious, "
                     r"\d+ unscannable; \d+ findings?, \d+ at or above \w+(, \d+ integrity failures?)?$")
EVIL = b"\x80\x02cos\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03."  # never loaded


@pytest.fixture
def project(tmp_path: Path, fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(tmp_path)
    made = make_project(tmp_path, fake_hub)
    made.lock()
    return made


def _finding_lines(out: str) -> list[re.Match[str]]:
    """Every finding line of a text report; anything else must be a known non-finding line."""
    found = []
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            found.append(m)
        else:
            assert (not line or SUMMARY.match(line) or line.startswith(("policy: ", "cache: "))
                    or re.match(r"^(ADMITTED|ALREADY-ADMITTED|REFUSED|NO-VERDICT|ERROR|OK|REJECTED) +\S", line)), line
    return found


def _assert_links(found: list[re.Match[str]]) -> None:
    for m in found:
        path = Path(m["path"])
        assert path.is_file(), m.group(0)  # a real file ...
        assert int(m["line"]) <= max(1, len(path.read_bytes().splitlines())), m.group(0)  # ... and a real line


def test_scan_lint_fetch_verify_share_one_clickable_format(project: Project, capsys) -> None:
    Path("models").mkdir()
    Path("models/evil.pkl").write_bytes(EVIL)
    Path("models/weights.bin").write_bytes(b"\0" * 8 + b"PK\x03\x04\x14\x00" + bytes(range(256)) * 4)
    Path("models/modeling_x.py").write_text("import os\n\n\ndef go():\n    os.system('x')\n", encoding="utf-8")
    Path("app.py").write_text('import openai\n\nclient.create(model="gpt-4o")\n', encoding="utf-8")
    lines = {}
    for command in (["scan", "models"], ["lint", "app.py", "modelguard.toml"],
                    ["--endpoint", project.hub.endpoint, "fetch", "--cache-dir", "cache"],
                    ["verify", "--cache-dir", "cache"]):
        code = run(command)
        out = capsys.readouterr().out
        assert code == 1, (command, out)
        found = _finding_lines(out)
        assert found, (command, out)
        _assert_links(found)
        assert SUMMARY.match(out.splitlines()[-1]), out
        lines[command[0] if command[0] != "--endpoint" else "fetch"] = [m.group(0) for m in found]
    assert "models/evil.pkl:1:1: MG-S101 critical: imports os.system (GLOBAL), which can run code or touch " \
           "files or the network [offset 2]" in lines["scan"]
    assert "models/modeling_x.py:5:1: MG-S302 high: uses os.system (runs a process)" in lines["scan"]
    assert any(m.startswith("app.py:3:") and " MG-P201 medium: gpt-4o is a floating alias" in m for m in lines["lint"])
    line = read_lockfile(str(project.lockfile)).line_of("evil")  # the entry's [[hf-model]] header
    evil = f"modelguard.lock:{line}:1: MG-S101 critical: evil:pytorch_model.bin: imports os.system"
    assert line and any(m.startswith(evil) for m in lines["fetch"]), lines["fetch"]
    assert any(m.startswith(f"modelguard.lock:{line}:1: MG-H101 critical: evil:") for m in lines["verify"])


def test_verify_prints_findings_and_a_summary_naming_cache_and_policy(project: Project, capsys) -> None:
    assert run(["--endpoint", project.hub.endpoint, "fetch", "--cache-dir", "cache"]) == 1
    capsys.readouterr()
    assert run(["verify", "--cache-dir", "cache"]) == 1
    out = capsys.readouterr().out.splitlines()
    cache = str(project.root / "cache")
    assert out[-2] == f"policy: modelguard.toml; cache: {cache}" and out[-1].startswith("FAILED: ")
    assert not any("CLEAN" in line or line.startswith("OK ") for line in out)  # no line per clean file
    assert run(["verify", "--cache-dir", "cache", "-v"]) == 1
    verbose = capsys.readouterr().out
    assert "CLEAN       tiny:model.safetensors  (safetensors)" in verbose
    assert re.search(r"^OK +tiny +acme/tiny@[0-9a-f]{12}$", verbose, re.MULTILINE)
    assert re.search(r"^REJECTED +evil +acme/evil@[0-9a-f]{12}  \(config\.json: MG-H101 ", verbose, re.MULTILINE)
    assert run(["verify", "--cache-dir", "cache", "-q"]) == 1  # -q after the subcommand
    quiet = capsys.readouterr().out.splitlines()
    assert quiet[-1].startswith("FAILED: ") and all(LINE.match(x) for x in quiet[:-1]) and "cache:" not in quiet[-2]


def test_fetch_names_the_file_and_rule_of_a_refusal(project: Project, capsys) -> None:
    assert run(["fetch", "--cache-dir", "cache", "--endpoint", project.hub.endpoint]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^REFUSED +evil +acme/evil@[0-9a-f]{12}  \(pytorch_model\.bin: MG-S101 imports os\.system",
                     out, re.MULTILINE), out
    assert "a file failed the scan or the policy" not in out
    assert re.search(r"^ADMITTED +tiny +acme/tiny@", out, re.MULTILINE)


def test_a_byte_flipped_in_transit_is_an_integrity_failure_with_both_hashes(project: Project, capsys) -> None:
    project.hub.inject(Fault.TAMPER, repo="acme/other", path="model.safetensors")
    assert run(["--endpoint", project.hub.endpoint, "fetch", "--cache-dir", "cache"]) == 1
    out = capsys.readouterr().out
    [line] = [m.group(0) for m in _finding_lines(out) if m["rule"] == "MG-H003"]
    hashes = re.findall(r"\b[0-9a-f]{64}\b", line)
    assert len(set(hashes)) == 2 and "announced" in line and "received" in line  # what was announced, what came
    assert ": MG-H003 critical: other:model.safetensors: " in line
    assert "(unknown)" not in out and not re.search(r"^MALICIOUS", out, re.MULTILINE)
    assert "1 integrity failure" in out.splitlines()[-1]
    assert run(["--endpoint", project.hub.endpoint, "fetch", "--cache-dir", "cache", "-f", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert "other:model.safetensors" not in {f["path"] for f in doc["files"]}  # never scanned: no file verdict
    assert [(f["rule"], f["model"], f["path"]) for f in doc["findings"] if f["rule"] == "MG-H003"] == [
        ("MG-H003", "other", "model.safetensors")]


def test_lock_check_says_entry_and_entries(tmp_path: Path, fake_hub: FakeHub, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    fake_hub.add_repo("acme/tiny", {"config.json": artifacts.config("bert")})
    Path("modelguard.toml").write_text('[policy]\nallowed-orgs = ["acme"]\n\n[[hf-model]]\nname = "tiny"\n'
                                       'repo = "acme/tiny"\n', encoding="utf-8")
    assert run(["lock", "--endpoint", fake_hub.endpoint]) == 0  # --endpoint after the subcommand
    capsys.readouterr()
    assert run(["lock", "--check"]) == 0
    assert capsys.readouterr().out == "modelguard.lock is up to date (1 entry)\n"


def test_global_options_after_the_subcommand(project: Project, capsys) -> None:
    # --token after the subcommand is read (and refused here as no token) before any request
    assert run(["fetch", "--cache-dir", "cache", "--token", "hf_bad token"]) == 2
    err = capsys.readouterr().err
    assert "--token is not a Hub token" in err and "bad token" not in err
    assert run(["fetch", "--cache-dir", "cache", "--endpoint", project.hub.endpoint, "-q"]) == 1
    quiet = capsys.readouterr().out.splitlines()
    assert not any(line.startswith(("ADMITTED", "policy:")) for line in quiet)  # -q: failing findings, summary
    assert run(["-v", "verify", "--cache-dir", "cache", "-f", "json", "-o", "-"]) == 1
    assert json.loads(capsys.readouterr().out)["command"] == "verify"  # -o - is standard output
    assert not Path("-").exists()


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_fetch_writes_json_and_sarif(project: Project, capsys, fmt: str) -> None:
    assert run(["fetch", "--endpoint", project.hub.endpoint, "--cache-dir", "cache", "-f", fmt, "-o",
                f"fetch.{fmt}"]) == 1
    doc = json.loads(Path(f"fetch.{fmt}").read_text(encoding="utf-8"))
    assert capsys.readouterr().err.startswith("FAILED: ")  # the summary still reaches the log
    if fmt == "json":
        assert doc["command"] == "fetch" and {m["name"] for m in doc["models"]} >= {"tiny", "evil"}
    else:
        results = doc["runs"][0]["results"]
        line = read_lockfile(str(project.lockfile)).line_of("evil")
        evil = [r for r in results if r["properties"].get("model") == "evil"]
        assert evil and evil[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == line
        assert doc["runs"][0]["automationDetails"]["id"] == "modelguard/fetch/"


@pytest.mark.parametrize(
    ("obj", "env", "tty", "shown"),
    [({}, {}, True, True), ({}, {}, False, False), ({"quiet": True}, {}, True, False),
     ({"no_progress": True}, {}, True, False), ({}, {"HF_HUB_DISABLE_PROGRESS_BARS": "1"}, True, False),
     ({}, {"HF_HUB_DISABLE_PROGRESS_BARS": "0"}, True, True)],
)
def test_when_progress_bars_show(monkeypatch: pytest.MonkeyPatch, obj: dict, env: dict, tty: bool,
                                 shown: bool) -> None:
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    assert progress_enabled(obj) is shown


def _on_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run ``python -m modelguard ARGS`` with its stderr on a pseudo-terminal; return what it drew there."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a terminal 120 columns wide
    proc = subprocess.Popen([sys.executable, "-m", "modelguard", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    drawn = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        drawn += chunk
    proc.wait(timeout=60)
    os.close(leader)
    return drawn.decode("utf-8", "replace")


@pytest.mark.slow
def test_no_progress_and_hf_hub_disable_progress_bars_silence_the_bars(project: Project) -> None:
    env = {**os.environ, "HF_HUB_DISABLE_XET": "1"}
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    base = ["fetch", "--cache-dir", "c{}", "--endpoint", project.hub.endpoint]
    drawn = _on_a_terminal([a.format(1) for a in base], project.root, env)
    assert "%|" in drawn and "B/s" in drawn, drawn  # a download bar, on a terminal
    quiet = _on_a_terminal([a.format(2) for a in base] + ["--no-progress"], project.root, env)
    silenced = _on_a_terminal([a.format(3) for a in base], project.root, {**env, "HF_HUB_DISABLE_PROGRESS_BARS": "1"})
    for out in (quiet, silenced):
        assert "B/s" not in out and "%|" not in out, out


def test_the_documented_problem_matcher_reads_every_finding_line(project: Project, capsys) -> None:
    from tests._schemas import ROOT

    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    [matcher] = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.DOTALL) if "problemMatcher" in b]
    pattern = matcher["problemMatcher"][0]["pattern"][0]
    regexp = re.compile(pattern["regexp"])
    Path("models").mkdir()
    Path("models/evil.pkl").write_bytes(EVIL)
    assert run(["scan", "models"]) == 1
    assert run(["--endpoint", project.hub.endpoint, "fetch", "--cache-dir", "cache"]) == 1
    lines = [m.group(0) for m in _finding_lines(capsys.readouterr().out)]
    assert lines
    for line in lines:
        got = regexp.match(line)
        assert got, line
        mine = LINE.match(line)
        assert mine is not None
        assert got.group(pattern["file"]) == mine["path"] and got.group(pattern["line"]) == mine["line"]
        assert got.group(pattern["code"]) == mine["rule"] and got.group(pattern["message"]) == mine["message"]
