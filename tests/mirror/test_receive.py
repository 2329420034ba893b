"""The receiver: written, capped and hashed with no copy between the socket and the hashing thread."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from modelguard.errors import IntegrityError
from modelguard.mirror.receive import Receiver
from modelguard.store.digest import CHUNK, git_blob_sha1


def test_both_paths_write_and_hash_every_byte(tmp_path: Path) -> None:
    data = os.urandom(3 * CHUNK + 123)
    for name, feed in (("readinto", lambda r: r.read_from(io.BytesIO(data))),
                       ("chunks", lambda r: [r.write(data[i:i + 70_000]) for i in range(0, len(data), 70_000)])):
        path = tmp_path / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT)
        receiver = Receiver(fd, len(data), name, git_sha1=True)
        feed(receiver)
        got = receiver.digests()
        os.close(fd)
        assert path.read_bytes() == data
        assert (got.size, got.sha256, got.git_blob_sha1) == (len(data), hashlib.sha256(data).hexdigest(),
                                                             git_blob_sha1(data))


def test_more_than_the_locked_size_is_refused_at_the_first_extra_byte(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "x", os.O_WRONLY | os.O_CREAT)
    receiver = Receiver(fd, 10, "x", git_sha1=False)
    with pytest.raises(IntegrityError) as info:
        receiver.read_from(io.BytesIO(b"0123456789A"))
    receiver.close()
    os.close(fd)
    assert info.value.rule == "MG-H002" and (tmp_path / "x").read_bytes() == b""
    assert receiver.digests().git_blob_sha1 is None
