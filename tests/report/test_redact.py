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


def test_errors_findings_and_text_never_show_a_secret(secret: str) -> None:
    assert TOKEN not in IntegrityError(f"path {TOKEN}.json is odd").message
    made = finding("MG-H004", f"bad {TOKEN}", path=f"leak/{TOKEN}.json", location=TOKEN)
    assert TOKEN not in made.message + made.path + made.location
    assert redact.redact(f"a {TOKEN} b") == "a [redacted] b"


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
