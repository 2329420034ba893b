"""Tiny model files for the demo, built byte by byte (numpy and torch are not needed).

Each builder returns the exact bytes a real tool would write for a toy model: a safetensors file
(8-byte little-endian header length, JSON header, raw tensor data), a PyTorch zip checkpoint whose
pickle calls ``os.system`` on load, a transformers config with an ``auto_map`` and its custom code.

The malicious pickle is made from opcodes with a harmless payload (``echo pwned``). Nothing here
is ever loaded or executed: modelguard only scans these bytes.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Mapping

_ZIP_TIME = (2026, 1, 1, 0, 0, 0)  # fixed timestamps: the same bytes (and hashes) on every run


def safetensors(tensors: Mapping[str, tuple[int, ...]], *, seed: int = 1) -> bytes:
    """A safetensors file of float32 tensors with the given shapes and deterministic values."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    data = bytearray()
    value = seed
    for name, shape in tensors.items():
        count = 1
        for dim in shape:
            count *= dim
        start = len(data)
        for _ in range(count):
            value = (value * 1103515245 + 12345) % (1 << 31)  # a small LCG: stable across platforms
            data += struct.pack("<f", (value / (1 << 31)) - 0.5)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [start, len(data)]}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header to 8 bytes with spaces
    return struct.pack("<Q", len(text)) + text + bytes(data)


def _binunicode(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def command_pickle(command: str = "echo pwned") -> bytes:
    """Protocol-2 pickle that would call ``os.system(command)`` when unpickled (it never is here)."""
    return b"".join([
        b"\x80\x02",  # PROTO 2
        b"cos\nsystem\n",  # GLOBAL os.system
        _binunicode(command),
        b"\x85",  # TUPLE1
        b"R",  # REDUCE: os.system(command)
        b".",  # STOP
    ])


def torch_zip(pickle_bytes: bytes, *, folder: str = "archive") -> bytes:
    """A PyTorch (>= 1.6) zip checkpoint holding ``pickle_bytes`` as its ``data.pkl``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, content in ((f"{folder}/data.pkl", pickle_bytes), (f"{folder}/byteorder", b"little"),
                              (f"{folder}/version", b"3\n")):
            zf.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), content)
    return buf.getvalue()


def config(model_type: str, **extra: object) -> bytes:
    """A transformers-style ``config.json``."""
    doc: dict[str, object] = {"model_type": model_type, "hidden_size": 16, "num_labels": 2, **extra}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


CUSTOM_MODELING = b'''"""Custom architecture shipped with the model (runs on load with trust_remote_code=True)."""

from transformers import PretrainedConfig, PreTrainedModel


class TinyConfig(PretrainedConfig):
    model_type = "tiny-custom"


class TinyModel(PreTrainedModel):
    config_class = TinyConfig

    def forward(self, x):
        return x
'''
