"""Digests: SHA-256 and the git blob SHA-1 the Hub publishes, read once, in parallel."""

from __future__ import annotations

import hashlib
import io
import subprocess
from pathlib import Path

import pytest

from modelguard.store.digest import HashingWriter, git_blob_sha1, hash_file, hash_files


def test_git_blob_sha1_matches_git(tmp_path: Path) -> None:
    data = b'{"architectures": ["BertModel"]}\n'
    p = tmp_path / "config.json"
    p.write_bytes(data)
    try:
        expected = subprocess.run(["git", "hash-object", str(p)], capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        pytest.fail("git is required for this test")
    assert git_blob_sha1(data) == expected.strip()
    assert hash_file(p, git_blob=True).git_blob_sha1 == expected.strip()


def test_hash_file_reads_whole_file(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10_000 + b"tail"
    p = tmp_path / "blob"
    p.write_bytes(data)
    d = hash_file(p)
    assert d.size == len(data)
    assert d.sha256 == hashlib.sha256(data).hexdigest()
    assert d.git_blob_sha1 is None


def test_hash_files_parallel_keeps_order(tmp_path: Path) -> None:
    paths = []
    for i in range(5):
        p = tmp_path / f"f{i}"
        p.write_bytes(bytes([i]) * (3 << 20))
        paths.append(p)
    got = hash_files(paths, workers=2)
    assert [g.sha256 for g in got] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_hashing_writer_hashes_what_was_written() -> None:
    raw = io.BytesIO()
    w = HashingWriter(raw, expected_size=6)
    w.write(b"abc")
    w.write(memoryview(b"def"))
    d = w.digests()
    assert raw.getvalue() == b"abcdef"
    assert d.sha256 == hashlib.sha256(b"abcdef").hexdigest()
    assert d.git_blob_sha1 == git_blob_sha1(b"abcdef")


def test_hashing_writer_drops_sha1_when_size_differs() -> None:
    w = HashingWriter(io.BytesIO(), expected_size=10)
    w.write(b"short")
    assert w.digests().git_blob_sha1 is None


def test_hashing_progress_counts_every_byte_hashed_by_any_thread(tmp_path: Path) -> None:
    from modelguard.store import digest

    paths = []
    for i in range(3):
        p = tmp_path / f"shard{i}"
        p.write_bytes(b"x" * (3 << 20))
        paths.append(p)
    with digest.hashing_progress(digest.PROGRESS_MIN_BYTES, enabled=True):
        bar = digest._progress
        assert bar is not None
        hash_files(paths, workers=2)
        assert bar.n == 9 << 20  # type: ignore[attr-defined]
    assert digest._progress is None


def test_no_progress_bar_when_disabled_or_small(tmp_path: Path) -> None:
    from modelguard.store import digest

    with digest.hashing_progress(10 << 30, enabled=False):
        assert digest._progress is None
    with digest.hashing_progress(1 << 20, enabled=True):
        assert digest._progress is None


def test_background_hashing_writer_matches_inline_and_stops_its_thread() -> None:
    import threading

    data = [bytes([i]) * (1 << 20) for i in range(20)] + [bytearray(b"tail")]  # more chunks than BACKLOG
    inline, background = HashingWriter(io.BytesIO(), expected_size=20 * (1 << 20) + 4), None
    background = HashingWriter(io.BytesIO(), expected_size=20 * (1 << 20) + 4, background=True)
    for chunk in data:
        inline.write(chunk)
        background.write(chunk)
    data[-1][:] = b"XXXX"  # a caller reusing its buffer after write() must not change what is hashed
    assert background.digests() == inline.digests()
    assert inline.digests().git_blob_sha1 == git_blob_sha1(b"".join(bytes(c) for c in data[:-1]) + b"tail")
    background.close()  # idempotent
    assert not [t for t in threading.enumerate() if t.name == "modelguard-hash"]
