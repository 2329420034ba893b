"""A Hub that is larger, deeper, slower or stranger than any real one (althub faults), through the CLI.

Each case of issue 14 that a server can play: an endless chunked JSON answer, endless tree pages,
a body sent a byte at a time, file names no filesystem holds, names one filesystem folds together,
the token echoed back as a file name. Every one ends with its documented exit code and rule, one
line, nothing written (no lockfile, nothing admitted, an empty quarantine), and, in a manifest of
three models, the other two admitted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelguard.errors import ExitCode
from tests.althub import AltHub
from tests.althub_project import FILES, Project, rules, safetensors
from tests.hub.test_althub_faults import within

A, B, C = "acme/alpha", "acme/bravo", "acme/charlie"
TOKEN = "hf_reader_0123456789abcdef"


@pytest.fixture
def three(althub: AltHub, tmp_path: Path) -> Project:
    """Three models locked against an honest althub; faults start afterwards."""
    for i, repo in enumerate((A, B, C)):
        # Distinct weights: the CDN finds a file by its hash, and a fault is aimed at one repo's file.
        althub.add(repo, {**FILES, "model.safetensors": safetensors(16384 + i)}, readers=(TOKEN,))
    project = Project(althub, tmp_path, token=TOKEN)
    project.write(("alpha", A, "main"), ("bravo", B, "main"), ("charlie", C, "main"))
    assert project.lock() == ExitCode.OK
    return project


def _statuses(report: dict[str, object]) -> dict[str, str]:
    models = report["models"]
    assert isinstance(models, list)
    return {m["name"]: m["status"] for m in models}


def _admitted(project: Project) -> set[str]:
    return {p.split("/")[1].removeprefix("models--acme--") for p in project.admitted() if "/snapshots/" in p}


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- one hostile model among three: the other two are admitted -------------------------------------


@pytest.mark.parametrize(("kind", "code", "rule"), [
    ("endless-json", ExitCode.REJECTED, "MG-H130"),   # the tree listing never ends (was: MemoryError, exit 70)
    ("echo-token", ExitCode.REJECTED, "MG-H139"),     # the token comes back as a file name
])
def test_one_hostile_answer_leaves_the_other_two_admitted(althub: AltHub, three: Project, kind: str, code: int,
                                                          rule: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELGUARD_LIMIT_ANSWER_BYTES", str(4 << 20))  # reached in a fraction of a second
    althub.fault(kind, repo=B)
    got, report = within(120, three.fetch)
    assert got == code, report
    assert _statuses(report) == {"alpha": "admitted", "bravo": "refused", "charlie": "admitted"}
    assert rule in rules(report)
    assert _admitted(three) == {"alpha", "charlie"} and three.quarantine_empty()
    assert TOKEN not in json.dumps(report) and TOKEN not in (three.cache / "audit.log").read_text()


def test_a_trickling_download_is_no_verdict_for_that_model_only(althub: AltHub, three: Project,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # One byte every 0.5 s; the budget asks for 1 KiB/s over each 1 s window, with one retry.
    monkeypatch.setenv("MODELGUARD_LIMIT_MIN_RATE", "1024")
    monkeypatch.setenv("MODELGUARD_LIMIT_RATE_WINDOW", "1")
    monkeypatch.setenv("MODELGUARD_LIMIT_RETRIES", "1")
    althub.fault("trickle", repo=B, path="model.safetensors", value=0.5)
    got, report = within(120, three.fetch)
    assert got == ExitCode.NO_VERDICT, report
    assert _statuses(report) == {"alpha": "admitted", "bravo": "no-verdict", "charlie": "admitted"}
    assert "MG-H134" in rules(report)
    assert _admitted(three) == {"alpha", "charlie"} and three.only_partials()  # kept to resume


def test_a_download_past_its_deadline_is_no_verdict(althub: AltHub, three: Project,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELGUARD_LIMIT_FILE_DEADLINE", "1.5")
    monkeypatch.setenv("MODELGUARD_LIMIT_MIN_RATE", "1")
    monkeypatch.setenv("MODELGUARD_LIMIT_RETRIES", "0")
    althub.fault("trickle", repo=B, path="model.safetensors", value=0.3)
    got, report = within(120, three.fetch)
    assert got == ExitCode.NO_VERDICT, report
    assert _statuses(report)["bravo"] == "no-verdict" and "MG-H135" in rules(report)
    assert _admitted(three) == {"alpha", "charlie"} and three.only_partials()  # kept to resume


# --- lock: metadata a filesystem or a budget cannot take -------------------------------------------


def test_lock_refuses_an_endless_json_answer(althub: AltHub, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELGUARD_LIMIT_ANSWER_BYTES", str(4 << 20))
    althub.add(A, FILES)
    project = Project(althub, tmp_path)
    project.write(("alpha", A, "main"))
    althub.fault("endless-json", repo=A)
    assert within(60, project.lock) == ExitCode.REJECTED
    line = _one_line(capsys.readouterr().err)
    assert "MG-H130" in line and "MODELGUARD_LIMIT_ANSWER_BYTES" in line
    assert not project.lockfile.exists()


def test_lock_refuses_endless_pages(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELGUARD_LIMIT_PAGES", "25")
    with AltHub(page_size=2) as hub:
        hub.add(A, FILES)
        project = Project(hub, tmp_path)
        project.write(("alpha", A, "main"))
        hub.fault("endless-pages", repo=A)
        assert within(60, project.lock) == ExitCode.REJECTED  # was: still paging after 150 s
        line = _one_line(capsys.readouterr().err)
        assert "MG-H131" in line and "MODELGUARD_LIMIT_PAGES" in line
        assert len([r for r in hub.requests("hub") if "/tree/" in r[2]]) == 25
        assert not project.lockfile.exists()


def test_lock_refuses_a_listing_with_more_files_than_the_budget(althub: AltHub, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELGUARD_LIMIT_FILES", "3")
    althub.add(A, FILES)  # 4 files and a folder
    project = Project(althub, tmp_path)
    project.write(("alpha", A, "main"))
    assert within(60, project.lock) == ExitCode.REJECTED
    assert "MG-H132" in _one_line(capsys.readouterr().err)
    assert not project.lockfile.exists()


@pytest.mark.parametrize(("files", "rule"), [
    ({"a" * 256 + ".safetensors": b"x" * 2000}, "MG-H136"),                   # an LFS file, a 256+ byte name
    ({"sub/" + "é" * 128 + "/config.json": b"{}"}, "MG-H136"),                 # 256 bytes of UTF-8 in 128 chars
    ({"/".join(["d" * 200] * 6) + "/x.json": b"{}"}, "MG-H137"),               # a path over 1 KiB
    ({"Config.json": b"{}", "config.json": b"{}"}, "MG-H138"),                 # differ by case only
    ({"caf\u00e9.json": b"{}", "cafe\u0301.json": b"{}"}, "MG-H138"),          # differ by normalisation only
])
def test_lock_refuses_names_a_filesystem_cannot_hold(althub: AltHub, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str], files: dict[str, bytes],
                                                     rule: str) -> None:
    althub.add(A, {**FILES, **files})
    project = Project(althub, tmp_path)
    project.write(("alpha", A, "main"))
    assert within(60, project.lock) == ExitCode.REJECTED  # was: os.symlink raising at admission, exit 70
    assert rule in _one_line(capsys.readouterr().err)
    assert not project.lockfile.exists()


def test_lock_refuses_the_token_echoed_back(althub: AltHub, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    althub.add(A, FILES, readers=(TOKEN,))
    project = Project(althub, tmp_path, token=TOKEN)
    project.write(("alpha", A, "main"))
    althub.fault("echo-token", repo=A)
    assert within(60, project.lock) == ExitCode.REJECTED
    out = capsys.readouterr()
    assert "MG-H139" in _one_line(out.err) and TOKEN not in out.out + out.err
    assert not project.lockfile.exists()
