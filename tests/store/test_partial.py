"""Partial downloads (store/partial.py) and hashing bytes that land out of order (store/ordered.py).

A partial is a claim about where bytes are, never a proof: these tests show a record that lies, a
bytes file that is not a file, an old partial and strays are all dropped, and that every byte is
hashed exactly once, in order, whatever order the pieces land in.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from pathlib import Path

import pytest

from modelguard.store.ordered import OrderedHasher
from modelguard.store.partial import MAX_AGE, PartialStore, Ranges

SHA = "ab" * 32


def test_ranges_merge_and_missing() -> None:
    r = Ranges([(10, 20), (0, 5)])
    r.add(5, 10)
    assert r.spans == [(0, 20)]
    r.add(30, 40)
    assert r.total == 30 and r.missing(50) == [(20, 30), (40, 50)]
    assert Ranges().missing(7) == [(0, 7)] and Ranges([(0, 7)]).missing(7) == []


def _claim_with(tmp_path: Path, record: object, part: bytes = b"x" * 100, size: int = 100) -> int:
    store = PartialStore(tmp_path)
    store.folder.mkdir(parents=True)
    (store.folder / f"{SHA}.part").write_bytes(part)
    (store.folder / f"{SHA}.ranges").write_text(json.dumps(record))
    return store.claim(SHA, size).done.total


def test_a_sound_partial_is_resumed(tmp_path: Path) -> None:
    assert _claim_with(tmp_path, {"size": 100, "done": [[0, 40], [60, 80]]}) == 60


@pytest.mark.parametrize("record", [
    {"size": 101, "done": [[0, 40]]},            # another size than the lock's
    {"size": 100, "done": [[0, 140]]},           # past the end
    {"size": 100, "done": [[40, 60], [0, 10]]},  # out of order
    {"size": 100, "done": [[0, 10], [5, 20]]},   # overlapping
    {"size": 100, "done": [[True, 10]]},         # not numbers
    {"size": 100, "done": "all"},
    ["not", "a", "record"],
])
def test_a_record_that_does_not_add_up_is_ignored_and_the_bytes_dropped(tmp_path: Path, record: object) -> None:
    assert _claim_with(tmp_path, record) == 0
    assert (tmp_path / "partial" / f"{SHA}.part").stat().st_size == 0


def test_a_record_claiming_more_than_the_file_holds_is_ignored(tmp_path: Path) -> None:
    assert _claim_with(tmp_path, {"size": 100, "done": [[0, 90]]}, part=b"x" * 50) == 0


def test_a_bytes_file_that_is_a_link_is_not_resumed(tmp_path: Path) -> None:
    store = PartialStore(tmp_path)
    store.folder.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.write_bytes(b"x" * 100)
    (store.folder / f"{SHA}.part").symlink_to(outside)
    (store.folder / f"{SHA}.ranges").write_text(json.dumps({"size": 100, "done": [[0, 100]]}))
    assert store.resumable(SHA, 100) == 0
    assert store.claim(SHA, 100).done.total == 0
    assert outside.read_bytes() == b"x" * 100  # the link was replaced, its target untouched


def test_a_digest_claimed_twice_in_one_model_gets_a_private_partial(tmp_path: Path) -> None:
    store = PartialStore(tmp_path)
    first, second = store.claim(SHA, 10), store.claim(SHA, 10)
    assert first.record is not None and second.record is None and first.part != second.part
    store.forget_claims()
    assert store.claim(SHA, 10).record is not None


def test_sweep_removes_old_partials_strays_and_halves(tmp_path: Path) -> None:
    store = PartialStore(tmp_path)
    young, old = "11" * 32, "22" * 32
    store.folder.mkdir(parents=True)
    for digest in (young, old):
        (store.folder / f"{digest}.part").write_bytes(b"x")
        (store.folder / f"{digest}.ranges").write_text('{"size": 1, "done": [[0, 1]]}')
    stale = time.time() - MAX_AGE - 60
    for name in (f"{old}.part", f"{old}.ranges"):
        os.utime(store.folder / name, (stale, stale))
    (store.folder / "notes.txt").write_text("stray")
    (store.folder / f"{'33' * 32}.part").write_bytes(b"half of a pair")
    (store.folder / f"{young}.0123abcd.part").write_bytes(b"a private partial of a dead run")
    store.sweep()
    assert sorted(p.name for p in store.folder.iterdir()) == [f"{young}.part", f"{young}.ranges"]
    assert [d for d, *_ in store.listing()] == [young]
    store.sweep(now=time.time() + MAX_AGE + 60)
    assert not store.folder.exists()  # empty: the folder goes too


def _hash_in_order(tmp_path: Path, pieces: list[tuple[int, bytes]], size: int, *, landed: Ranges | None = None,
                   git: bool = False) -> tuple[int, str, str | None]:
    path = tmp_path / "file"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        hasher = OrderedHasher(fd, size, git_sha1=git, landed=landed)
        for offset, data in pieces:
            os.pwrite(fd, data, offset)
            hasher.landed(offset, data)
        got = hasher.digests()
    finally:
        os.close(fd)
    return got.size, got.sha256, got.git_blob_sha1


def test_pieces_in_any_order_hash_to_the_file(tmp_path: Path) -> None:
    data = random.Random(1).randbytes(3 << 20)
    pieces = [(i, data[i:i + 100_000]) for i in range(0, len(data), 100_000)]
    random.Random(2).shuffle(pieces)
    size, sha, git = _hash_in_order(tmp_path, pieces, len(data), git=True)
    assert (size, sha) == (len(data), hashlib.sha256(data).hexdigest())
    assert git == hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def test_a_resumed_prefix_is_read_back_and_hashed_once(tmp_path: Path) -> None:
    data = os.urandom(1 << 20)
    (tmp_path / "file").write_bytes(data[:300_000] + bytes(len(data) - 300_000))
    size, sha, _ = _hash_in_order(tmp_path, [(300_000, data[300_000:])], len(data), landed=Ranges([(0, 300_000)]))
    assert (size, sha) == (len(data), hashlib.sha256(data).hexdigest())


def test_a_byte_that_never_landed_stops_the_hash_there(tmp_path: Path) -> None:
    data = os.urandom(1000)
    size, _, git = _hash_in_order(tmp_path, [(0, data[:400]), (500, data[500:])], 1000, git=True)
    assert size == 400 and git is None  # reported short: the caller's size check refuses it
