"""``load_safetensors``: modelguard's header reader and the reference ``safetensors`` parser must agree.

The differential test is why ``safetensors`` is a runtime dependency: every file (valid ones written by
the real library, real-world ones from tests/data/real, and seeded mutants of them) is judged by both
parsers, and modelguard must accept exactly what the reference accepts. ``load_safetensors`` then
hands the bytes modelguard checked to the reference parser, so a tensor comes out only when both agree.
"""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
from safetensors import SafetensorError, deserialize

from modelguard import api
from modelguard.errors import UnreadableError, UnsafeContentError, UsageError
from modelguard.models import Verdict
from modelguard.scan import scan_bytes

ROOT = Path(__file__).resolve().parents[2]
DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
          np.uint32, np.uint64, np.bool_]
EVIL_PICKLE = b"\x80\x02cos\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03."  # never loaded


def _written(rng: random.Random) -> bytes:
    """A file written by the real safetensors library (the writer is trusted; only its output is read)."""
    tensors = {}
    for i in range(rng.randint(0, 4)):
        shape = tuple(rng.randint(0, 3) for _ in range(rng.randint(0, 3)))
        tensors[f"t{i}"] = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape).astype(rng.choice(DTYPES))
    return safetensors.numpy.save(tensors, metadata={"format": "np"} if rng.random() < 0.5 else None)


def _header(data: bytes) -> tuple[dict[str, object], bytes]:
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def _with_header(header: dict[str, object], rest: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + rest


def _mutant(data: bytes, rng: random.Random) -> bytes:
    n = struct.unpack("<Q", data[:8])[0]
    kind = rng.randrange(7)
    if kind == 0:
        return data[:rng.randrange(len(data))]                               # truncated
    if kind == 1:
        b = bytearray(data)
        b[rng.randrange(min(len(b), 8 + n))] = rng.randrange(256)            # a header byte overwritten
        return bytes(b)
    if kind == 2:
        return struct.pack("<Q", max(0, n + rng.randint(-3, 3))) + data[8:]  # header length off by a few
    if kind == 3:
        return data + b"\0" * rng.randint(1, 9)                              # bytes after the data
    header, rest = _header(data)
    names = [k for k in header if k != "__metadata__"]
    if kind == 4 and names:
        entry = header[rng.choice(names)]
        assert isinstance(entry, dict)
        entry["data_offsets"][rng.randrange(2)] += rng.randint(-2, 2)        # byte ranges that do not tile
    elif kind == 5:
        raw = data[8:8 + n] + b" " * rng.randint(1, 5)                       # padding (allowed)
        return struct.pack("<Q", len(raw)) + raw + rest
    elif kind == 6 and names:
        entry = header[rng.choice(names)]
        assert isinstance(entry, dict)
        entry["dtype"] = rng.choice(["F32", "I64", "X9", "BF16", "F8_E4M3", "bool"])
    return _with_header(header, rest)


def _reference_accepts(data: bytes) -> bool:
    try:
        deserialize(data)
    except SafetensorError:
        return False
    return True


def _modelguard_accepts(data: bytes) -> bool:
    result = scan_bytes(data, "model.safetensors")
    return result.format == "safetensors" and result.verdict is Verdict.CLEAN


def _corpus() -> list[tuple[str, bytes]]:
    rng = random.Random(19)
    real = sorted((ROOT / "tests" / "data" / "real").rglob("*.safetensors"))
    out = [(str(p.relative_to(ROOT)), p.read_bytes()) for p in real]
    for i in range(500):
        written = _written(rng)
        out.append((f"written-{i}", written))
        out.append((f"mutant-{i}", _mutant(written, rng)))
    return out


def test_the_header_reader_accepts_exactly_what_the_reference_parser_accepts() -> None:
    corpus = _corpus()
    disagree = [(name, _reference_accepts(data)) for name, data in corpus
                if _reference_accepts(data) != _modelguard_accepts(data)]
    assert disagree == [], f"modelguard and safetensors disagree (name, reference accepts): {disagree[:10]}"
    accepted = sum(_reference_accepts(data) for _, data in corpus)
    assert 500 < accepted < len(corpus)  # both kinds were exercised


def test_load_safetensors_returns_the_tensors(tmp_path: Path) -> None:
    tensors = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], dtype=np.int64)}
    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors.numpy.save(tensors))
    loaded = api.load_safetensors(path)
    assert set(loaded) == {"w", "b"} and all(np.array_equal(loaded[k], v) for k, v in tensors.items())
    torch = pytest.importorskip("torch")
    as_torch = api.load_safetensors(path, framework="pt")
    assert torch.equal(as_torch["w"], torch.arange(6, dtype=torch.float32).reshape(2, 3))


@pytest.mark.parametrize(("data", "rule"), [
    (EVIL_PICKLE, "MG-S101"),                                             # a pickle named .safetensors
    (struct.pack("<Q", 10**6) + b"{}", "MG-S401"),                        # header longer than the file
    (_with_header({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4), "MG-S403"),
    (_with_header({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 12), "MG-S404"),
], ids=["pickle", "header-length", "shape-vs-offsets", "bytes-not-covered"])
def test_load_safetensors_refuses_what_the_scan_refuses(tmp_path: Path, data: bytes, rule: str) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    with pytest.raises(UnsafeContentError) as e:
        api.load_safetensors(path)
    assert e.value.rule == rule and e.value.exit_code == 1


def test_load_safetensors_refuses_content_that_is_not_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_text('{"hidden_size": 4}')
    with pytest.raises(UnsafeContentError, match="not safetensors"):
        api.load_safetensors(path)


def test_load_safetensors_usage_and_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors.numpy.save({"w": np.zeros(2, dtype=np.float32)}))
    with pytest.raises(UsageError, match="framework"):
        api.load_safetensors(path, framework="tensorflow")
    with pytest.raises(UsageError, match="fail_on"):
        api.load_safetensors(path, fail_on="severe")
    with pytest.raises(UnreadableError):
        api.load_safetensors(tmp_path / "missing.safetensors")
