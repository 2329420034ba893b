"""Data for the scan bench: 1 GiB torch checkpoints (zip and legacy layouts) written the way
``torch.save`` lays them out, streamed to disk (never held in memory), and a folder of small pickles.

The tensor bytes are a repeated random block: scanners must not read them, and nothing here
compresses them.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.scan import picklegen as g  # noqa: E402
from tests.scan.containers_build import SYS_INFO, TORCH_LEGACY_MAGIC, plain  # noqa: E402

BLOCK = 1 << 20


def _tensor(key: str, numel: int, *, legacy: bool) -> bytes:
    """``_rebuild_tensor_v2(<persistent storage key>, 0, (numel,), (1,), False, OrderedDict())``"""
    pid = g.text("storage", 2) + g.global_op("torch", "FloatStorage") + g.text(key, 2) + g.text("cpu", 2) \
        + g.integer(numel)
    if legacy:
        pid += b"N"
    return (g.global_op("torch._utils", "_rebuild_tensor_v2") + b"(" + b"(" + pid + b"tQ" + g.integer(0)
            + b"(" + g.integer(numel) + b"t" + b"(" + g.integer(1) + b"t" + b"\x89"
            + g.global_op("collections", "OrderedDict") + b")R" + b"tR")


def state_dict_pickle(storages: int, numel: int, *, legacy: bool) -> bytes:
    body = b"".join(g.text(f"layers.{i}.weight", 2) + _tensor(str(i), numel, legacy=legacy) + b"s"
                    for i in range(storages))
    return g.pickle_of(g.global_op("collections", "OrderedDict") + b")R" + body, 2)


def _write_repeated(f: object, size: int, block: bytes) -> None:
    write = f.write  # type: ignore[attr-defined]
    left = size
    while left:
        n = min(left, len(block))
        write(block[:n])
        left -= n


def torch_zip_checkpoint(path: Path, total: int, storages: int = 16) -> None:
    """``torch.save(state_dict)`` layout (torch 2.x): archive/data.pkl, byteorder, data/<key>, version."""
    numel = total // storages // 4
    block = os.urandom(BLOCK)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        z.writestr("archive/data.pkl", state_dict_pickle(storages, numel, legacy=False))
        z.writestr("archive/.format_version", "1")
        z.writestr("archive/.storage_alignment", "64")
        z.writestr("archive/byteorder", "little")
        for i in range(storages):
            with z.open(f"archive/data/{i}", "w", force_zip64=True) as member:
                _write_repeated(member, numel * 4, block)
        z.writestr("archive/version", "3\n")
        z.writestr("archive/.data/serialization_id", "1" * 40)


def torch_legacy_checkpoint(path: Path, total: int, storages: int = 16) -> None:
    """``torch.save(sd, f, _use_new_zipfile_serialization=False)``: magic, protocol, sys_info, the
    object pickle, the storage keys, then each storage as (int64 numel, raw bytes)."""
    numel = total // storages // 4
    block = os.urandom(BLOCK)
    with open(path, "wb") as f:
        f.write(TORCH_LEGACY_MAGIC + plain(1001) + SYS_INFO + state_dict_pickle(storages, numel, legacy=True))
        f.write(g.pickle_of(b"(" + b"".join(g.text(str(i), 2) for i in range(storages)) + b"l", 2))
        for _ in range(storages):
            f.write(struct.pack("<q", numel))
            _write_repeated(f, numel * 4, block)


def torch_saved_checkpoint(path: Path, total: int, *, legacy: bool, storages: int = 16) -> bool:
    """The same state dict written by ``torch.save`` itself (zip, or the legacy stream); False
    when torch is not installed. Holds the tensors in memory while saving (``total`` bytes)."""
    try:
        import torch
    except ImportError:
        return False
    numel = total // storages // 4
    state = OrderedDict((f"layers.{i}.weight", torch.zeros(numel)) for i in range(storages))
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    return True


def small_pickles(folder: Path, count: int) -> None:
    """``count`` small benign pickles of the shapes real projects save (.pkl, so every scanner reads them)."""
    folder.mkdir(parents=True, exist_ok=True)
    shapes = [
        lambda i: pickle.dumps({"step": i, "lr": 1e-3, "loss": [0.5, 0.25], "tags": ("a", "b")}, protocol=4),
        lambda i: pickle.dumps(OrderedDict((f"w{j}", float(j)) for j in range(64)), protocol=2),
        lambda i: g.sklearn_estimator_pickle(),
        lambda i: g.torch_state_dict_pickle(),
    ]
    for i in range(count):
        (folder / f"{i:04d}.pkl").write_bytes(shapes[i % len(shapes)](i))
