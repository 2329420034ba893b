"""Red-team corpus, code-carrying formats: Jinja chat templates (GGUF, tokenizer config, .jinja),
Keras configs (.keras, .h5), ONNX external data and custom Python code.

Payloads are harmless strings that are never rendered, deserialized or run. ``MAL`` cases must
be malicious, ``NOT_CLEAN`` cases at least suspicious; every case also exits 1 via the CLI.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from modelguard.models import Verdict
from modelguard.scan import scan_bytes
from tests.scan.containers_build import Scanned
from tests.scan.h5build import keras_h5
from tests.scan.redteam import MAL, NOT_CLEAN, assert_caught
from tests.scan.test_onnx import _field, graph, model, node, tensor

# ---- Jinja: sandbox escapes the old regex split could not see --------------------------------
SSTI_SHAPES = {
    "plain": "{{ cycler.__init__.__globals__.os.popen('echo pwned').read() }}",
    "close-inside-string": "{{ '}}' ~ cycler.__init__.__globals__.os.popen('echo pwned').read() }}",
    "block-close-inside-string": "{% set x = '%}' ~ joiner.__init__.__globals__ %}{{ x }}",
    "close-inside-open-braces": "{{ {1: {}}|length ~ namespace.__init__.__globals__ }}",
    "dunder-split-by-concat": "{{ namespace['__i' ~ 'nit__']['__glo' ~ 'bals__']['o' ~ 's']['po' ~ 'pen']('id') }}",
    "dunder-split-across-set-blocks":
        "{% set a = '__gl' %}{% set b = 'obals__' %}{{ namespace['__in' ~ 'it__'][a ~ b] }}",
    "dunder-from-join-filter": "{{ namespace[['__in', 'it__']|join][['__glo', 'bals__']|join] }}",
    "underscore-cut-from-object-text":
        "{% set u = (()|select|string|list)[24] %}{{ raise_exception[u * 2 ~ 'glo' ~ 'bals' ~ u * 2] }}",
    "attr-with-computed-name": "{% set n = x ~ y %}{{ raise_exception|attr(n) }}",
    "attr-with-hex-escapes": "{{ ()|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "percent-c-format": "{{ ()|attr('%c%cclass%c%c'|format(95, 95, 95, 95)) }}",
    "cve-2024-34359": "{% for x in ().__class__.__base__.__subclasses__() %}{% if 'warning' in x.__name__ %}"
                      "{{ x()._module.__builtins__['__import__']('os').popen('echo pwned') }}{% endif %}{% endfor %}",
}


def _gguf(template: str) -> bytes:
    def s(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    kvs = [("general.architecture", "llama"), ("tokenizer.chat_template", template)]
    body = b"".join(s(k) + struct.pack("<I", 8) + s(v) for k, v in kvs)
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + body


def _tokenizer_config(template: str) -> bytes:
    return json.dumps({"tokenizer_class": "LlamaTokenizer", "chat_template": template}).encode()


# ---- Keras ------------------------------------------------------------------------------------
def _functional(*layers: dict[str, Any]) -> dict[str, Any]:
    return {"module": "keras", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": "m", "layers": list(layers)}}


def _keras(*layers: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.8.0"}))
        z.writestr("config.json", json.dumps(_functional(*layers)))
        z.writestr("model.weights.h5", keras_h5(None))
    return buf.getvalue()


def _h5(*layers: dict[str, Any]) -> bytes:
    """A legacy .h5 (written by h5py) whose model_config attribute holds the layers."""
    return keras_h5({"class_name": "Sequential", "config": {"name": "s", "layers": list(layers)}})


LAMBDA_KERAS3 = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
                 "config": {"name": "l", "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAA"}}}}
LAMBDA_KERAS2 = {"class_name": "Lambda", "config": {"name": "l", "function": ["4wEAAAAAAAAA", None, None],
                                                     "function_type": "lambda"}}


def _fn(module: str, name: str) -> dict[str, Any]:
    return {"module": module, "class_name": "function", "config": name, "registered_name": "function"}


def _onnx(location: str) -> bytes:
    return model(graph(_field(1, node("MatMul")), _field(5, tensor("w", location))))


CASES: list[tuple[str, bytes, str, str]] = [
    *[(f"jinja-file-{k}", v.encode(), "chat_template.jinja", MAL) for k, v in SSTI_SHAPES.items()],
    *[(f"gguf-{k}", _gguf(v), "model.gguf", MAL) for k, v in SSTI_SHAPES.items()],
    *[(f"tokenizer-config-{k}", _tokenizer_config(v), "tokenizer_config.json", MAL)
      for k, v in SSTI_SHAPES.items()],
    # -- Keras: Lambda layers, the loader gadgets of CVE-2025-1550 / -8747 / -9906, API-path aliases
    ("keras3-lambda", _keras(LAMBDA_KERAS3), "model.keras", MAL),
    ("keras2-lambda-bytecode-h5", _h5(LAMBDA_KERAS2), "model.h5", MAL),
    ("keras-lambda-by-api-path", _keras({**LAMBDA_KERAS3, "module": "keras", "class_name": "layers.Lambda"}),
     "model.keras", MAL),
    ("keras-os-system-activation", _keras({"module": "keras.layers", "class_name": "Dense",
                                           "config": {"name": "d", "activation": _fn("os", "system")}}),
     "model.keras", MAL),
    ("keras-get-file-gadget", _keras(_fn("keras.utils", "get_file")), "model.keras", MAL),
    ("keras-get-file-by-api-path", _keras(_fn("keras", "utils.get_file")), "model.keras", MAL),
    ("keras-unsafe-deserialization-by-api-path", _keras(_fn("keras", "config.enable_unsafe_deserialization")),
     "model.keras", MAL),
    ("keras-tfsmlayer", _keras({"module": "keras.layers", "class_name": "TFSMLayer",
                                "config": {"filepath": "/tmp/evil_savedmodel"}}), "model.keras", MAL),
    ("keras-tfoplambda-compat-raw-ops",
     _keras({"class_name": "TFOpLambda", "config": {"name": "w", "function": "compat.v1.raw_ops.WriteFile"}}),
     "model.keras", MAL),
    ("keras-tfoplambda-compat-v2-io",
     _keras({"class_name": "TFOpLambda", "config": {"name": "w", "function": "tf.compat.v2.io.write_file"}}),
     "model.keras", MAL),
    *[(f"keras-function-from-{m}", _keras({"module": "keras.layers", "class_name": "Dense",
                                            "config": {"name": "d", "activation": _fn(m, n)}}), "model.keras", MAL)
      for m, n in [("pydoc", "pipepager"), ("torch.hub", "load"), ("numpy", "load"), ("operator", "attrgetter")]],
    ("keras-custom-module", _keras({"module": "evil_pkg.layers", "class_name": "Boot", "config": {}}),
     "model.keras", NOT_CLEAN),
    # -- ONNX external data leaving the model folder
    ("onnx-external-data-parent", _onnx("../../.ssh/id_rsa"), "model.onnx", MAL),
    ("onnx-external-data-absolute", _onnx("/etc/passwd"), "model.onnx", MAL),
    ("onnx-external-data-dot-segments", _onnx("a/./../../x"), "model.onnx", MAL),
    ("onnx-external-data-windows", _onnx("a\\..\\..\\x"), "model.onnx", MAL),
    # -- custom code
    ("py-exec-base64", b"import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n", "modeling_x.py", MAL),
    ("py-dynamic-import", b"m = getattr(__builtins__, '__imp' + 'ort__')('o' + 's')\nm.system('echo')\n",
     "modeling_x.py", NOT_CLEAN),
    ("config-auto-map", json.dumps({"auto_map": {"AutoModel": "modeling_x.M"}}).encode(), "config.json",
     NOT_CLEAN),
    ("config-auto-map-other-repo", json.dumps({"auto_map": {"AutoModel": "evil/repo--modeling_x.M"}}).encode(),
     "config.json", NOT_CLEAN),
]


@pytest.mark.parametrize(("data", "name", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_attack_is_caught(data: bytes, name: str, expected: str,
                          scan_cli: Callable[[bytes, str], Scanned]) -> None:
    assert_caught(data, name, expected, scan_cli)


@pytest.mark.parametrize("template", [
    "{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + '<|end|>' }}{% endfor %}",
    "{{ {'a': 1}|length }}{% set x = '}}' %}{{ x }}",  # braces and closers inside strings, nothing escapes
    "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] }}{% endif %}{# __init__ in a comment #}",
])
def test_benign_templates_stay_clean(template: str) -> None:
    assert scan_bytes(template.encode(), "chat_template.jinja").verdict is Verdict.CLEAN


def test_benign_keras_api_path_stays_clean() -> None:
    dense = {"module": "keras", "class_name": "layers.Dense", "config": {"name": "d", "units": 2}}
    assert scan_bytes(_keras(dense), "model.keras").verdict is Verdict.CLEAN
