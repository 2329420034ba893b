"""The custom-code review on real model code (issue 17): every ``modeling_*.py``,
``configuration_*.py`` and ``tokenization_*.py`` shipped inside the installed transformers package
comes out clean or low-only, while process, network, dynamic-code and import-trick constructs
added to one of them stay high. Files are read as text, never imported."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelguard.models import Severity
from modelguard.scan import scan_bytes
from modelguard.scan.pycode import review


def _transformers() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("transformers")  # locates the package without importing it
    assert spec is not None and spec.origin, "transformers is a test dependency: pip install -e '.[test]'"
    return Path(spec.origin).parent


def _files() -> list[Path]:
    return sorted(p for p in _transformers().rglob("*.py")
                  if p.name.startswith(("modeling_", "configuration_", "tokenization_")))


def test_every_transformers_model_file_is_clean_or_low_only() -> None:
    files = _files()
    assert len(files) > 500  # the package really is there, with its model zoo
    above_low = []
    for path in files:
        for f in review(path.read_bytes(), path.name):
            if f.severity.rank > Severity.LOW.rank:
                above_low.append(f"{path.relative_to(_transformers())} {f.rule} {f.location}: {f.message}")
    assert above_low == []


def test_transformers_model_code_is_clean_in_scan() -> None:
    path = _transformers() / "models" / "bert" / "modeling_bert.py"
    r = scan_bytes(path.read_bytes(), "modeling_bert.py")
    assert r.verdict.value == "clean" and {f.rule for f in r.findings} == {"MG-S301"}


INJECTED = {
    "process": ("    import subprocess\n    subprocess.run(['id'])\n", "MG-S302"),
    "network": ("    import socket\n    socket.create_connection(('example.com', 80))\n", "MG-S306"),
    "dynamic code": ("    exec(compile(source, 'x', 'exec'))\n", "MG-S303"),
    "computed import": ("    import importlib\n    importlib.import_module(name)\n", "MG-S303"),
    "sys.modules replaced": ("    import sys\n    sys.modules['torch'] = object()\n", "MG-S305"),
    "builtins patched": ("    import builtins\n    setattr(builtins, 'open', print)\n", "MG-S305"),
    "unsafe torch.load": ("    import torch\n    torch.load(path, weights_only=False)\n", "MG-S308"),
    "torch.load default": ("    import torch\n    torch.load(path)\n", "MG-S308"),
}


@pytest.mark.parametrize("kind", sorted(INJECTED))
def test_dangerous_constructs_added_to_real_model_code_stay_high(kind: str) -> None:
    body, rule = INJECTED[kind]
    path = _transformers() / "models" / "bert" / "modeling_bert.py"
    source = path.read_bytes() + b"\n\ndef _hook(source, name, path):\n" + body.encode()
    found = [f for f in review(source, "modeling_bert.py") if f.rule == rule]
    assert found and all(f.severity.rank >= Severity.HIGH.rank for f in found), found


@pytest.mark.parametrize(("code", "rule"), [
    ("def save(p):\n    with open(p, 'w') as f:\n        f.write('x')\n", "MG-S307"),
    ("from shutil import copyfile\ndef save(a, b):\n    copyfile(a, b)\n", "MG-S307"),
    ("import importlib\ndef get(n):\n    return importlib.import_module(f'.{n}', 'transformers.models')\n", "MG-S303"),
    ("import torch\ndef patch():\n    setattr(torch.nn.Module, 'smart_apply', len)\n", "MG-S305"),
    ("import sys\ndef alias(name):\n    base = sys.modules[name]\n    sys.modules.setdefault(name + '_fast', base)\n",
     "MG-S305"),
    ("import torch\ndef load(p, weights_only=True):\n    return torch.load(p, weights_only=weights_only)\n",
     "MG-S308"),
])
def test_what_real_model_code_does_is_low(code: str, rule: str) -> None:
    found = [f for f in review(code.encode(), "modeling_x.py") if f.rule == rule]
    assert found and all(f.severity is Severity.LOW for f in found), found


def test_file_writes_at_import_time_keep_their_severity() -> None:
    found = [f for f in review(b"open('/etc/cron.d/x', 'w').write('x')\n", "modeling_x.py") if f.rule == "MG-S307"]
    assert found and found[0].severity is Severity.MEDIUM
