"""``modelguard push`` refusals that need no registry: each exits with its code before any request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelguard.cli import run
from tests.cache_helpers import admit_local, locked_model, write_project

FILES = {"config.json": b'{"hidden": 4}\n'}
NOWHERE = "oci://127.0.0.1:9/models"  # nothing listens: a request would be no verdict (3), not these codes


def _push(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["push", "--lockfile", str(tmp_path / "modelguard.lock"), "--cache-dir", str(tmp_path / "cache"),
                *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = locked_model("tiny", "acme/tiny", FILES)
    write_project(tmp_path, [model])
    (tmp_path / "cache").mkdir()
    code, _, err = _push(tmp_path, capsys)
    assert code == 2 and "no registry to push to" in err
    code, _, err = _push(tmp_path, capsys, "--to", "https://registry/models")
    assert code == 2 and "oci://" in err
    code, _, err = _push(tmp_path, capsys, "--to", NOWHERE, "ghost")
    assert code == 2 and "ghost is not the name of a locked [[hf-model]] (locked: tiny)" in err


def test_stale_lock_refuses_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_project(tmp_path, [locked_model("tiny", "acme/tiny", FILES)], stale=True)
    (tmp_path / "cache").mkdir()
    code, _, err = _push(tmp_path, capsys, "--to", NOWHERE)
    assert code == 1 and "MG-L001" in err


def test_a_lockfile_signature_the_policy_requires_refuses_the_push(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    model = locked_model("tiny", "acme/tiny", FILES)
    _, manifest = write_project(tmp_path, [model], 'allowed-orgs = ["*"]\nrequire-signature = true')
    admit_local(tmp_path / "cache", model, FILES, manifest.policy)
    code, out, _ = _push(tmp_path, capsys, "--to", NOWHERE, "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["models"][0]["status"] == "refused"
    assert doc["models"][0]["reason"].startswith("tiny: MG-L107")
    assert not (tmp_path / "cache" / "audit.log").read_text().count('"pushed"')


def test_a_repository_name_too_long_is_an_error_for_that_snapshot(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    model = locked_model("odd", "acme/odd", FILES)
    _, manifest = write_project(tmp_path, [model])
    admit_local(tmp_path / "cache", model, FILES, manifest.policy)
    deep = "oci://127.0.0.1:9/" + "/".join(["n" * 60] * 5)  # the OCI name limit is 255 characters
    code, out, _ = _push(tmp_path, capsys, "--to", deep, "--format", "json")
    doc = json.loads(out)
    assert code == 2 and doc["models"][0]["status"] == "error" and "longer than 255" in out
    assert '"action": "error"' in (tmp_path / "cache" / "audit.log").read_text().replace('":"', '": "')


def test_nothing_locked_is_no_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_project(tmp_path, [])
    (tmp_path / "cache").mkdir()
    code, _, err = _push(tmp_path, capsys, "--to", NOWHERE)
    assert code == 3 and "nothing to push" in err
