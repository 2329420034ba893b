"""Secrets are never shown or written: modelguard.report.redact and the writers that use it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelguard.errors import IntegrityError, RejectedError
from modelguard.report import redact
from modelguard.report.rules import finding
from modelguard.store.atomic import replace_file

TOKEN = "hf_EchoedBackByAProxy0123456789"


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    return TOKEN


def test_errors_and_findings_never_hold_the_token_in_use() -> None:
    in_use = "hf_TokenTheClientWasMadeWith0123"
    redact.register(in_use)  # as make_client does, whether it came from --token, HF_TOKEN or the login file
    assert in_use not in IntegrityError(f"path {in_use}.json is odd").message
    made = finding("MG-H004", f"bad {in_use}", path=f"leak/{in_use}.json", location=in_use)
    assert in_use not in made.message + made.path + made.location


def test_what_is_shown_never_holds_a_secret_of_the_environment(secret: str, capsys) -> None:
    from modelguard.cli import run

    assert redact.redact(f"a {TOKEN} b") == "a [redacted] b"
    assert run(["scan", f"/no/such/{TOKEN}.bin"]) == 2  # an error line quoting a path that holds it
    err = capsys.readouterr().err
    assert TOKEN not in err and "[redacted]" in err


def test_a_registered_token_counts_though_no_variable_holds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    other = "hf_PassedWithTokenFlag987654321"
    assert not redact.holds_secret(f"x{other}x")
    redact.register(other)
    assert redact.holds_secret(f"x{other}x".encode()) and other not in redact.redact(other)


def test_paths_and_short_values_are_not_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN_PATH", "/home/user/.cache/huggingface/token")
    monkeypatch.setenv("SOME_SECRET", "true")
    assert redact.redact("/home/user/.cache/huggingface/token true") == "/home/user/.cache/huggingface/token true"


def test_no_file_holding_a_secret_is_written(secret: str, tmp_path: Path) -> None:
    lock = tmp_path / "modelguard.lock"
    lock.write_text("old\n")
    with pytest.raises(RejectedError) as e:
        replace_file(lock, f'path = "leak/{TOKEN}.json"\n')
    assert e.value.rule == "MG-L023" and e.value.exit_code == 1 and TOKEN not in e.value.message
    assert lock.read_text() == "old\n" and os.listdir(tmp_path) == ["modelguard.lock"]
