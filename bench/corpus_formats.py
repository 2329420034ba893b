"""Byte builders for the non-pickle formats of the detection corpus: GGUF, ONNX, Keras, npy, tar.

Written independently of the scanners' own tests (so the bench does not grade modelguard on its
own fixtures). Every builder returns ``bytes``; payloads are harmless strings, never executed.
"""

from __future__ import annotations

import io
import json
import struct
import tarfile
import zipfile
from typing import Any

import numpy as np

# ---- GGUF (v3) -------------------------------------------------------------------------------
_GGUF_STRING, _GGUF_UINT32, _GGUF_ARRAY = 8, 4, 9


def _gguf_str(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def gguf(chat_template: str) -> bytes:
    """A one-tensor GGUF file whose ``tokenizer.chat_template`` is ``chat_template``."""
    kvs = [
        ("general.architecture", _GGUF_STRING, "llama"),
        ("general.name", _GGUF_STRING, "tiny"),
        ("llama.context_length", _GGUF_UINT32, 2048),
        ("tokenizer.chat_template", _GGUF_STRING, chat_template),
    ]
    body = b""
    for key, vtype, value in kvs:
        body += _gguf_str(key) + struct.pack("<I", vtype)
        body += _gguf_str(value) if vtype == _GGUF_STRING else struct.pack("<I", value)
    # one F32 tensor of 8 elements at offset 0
    tensor_info = _gguf_str("tok_embd.weight") + struct.pack("<I", 1) + struct.pack("<Q", 8) \
        + struct.pack("<I", 0) + struct.pack("<Q", 0)
    head = b"GGUF" + struct.pack("<I", 3) + struct.pack("<Q", 1) + struct.pack("<Q", len(kvs)) + body + tensor_info
    head += b"\0" * ((-len(head)) % 32)
    return head + struct.pack("<8f", *range(8))


BENIGN_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"
)
ESCAPE_TEMPLATE = (
    "{% for x in ().__class__.__base__.__subclasses__() %}{% if 'warning' in x.__name__ %}"
    "{{ x()._module.__builtins__['__import__']('os').popen('echo pwned').read() }}{% endif %}{% endfor %}"
)


# ---- ONNX (protobuf by hand) -----------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes | str | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    raw = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(raw)) + raw


def onnx_model(external_location: str | None) -> bytes:
    """ModelProto(ir_version 8, opset 17) with one Identity node and one float initializer,
    stored inline or as external data at ``external_location``."""
    tensor = _field(1, 4) + _field(2, 1) + _field(8, "w")  # dims=[4], data_type=FLOAT, name
    if external_location is None:
        tensor += _field(9, struct.pack("<4f", 1, 2, 3, 4))  # raw_data
    else:
        entry = _field(1, "location") + _field(2, external_location)
        tensor += _field(13, entry) + _field(14, 1)  # external_data, data_location=EXTERNAL
    node = _field(1, "w") + _field(2, "y") + _field(4, "Identity")
    graph = _field(1, node) + _field(2, "g") + _field(5, tensor)
    opset = _field(1, "") + _field(2, 17)
    return _field(1, 8) + _field(2, "bench") + _field(7, graph) + _field(8, opset)


# ---- Keras 3 .keras (zip) --------------------------------------------------------------------
def _dense(name: str) -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
            "config": {"name": name, "units": 4, "activation": "relu", "use_bias": True}}


def keras_zip(*, with_lambda: bool) -> bytes:
    layers = [_dense("dense")]
    if with_lambda:
        # Keras 3 stores a lambda's code as base64 marshal; the bytes here are an inert placeholder
        layers.append({"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
                       "config": {"name": "lambda", "function": {"class_name": "__lambda__", "config": {
                           "code": "4wEAAAAAAAAAAAAAAAEAAAADAAAAQwAAAHMMAAAAdABkAYMBAQB8AFMAKQJO", "defaults": None,
                           "closure": None}}}})
    config = {"module": "keras", "class_name": "Sequential", "registered_name": None,
              "config": {"name": "sequential", "layers": layers}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0", "date_saved": "2026-01-01@00:00:00"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", weights_h5())
    return buf.getvalue()


def weights_h5() -> bytes:
    """A Keras 3 ``model.weights.h5``: one layer's variables, written by h5py (the HDF5 C library)."""
    import h5py  # a test dependency; writes only

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_dataset("layers/dense/vars/0", data=np.ones((4, 4), "f4"))
        f.create_dataset("layers/dense/vars/1", data=np.zeros(4, "f4"))
    return buf.getvalue()


# ---- numpy / tar / custom code ---------------------------------------------------------------
def object_npy(pickle_bytes: bytes) -> bytes:
    """A ``.npy`` of dtype object: the array body is a pickle that numpy.load(allow_pickle=True) runs."""
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * ((-(10 + len(header) + 1)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + pickle_bytes


def tar_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


MALICIOUS_CODE = b'''"""Modeling code for a tiny model."""
import base64

import torch.nn as nn

exec(base64.b64decode("aW1wb3J0IG9zOyBvcy5zeXN0ZW0oImVjaG8gcHduZWQiKQ=="))


class TinyModel(nn.Module):
    def forward(self, x):
        return x
'''

BENIGN_CODE = b'''"""Modeling code for a tiny model (as a transformers custom-code repo ships it)."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from transformers import PretrainedConfig, PreTrainedModel


class TinyConfig(PretrainedConfig):
    model_type = "tiny"

    def __init__(self, hidden_size: int = 64, **kwargs):
        self.hidden_size = hidden_size
        super().__init__(**kwargs)


class TinyModel(PreTrainedModel):
    config_class = TinyConfig

    def __init__(self, config: TinyConfig):
        super().__init__(config)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x) / math.sqrt(x.shape[-1])
'''
