"""modelguard lint over a small sample app (Python, TS, YAML, .env), through the real CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.models import Severity
from modelguard.providers.lint import lint_paths

TODAY = date(2026, 11, 25)

APP_PY = '''\
from openai import OpenAI

client = OpenAI()
reply = client.chat.completions.create(model="gpt-4o", messages=[])
legacy = client.chat.completions.create(model="gpt-3.5-turbo-0125", messages=[])
writer = anthropic.messages.create(model="claude-sonnet-4-5-20250929", max_tokens=10)
'''
WEB_TS = '''\
const client = new Anthropic();
const msg = await client.messages.create({ model: "claude-opus-4-6", max_tokens: 10 });
const cheap = "claude-3-7-sonnet-latest";
'''
CONFIG_YAML = '''\
llm:
  model: claude-3-5-sonnet-20241022
  embed_model: "gemini-1.5-pro-002"
'''
DOT_ENV = '''\
OPENAI_MODEL=gpt-4o-2024-08-06
export SUMMARY_MODEL=mistral-large-latest
'''
LOCK = '''\
lock-version = 1

[[provider-model]]
name = "chat"
provider = "openai"
requested = "gpt-4o"
resolved = "gpt-4o-2024-08-06"
pin-kind = "dated"
resolved-via = "catalog"
'''


@pytest.fixture
def app(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text(APP_PY)
    (tmp_path / "app" / "web.ts").write_text(WEB_TS)
    (tmp_path / "app" / "config.yaml").write_text(CONFIG_YAML)
    (tmp_path / "app" / ".env").write_text(DOT_ENV)
    (tmp_path / "app" / "node_modules").mkdir()
    (tmp_path / "app" / "node_modules" / "dep.js").write_text('x = {model: "gpt-4o"}\n')
    return tmp_path / "app"


def _line(location: str) -> str:
    """``line N`` of a lint location ``line N, column M`` (the column is checked on its own)."""
    return location.split(",", 1)[0]


def _found(report: object) -> set[tuple[str, str, str, str]]:
    return {(Path(f.path).name, _line(f.location), f.rule, f.severity.value)
            for f in report.all_findings()}  # type: ignore[attr-defined]


def test_each_kind_of_finding_with_exact_lines(app: Path) -> None:
    report = lint_paths([str(app)], today=TODAY)
    assert _found(report) == {
        ("main.py", "line 4", "MG-P201", "medium"),   # floating alias
        ("main.py", "line 5", "MG-P204", "high"),     # retired
        ("main.py", "line 6", "MG-P203", "medium"),   # deprecated, retires within the window
        ("web.ts", "line 3", "MG-P204", "high"),      # an alias of a retired snapshot: the retirement, no pin advice
        ("config.yaml", "line 2", "MG-P204", "high"),
        ("config.yaml", "line 3", "MG-P204", "high"),  # Gemini 1.5 was retired on the Gemini API
        (".env", "line 2", "MG-P201", "medium"),
    }
    assert sorted(r.format for r in report.files) == ["dotenv", "python", "typescript", "yaml"]
    assert report.checked == 4  # node_modules skipped


def test_lockfile_adds_ids_not_pinned(app: Path, tmp_path: Path) -> None:
    lock = tmp_path / "modelguard.lock"
    lock.write_text(LOCK)
    report = lint_paths([str(app)], lockfile=str(lock), today=TODAY)
    unpinned = {(Path(f.path).name, _line(f.location)) for f in report.all_findings() if f.rule == "MG-P206"}
    assert ("main.py", "line 4") not in unpinned  # gpt-4o is locked (as an alias it is still MG-P201)
    assert (".env", "line 1") not in unpinned  # the pinned snapshot is what the lock resolved
    assert ("web.ts", "line 2") in unpinned and ("config.yaml", "line 3") in unpinned
    alias = next(f for f in report.all_findings() if f.rule == "MG-P201" and _line(f.location) == "line 4")
    assert "lockfile pins it to gpt-4o-2024-08-06" in alias.message


def test_keyed_value_of_no_known_provider_is_info(tmp_path: Path) -> None:
    (tmp_path / "cfg.json").write_text('{\n  "model": "acme-7b"\n}\n')
    report = lint_paths([str(tmp_path)], today=TODAY)
    assert _found(report) == {("cfg.json", "line 2", "MG-P210", "info")}
    assert report.ok


def test_provider_shaped_id_missing_from_the_catalog_is_low(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text('reply = client.messages.create(model="claude-sonnet-9-9")\n')
    report = lint_paths([str(tmp_path)], today=TODAY)
    assert _found(report) == {("app.py", "line 1", "MG-P209", "low")}
    assert report.ok


def test_cli_exit_codes(app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        today: Callable[[str], None]) -> None:
    today("2026-11-26")  # gpt-4o-2024-08-06 has no announced retirement on that day; the app's IDs do
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "settings.toml").write_text('model = "gpt-4o-2024-08-06"\n')
    assert run(["lint", str(clean)]) == 0
    assert run(["lint", str(app)]) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("gpt-4o\n")
    assert run(["lint", str(empty)]) == 3
    assert run(["lint", str(tmp_path / "missing")]) == 2
    assert run(["lint", "--fail-on", "critical", str(app)]) == 0
    capsys.readouterr()


def test_cli_json_report(app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                         today: Callable[[str], None]) -> None:
    today("2026-11-26")  # one model deprecated (retires later), one retired: the catalog's dates on that day
    out = tmp_path / "report.json"
    assert run(["lint", "--format", "json", "--output", str(out), str(app)]) == 1
    doc = json.loads(out.read_text())
    assert doc["command"] == "lint" and doc["ok"] is False and doc["summary"]["files"] == 4
    assert {f["rule"] for f in doc["findings"]} == {"MG-P201", "MG-P203", "MG-P204"}
    assert all(f["location"].startswith("line ") and f["path"] for f in doc["findings"])
    capsys.readouterr()


def test_bad_lockfile_is_usage_error(app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.lock"
    bad.write_text("[[provider-model]\n")
    assert run(["lint", "--lockfile", str(bad), str(app)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_default_lockfile_in_cwd(app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "modelguard.lock").write_text(LOCK)
    monkeypatch.chdir(tmp_path)
    report = lint_paths(["app"], today=TODAY)
    assert any(f.rule == "MG-P206" for f in report.all_findings())
    assert report.extra["lockfile"] == "modelguard.lock"
    assert Severity.MEDIUM == report.fail_on


def test_plain_strings_are_not_model_ids(tmp_path: Path) -> None:
    (tmp_path / "cli.py").write_text(
        'parser.add_argument("--mode", help="command-line mode")\n'
        'KIND = "command-line"\n'
        'label = "gpt-4o is great"\n'
        'model_config = {"extra": "forbid"}\n'
    )
    report = lint_paths([str(tmp_path)], today=TODAY)
    assert report.all_findings() == [] and report.ok


def test_the_column_is_where_the_id_starts(tmp_path: Path, capsys) -> None:
    from modelguard.cli import run

    (tmp_path / "app.py").write_text('x = 1\nreply = client.create(model="gpt-4o", input=q)\n', encoding="utf-8")
    report = lint_paths([str(tmp_path / "app.py")], today=TODAY)
    [alias] = [f for f in report.all_findings() if f.rule == "MG-P201"]
    assert alias.location == "line 2, column 30"  # 1-based, in characters: the g of gpt-4o
    assert run(["lint", str(tmp_path / "app.py")]) == 1
    assert f"{tmp_path / 'app.py'}:2:30: MG-P201 medium: gpt-4o is a floating alias" in capsys.readouterr().out


def test_a_fifo_is_reported_not_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Reading a FIFO waits for a writer that never comes: lint (and its pre-commit hook) would hang.
    import os

    (tmp_path / "settings.toml").write_text('model = "gpt-4o-2024-08-06"\n')
    os.mkfifo(tmp_path / "pipe.py")
    for target in (tmp_path / "pipe.py", tmp_path):
        assert run(["lint", str(target)]) == 1
        out = capsys.readouterr().out
        assert "pipe.py:1:1: MG-S004 high: not a regular file" in out
