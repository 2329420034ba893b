"""Real HDF5 files for the scanner tests, written by h5py (the HDF5 C library), never read back by it.

The reader under test is modelguard's own; the writer is the reference implementation, so the two
cannot share a blind spot. Payloads are harmless opcodes or JSON.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import h5py
import numpy as np

Writer = Callable[[h5py.File], None]


def h5(write: Writer, *, libver: str = "earliest", user_block: bytes = b"", block_size: int = 0) -> bytes:
    """The bytes of an HDF5 file that ``write`` fills (``libver="latest"``: object header v2,
    link messages, dense storage and the newer chunk indexes). ``user_block`` is written into the
    first ``block_size`` bytes, before the superblock (as MATLAB v7.3 files carry their header)."""
    buf = io.BytesIO()
    with h5py.File(buf, "w", libver=libver, userblock_size=block_size or None) as f:
        write(f)
    data = bytearray(buf.getvalue())
    data[:len(user_block)] = user_block
    return bytes(data)


def keras_h5(config: dict[str, Any] | bytes | None, *, libver: str = "earliest", user_block: bytes = b"",
             block_size: int = 0) -> bytes:
    """A legacy Keras ``model.save("x.h5")`` layout: model_config JSON, training_config, weights."""
    return h5(keras_writer(config), libver=libver, user_block=user_block, block_size=block_size)


def keras_writer(config: dict[str, Any] | bytes | None) -> Writer:
    def write(f: h5py.File) -> None:
        if config is not None:
            text = config if isinstance(config, bytes) else json.dumps(config).encode()
            f.attrs["model_config"] = np.bytes_(text)
        f.attrs["keras_version"] = np.bytes_(b"2.15.0")
        f.attrs["backend"] = np.bytes_(b"tensorflow")
        g = f.create_group("model_weights/dense")
        g.attrs["weight_names"] = np.array([b"dense/kernel:0", b"dense/bias:0"])
        g.create_dataset("dense/kernel:0", data=np.ones((4, 4), "f4"))
        g.create_dataset("dense/bias:0", data=np.zeros(4, "f4"))
    return write


def pickled_attribute(value: bytes, *, libver: str = "earliest", many: int = 0) -> bytes:
    """A PyTables-style node whose attribute holds ``value`` (unpickled on read when it ends in '.');
    ``many`` more attributes push it into dense storage with ``libver="latest"``."""
    def write(f: h5py.File) -> None:
        f.attrs["PYTABLES_FORMAT_VERSION"] = np.bytes_(b"2.1")
        g = f.create_group("df")
        for i in range(many):
            g.attrs[f"extra{i}"] = np.bytes_(b"N.")
        g.attrs["non_index_axes"] = np.bytes_(value)
    return h5(write, libver=libver)


def object_rows(rows: list[bytes], *, libver: str = "earliest", **dataset: Any) -> bytes:
    """A PyTables ObjectAtom VLArray: each row the bytes of a pickle."""
    def write(f: h5py.File) -> None:
        f.attrs["PYTABLES_FORMAT_VERSION"] = np.bytes_(b"2.1")
        d = f.create_dataset("df/block0_values", shape=(len(rows),), dtype=h5py.vlen_dtype(np.uint8), **dataset)
        for i, row in enumerate(rows):
            d[i] = np.frombuffer(row, np.uint8)
        d.attrs["CLASS"] = np.bytes_(b"VLARRAY")
        d.attrs["PSEUDOATOM"] = np.bytes_(b"object")
    return h5(write, libver=libver)
