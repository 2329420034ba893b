"""The pre-commit hooks: each hook's entry runs as pre-commit runs it (entry + args + the staged
file names its ``files`` pattern selects) in a real temporary git repository."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelguard.models import Format
from tests._schemas import ROOT

UNKNOWN_BYTES = b"\0" * 8 + b"PK\x03\x04\x14\x00" + bytes(range(256)) * 4  # unknown, hides an archive header: MG-S002


def _hooks() -> dict[str, dict[str, Any]]:
    hooks: list[dict[str, Any]] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    return {h["id"]: h for h in hooks}


def _git(repo: Path, *args: str) -> str:
    git = shutil.which("git")
    assert git is not None, "git is needed to run the pre-commit hook tests"
    proc = subprocess.run([git, *args], cwd=repo, capture_output=True, text=True, check=True)
    return proc.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    return root


def _stage(repo: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    _git(repo, "add", "--", *files)


def _selected(hook: dict[str, Any], names: list[str]) -> list[str]:
    """The staged files pre-commit would pass: ``files`` matches, ``exclude`` does not."""
    files = re.compile(hook.get("files", ""))
    exclude = re.compile(hook["exclude"]) if hook.get("exclude") else None
    return [n for n in names if files.search(n) and not (exclude and exclude.search(n))]


def _run_hook(hook_id: str, repo: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    hook = _hooks()[hook_id]
    staged = _git(repo, "diff", "--cached", "--name-only").split()
    selected = _selected(hook, staged) if hook.get("pass_filenames", True) else []
    argv = [*shlex.split(hook["entry"]), *hook.get("args", []), *args, *selected]
    # pre-commit installs the package and puts its console scripts first on PATH; so do we
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True)
    return proc, selected


# --- the hook file ----------------------------------------------------------------------------


def test_hooks_are_declared() -> None:
    hooks = _hooks()
    assert set(hooks) == {"modelguard-lock-check", "modelguard-scan", "modelguard-lint"}
    assert hooks["modelguard-lock-check"]["entry"] == "modelguard lock --check"
    assert hooks["modelguard-lock-check"]["pass_filenames"] is False
    assert hooks["modelguard-scan"]["entry"] == "modelguard scan"
    assert hooks["modelguard-lint"]["entry"] == "modelguard lint"
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["name"] and hook["description"]


# Every format the scanner reads (README, "What the scanner catches"), with the file names a model
# repository gives it: the scan hook must hand each to `modelguard scan`. A new Format fails this test
# until the hook decides about it.
SCAN_HOOK_NAMES: dict[Format, list[str]] = {
    Format.PICKLE: ["model.pkl", "x.pickle", "obj.dill", "weights/pytorch_model.bin"],
    Format.JOBLIB: ["clf.joblib", "clf.jbl", "model.sav"],
    Format.PYTORCH_ZIP: ["model.pt", "x/y/MODEL.PT", "ckpt.pth", "last.ckpt", "handler.mar"],
    Format.PYTORCH_LEGACY: ["old.pt", "pytorch_model.bin"],
    Format.PYTORCH_TAR: ["model.tar"],
    Format.TORCHSCRIPT: ["traced.pt", "mobile.ptl"],
    Format.PYTORCH_EXPORT: ["exported.pt2"],
    Format.NUMPY: ["emb.npy"],
    Format.NPZ: ["arrays.npz"],
    Format.ZIP: ["bundle.zip"],
    Format.TAR: ["ckpt.tar", "ckpt.tgz"],
    Format.SEVENZ: ["weights.7z"],
    Format.GZIP: ["ckpt.tar.gz", "model.pkl.gz"],
    Format.BZIP2: ["model.pkl.bz2"],
    Format.XZ: ["model.pkl.xz"],
    Format.LZ4: ["model.pkl.lz4"],
    Format.ZSTD: ["frame.pkl.zst"],
    Format.ZLIB: ["clf.joblib", "blob.zz"],
    Format.SAFETENSORS: ["model.safetensors", "model-00001-of-00002.safetensors"],
    Format.JSON: ["config.json", "sub/config.json", "tokenizer_config.json", "tokenizer.json",
                  "generation_config.json", "preprocessor_config.json", "model_index.json", "adapter_config.json"],
    Format.KERAS: ["model.keras"],
    Format.HDF5: ["model.h5", "weights.hdf5"],
    Format.GGUF: ["q4.gguf", "old.ggml"],
    Format.ONNX: ["net.onnx", "net.ort"],
    Format.ONNX_DATA: ["net.onnx_data", "net.onnx.data"],
    Format.JINJA: ["chat_template.jinja", "prompt.j2"],
    Format.TFLITE: ["model.tflite", "model.lite"],
    Format.MSGPACK: ["flax_model.msgpack"],
    Format.SENTENCEPIECE: ["tokenizer.model", "spiece.model", "sp.spm"],
    Format.IMAGE: ["sample.png", "x.jpg", "x.jpeg", "x.gif", "x.bmp", "x.webp", "x.tiff"],
    Format.AUDIO: ["sample.wav", "x.flac", "x.ogg", "x.mp3"],
    Format.PDF: ["paper.pdf"],
    Format.ONNX_TENSOR: ["test_data_set_0/input_0.pb"],
    Format.TF_SAVED_MODEL: ["saved_model/saved_model.pb"],
    Format.TF_GRAPHDEF: ["frozen_graph.pb"],
    Format.TF_CHECKPOINT_INDEX: ["variables/variables.index", "model.ckpt.index"],
    Format.TF_CHECKPOINT_DATA: ["variables/variables.data-00000-of-00001"],
    Format.COREML: ["Model.mlmodel"],
    Format.COREML_WEIGHTS: ["Model.mlpackage/Data/com.apple.CoreML/weights/weight.bin"],
    Format.MEDIAPIPE_GRAPH: ["hand_landmark.binarypb", "face.task"],
    Format.WORD2VEC: ["GoogleNews-vectors-negative300.bin", "vectors.w2v", "wiki.en.vec"],
    Format.FASTTEXT: ["cc.en.300.bin", "lid.176.ftz"],
    Format.SPM_NORMALIZER: ["normalizer.bin", "spm.model"],
    Format.MATLAB: ["weights.mat"],
}
NOT_HANDED_TO_THE_SCAN_HOOK = {
    Format.PYTHON: "the project's own code; custom model code is reviewed when the model is fetched and verified",
    Format.TEXT: "not a model format: any name is scanned when given, none is picked for it",
    Format.EMPTY: "not a format",
    Format.UNKNOWN: "not a format: an unknown binary under a model name above is refused (MG-S002)",
}


def test_every_scanned_format_is_decided_by_the_scan_hook() -> None:
    assert set(SCAN_HOOK_NAMES) | set(NOT_HANDED_TO_THE_SCAN_HOOK) == set(Format)
    assert not set(SCAN_HOOK_NAMES) & set(NOT_HANDED_TO_THE_SCAN_HOOK)
    hook = _hooks()["modelguard-scan"]
    missed = [n for names in SCAN_HOOK_NAMES.values() for n in names if _selected(hook, [n]) != [n]]
    assert missed == []


@pytest.mark.parametrize(
    ("name", "picked"),
    [("app.py", False), ("README.md", False), ("notes.txt", False), ("model.safetensors.md", False),
     ("package.json", False), ("tsconfig.json", False), ("pyproject.toml", False)],
)
def test_scan_hook_leaves_code_and_docs_alone(name: str, picked: bool) -> None:
    assert _selected(_hooks()["modelguard-scan"], [name]) == ([name] if picked else [])


@pytest.mark.parametrize(
    ("name", "picked"),
    [("app.py", True), ("web/src/client.ts", True), ("web/chat.tsx", True), ("deploy/values.yaml", True),
     ("config.json", True), ("pyproject.toml", True), (".env", True), ("svc/.env.production", True),
     ("model.bin", False), ("README.md", False), ("notes.environment", False)],
)
def test_lint_hook_picks_code_and_config(name: str, picked: bool) -> None:
    assert _selected(_hooks()["modelguard-lint"], [name]) == ([name] if picked else [])


# --- running the entries ----------------------------------------------------------------------


def test_scan_hook_rejects_an_unscannable_model_file(repo: Path) -> None:
    _stage(repo, {"models/weights.bin": UNKNOWN_BYTES, "README.md": b"# card\n", "train.py": b"print(1)\n"})
    proc, selected = _run_hook("modelguard-scan", repo)
    assert selected == ["models/weights.bin"]
    assert proc.returncode == 1, proc.stderr
    assert "MG-S002" in proc.stdout and "models/weights.bin" in proc.stdout


def test_scan_hook_decides_by_content_not_by_name(repo: Path) -> None:
    _stage(repo, {"vocab.bin": b"hello\nworld\n"})  # a model extension, but plain text: clean
    proc, selected = _run_hook("modelguard-scan", repo, "-v")
    assert selected == ["vocab.bin"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "CLEAN       vocab.bin  (text)" in proc.stdout and proc.stdout.splitlines()[-1].startswith("OK: 1 file")


def test_scan_hook_passes_args_before_file_names(repo: Path) -> None:
    _stage(repo, {"weights.bin": UNKNOWN_BYTES})
    proc, _ = _run_hook("modelguard-scan", repo, "--fail-on", "high")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # listed, below the gate
    assert "MG-S002" in proc.stdout


def test_lock_check_hook_fails_on_a_missing_lock_and_writes_nothing(repo: Path) -> None:
    """Needs ``modelguard lock`` (issue 3): exit 1 when the lock is missing or stale."""
    manifest = (
        '[policy]\nallowed-orgs = ["sentence-transformers"]\n\n'
        '[[hf-model]]\nname = "embedder"\nrepo = "sentence-transformers/all-MiniLM-L6-v2"\nrevision = "main"\n'
    )
    _stage(repo, {"modelguard.toml": manifest.encode()})
    proc, selected = _run_hook("modelguard-lock-check", repo)
    assert selected == []
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert not (repo / "modelguard.lock").exists()


def test_lint_hook_flags_a_floating_model_alias(repo: Path) -> None:
    """Needs ``modelguard lint`` (issue 5): a floating alias in code is a finding (exit 1)."""
    code = b'from openai import OpenAI\n\nOpenAI().chat.completions.create(model="gpt-4o", messages=[])\n'
    _stage(repo, {"app.py": code, "weights.bin": UNKNOWN_BYTES})
    proc, selected = _run_hook("modelguard-lint", repo)
    assert selected == ["app.py"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "MG-P2" in proc.stdout and "gpt-4o" in proc.stdout


def test_lint_hook_passes_code_without_model_ids(repo: Path) -> None:
    """Needs ``modelguard lint`` (issue 5): code that names no model is clean (exit 0)."""
    _stage(repo, {"app.py": b"print('hello')\n"})
    proc, selected = _run_hook("modelguard-lint", repo)
    assert selected == ["app.py"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
