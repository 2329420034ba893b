"""Loaders against the verified cache: ``modelguard env`` and ``hf_offline()``.

huggingface_hub reads HF_HUB_CACHE and HF_HUB_OFFLINE when it is imported, so the honest tests run
a fresh Python with the environment set the way a user sets it, and check that
``hf_hub_download`` / ``snapshot_download`` resolve inside the verified cache, fail for models
that were not admitted, and send no request to the Hub.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modelguard import api
from modelguard.cli import run
from modelguard.errors import NotAdmittedError
from tests.api_helpers import CLEAN, Project, make_project
from tests.fakehub import FakeHub

LOAD = textwrap.dedent("""\
    import sys
    from huggingface_hub import hf_hub_download, snapshot_download
    repo = sys.argv[1]
    print(hf_hub_download(repo, "config.json", local_files_only=True))
    print(snapshot_download(repo, local_files_only=True))
    print(snapshot_download(repo))  # no local_files_only: HF_HUB_OFFLINE alone keeps it off the network
""")


@pytest.fixture
def fetched(tmp_path: Path, fake_hub: FakeHub) -> Project:
    project = make_project(tmp_path, fake_hub)
    project.lock()
    project.fetch()  # tiny, tiny-v1, other admitted; evil refused
    fake_hub.clear_requests()
    return project


def user_env(project: Project) -> dict[str, str]:
    """A user's environment: a Hub endpoint that answers, and a stale transformers cache variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    env.update(HF_ENDPOINT=project.hub.endpoint, HF_HOME=str(project.root / "hf-home"),
               TRANSFORMERS_CACHE=str(project.root / "elsewhere"), HF_HUB_DISABLE_XET="1")
    return env


def env_exports(project: Project, shell: str = "sh") -> str:
    proc = subprocess.run([sys.executable, "-m", "modelguard", "env", "--cache-dir", str(project.cache),
                           "--shell", shell], capture_output=True, text=True, check=True)
    return proc.stdout


def load_with_exports(project: Project, repo: str) -> subprocess.CompletedProcess[str]:
    script = f'eval "$({sys.executable} -m modelguard env --cache-dir \'{project.cache}\')"\n' \
             f'exec {sys.executable} -c "$1" "$2"\n'
    return subprocess.run(["sh", "-c", script, "sh", LOAD, repo], capture_output=True, text=True,
                          env=user_env(project), timeout=120)


def test_env_exports_make_hf_hub_resolve_inside_the_verified_cache(fetched: Project) -> None:
    proc = load_with_exports(fetched, "acme/tiny")
    assert proc.returncode == 0, proc.stderr
    file_path, snap, snap_online = proc.stdout.split()
    snapshot = fetched.snapshot_dir("acme/tiny")
    assert Path(file_path) == snapshot / "config.json"
    assert Path(snap) == Path(snap_online) == snapshot
    assert Path(file_path).read_bytes() == CLEAN["config.json"]
    assert fetched.hub.requests == []
    assert not (fetched.root / "elsewhere").exists() and not (fetched.root / "hf-home" / "hub").exists()


def test_env_exports_fail_for_a_model_that_was_not_admitted(fetched: Project) -> None:
    proc = load_with_exports(fetched, "acme/evil")
    assert proc.returncode != 0
    assert "LocalEntryNotFoundError" in proc.stderr
    assert fetched.hub.requests == []


