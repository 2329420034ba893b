"""Where registry credentials come from (env, Docker config.json, credential helpers) and challenges."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from modelguard.errors import UsageError
from modelguard.mirror.auth import Credentials, find_credentials, parse_challenge

HOST = "127.0.0.1:5000"


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, doc: object) -> None:
    folder = tmp_path / "docker"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))


def _helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, script: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    program = bin_dir / f"docker-credential-{name}"
    program.write_text("#!/bin/sh\n" + script)
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_auths_entry_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    encoded = base64.b64encode(b"alice:pa:ss word").decode()
    _config(tmp_path, monkeypatch, {"auths": {f"https://{HOST}/v1/": {"auth": encoded}}})
    found = find_credentials(HOST)
    assert found is not None and (found.username, found.secret) == ("alice", "pa:ss word")
    assert "pa:ss" not in repr(found) and found.basic() == "Basic " + encoded
    _config(tmp_path, monkeypatch, {"auths": {HOST: {"identitytoken": "refresh-abc"}}})
    token = find_credentials(HOST)
    assert token is not None and token.identity_token
    _config(tmp_path, monkeypatch, {"auths": {"other:5000": {"auth": encoded}}})
    assert find_credentials(HOST) is None


def test_env_wins_and_needs_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path, monkeypatch, {"auths": {HOST: {"auth": base64.b64encode(b"a:b").decode()}}})
    monkeypatch.setenv("MODELGUARD_REGISTRY_USERNAME", "robot")
    monkeypatch.setenv("MODELGUARD_REGISTRY_PASSWORD", "s3cret")
    found = find_credentials(HOST)
    assert found == Credentials("robot", "s3cret", "$MODELGUARD_REGISTRY_PASSWORD")
    monkeypatch.delenv("MODELGUARD_REGISTRY_PASSWORD")
    with pytest.raises(UsageError, match="set both"):
        find_credentials(HOST)


def test_credential_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = 'echo "{\\"Username\\":\\"u-$server\\",\\"Secret\\":\\"tok\\"}"'
    _helper(tmp_path, monkeypatch, "fake", f"read server; {answer}\n")
    _config(tmp_path, monkeypatch, {"credHelpers": {HOST: "fake"}, "auths": {HOST: {"auth": "!!"}}})
    found = find_credentials(HOST)
    assert found is not None and (found.username, found.secret) == (f"u-{HOST}", "tok")
    assert "docker-credential-fake" in found.source
    _helper(tmp_path, monkeypatch, "empty", 'echo "credentials not found in native keychain"; exit 1\n')
    _config(tmp_path, monkeypatch, {"credsStore": "empty"})
    assert find_credentials(HOST) is None
    _config(tmp_path, monkeypatch, {"credsStore": "absent"})
    with pytest.raises(UsageError, match="not on PATH"):
        find_credentials(HOST)
    _config(tmp_path, monkeypatch, {"credsStore": "../../bin/sh"})
    with pytest.raises(UsageError, match="not a helper name"):
        find_credentials(HOST)


@pytest.mark.parametrize(("doc", "message"), [
    ("{not json", "not JSON"),
    ({"auths": {HOST: {"auth": "***"}}}, "not base64"),
    ({"auths": {HOST: {"auth": base64.b64encode(b"nocolon").decode()}}}, "no ':'"),
    ({"auths": {HOST: {"username": "a", "password": "pw-x7q\nsecond"}}}, "control character"),
])
def test_bad_configs_are_usage_errors_without_the_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         doc: object, message: str) -> None:
    _config(tmp_path, monkeypatch, doc)
    with pytest.raises(UsageError, match=message) as info:
        find_credentials(HOST)
    assert "pw-x7q" not in str(info.value)


def test_challenges_parse() -> None:
    c = parse_challenge('Bearer realm="https://auth.example/token",service="registry.example",'
                        'scope="repository:a/b:pull,push"')
    assert c is not None and c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.example/token", "service": "registry.example",
                        "scope": "repository:a/b:pull,push"}
    basic = parse_challenge('Basic realm="x \\"q\\""')
    assert basic is not None and basic.scheme == "basic" and basic.params["realm"] == 'x "q"'
    assert parse_challenge("") is None