def test_hf_offline_in_a_fresh_interpreter(fetched: Project) -> None:
    script = textwrap.dedent(f"""\
        import modelguard
        with modelguard.hf_offline({str(fetched.cache)!r}) as hub:
            from huggingface_hub import hf_hub_download
            from huggingface_hub.errors import LocalEntryNotFoundError
            print(hf_hub_download("acme/other", "model.safetensors"))
            try:
                hf_hub_download("acme/evil", "pytorch_model.bin")
            except LocalEntryNotFoundError:
                print("refused")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=user_env(fetched),
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    path, verdict = proc.stdout.split()
    assert Path(path) == fetched.snapshot_dir("acme/other") / "model.safetensors"
    assert verdict == "refused"
    assert fetched.hub.requests == []


def test_hf_offline_also_redirects_an_already_imported_huggingface_hub(fetched: Project) -> None:
    import huggingface_hub
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    before = (constants.HF_HUB_CACHE, constants.HF_HUB_OFFLINE)
    with api.hf_offline(fetched.cache) as hub:
        assert hub == fetched.cache / "hub"
        path = Path(hf_hub_download("acme/tiny", "model.safetensors", revision="v1"))
        assert path == fetched.snapshot_dir("acme/tiny") / "model.safetensors"
        with pytest.raises(LocalEntryNotFoundError):
            huggingface_hub.snapshot_download("acme/evil")
    assert (constants.HF_HUB_CACHE, constants.HF_HUB_OFFLINE) == before
    assert fetched.hub.requests == []


def test_hf_offline_sets_and_restores_the_environment(fetched: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSFORMERS_CACHE", "/somewhere/else")
    monkeypatch.setenv("HF_HUB_CACHE", "/users/own/cache")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with api.hf_offline(fetched.cache):
        assert os.environ["HF_HUB_CACHE"] == str(fetched.cache / "hub")
        assert os.environ["HF_HUB_OFFLINE"] == "1"
        assert "TRANSFORMERS_CACHE" not in os.environ
    assert os.environ["HF_HUB_CACHE"] == "/users/own/cache"
    assert os.environ["TRANSFORMERS_CACHE"] == "/somewhere/else"
    assert "HF_HUB_OFFLINE" not in os.environ


def test_hf_offline_restores_the_environment_when_the_block_raises(fetched: Project,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    with pytest.raises(RuntimeError), api.hf_offline(fetched.cache):
        raise RuntimeError("loader failed")
    assert "HF_HUB_CACHE" not in os.environ


def test_hf_offline_without_a_verified_cache_says_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(NotAdmittedError, match="modelguard fetch"), api.hf_offline(tmp_path / "nothing"):
        pass


# --- modelguard env ----------------------------------------------------------------------------


def test_env_defaults_to_modelguard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MODELGUARD_HOME", str(tmp_path / "mg"))
    assert run(["env"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"export HF_HUB_CACHE={tmp_path / 'mg' / 'hub'}" in out
    assert "export HF_HUB_OFFLINE=1" in out
    assert "unset TRANSFORMERS_CACHE" in out


@pytest.mark.parametrize("shell", ["fish", "powershell"])
def test_env_other_shells(tmp_path: Path, shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["env", "--cache-dir", str(tmp_path / "it's here"), "--shell", shell]) == 0
    out = capsys.readouterr().out.splitlines()
    hub = str(tmp_path / "it's here" / "hub")
    if shell == "fish":
        assert "set -gx HF_HUB_CACHE '" + hub.replace("'", "\\'") + "'" in out
        assert "set -e TRANSFORMERS_CACHE" in out
    else:
        assert "$env:HF_HUB_CACHE = '" + hub.replace("'", "''") + "'" in out
        assert "Remove-Item Env:TRANSFORMERS_CACHE -ErrorAction SilentlyContinue" in out


def test_env_sh_quoting_survives_eval(tmp_path: Path) -> None:
    odd = tmp_path / "a dir with 'quotes' and $HOME"
    proc = subprocess.run(["sh", "-c", f'eval "$({sys.executable} -m modelguard env --cache-dir "$1")"; '
                           'printf %s "$HF_HUB_CACHE"', "sh", str(odd)], capture_output=True, text=True, check=True)
    assert proc.stdout == str(odd / "hub")


def test_env_rejects_an_unknown_shell() -> None:
    assert run(["env", "--shell", "tcsh"]) == 2


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_env_bash_and_zsh_get_posix_exports(tmp_path: Path, shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["env", "--cache-dir", str(tmp_path / "mg"), "--shell", shell]) == 0
    out = capsys.readouterr().out
    assert f"export HF_HUB_CACHE={tmp_path / 'mg' / 'hub'}" in out and "export HF_HUB_OFFLINE=1" in out
