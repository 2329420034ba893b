"""Parallel and resumable downloads (hub/pool.py, hub/ranged.py) against the loopback fake Hub.

The fake Hub counts every body byte it serves (``bytes_served``) and caps each connection's rate
(``limit_rate``), so these tests measure what a resumed fetch downloads again, and can stop a real
``modelguard fetch`` process with kill -9 half way. A server that ignores ``Range`` (MG-H150), answers
another range (MG-H152), and a partial changed between runs (MG-H151) are each shown to the report,
and nothing unverified is ever admitted.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.flows.fetch import fetch_locked
from modelguard.hub.client import download, head_file
from modelguard.hub.jobs import cut
from modelguard.hub.pool import Pool, Want
from modelguard.spec.types import Lockfile
from modelguard.store.partial import PartialStore
from tests.cache_helpers import allow_all, publish, quick_client, write_project
from tests.fakehub import FakeHub, Fault

MIB = 1 << 20


def safetensors(size: int, seed: int) -> bytes:
    """A valid safetensors file: one U8 tensor of ``size`` pseudo-random bytes (the scan reads the header)."""
    header = json.dumps({"w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}}).encode()
    header += b" " * (-len(header) % 8)
    block = os.urandom(64 << 10) if seed < 0 else bytes((seed * 7 + i) % 251 for i in range(64 << 10))
    return struct.pack("<Q", len(header)) + header + (block * (size // len(block) + 1))[:size]


def shards(count: int, size: int) -> dict[str, bytes]:
    return {f"model-{i + 1:05d}-of-{count:05d}.safetensors": safetensors(size, -1) for i in range(count)}


def fetch_cmd(hub: FakeHub, lock: Path, cache: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "modelguard", "--endpoint", hub.endpoint, "fetch", "--lockfile", str(lock),
            "--cache-dir", str(cache), "--format", "json", *extra]


def child_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT")}
    env["HF_HOME"] = str(tmp_path / "hf-home")
    return env


def partials(cache: Path) -> list[Path]:
    folder = cache / "quarantine" / "partial"
    return sorted(folder.glob("*.part")) if folder.is_dir() else []


def gets(hub: FakeHub) -> list[tuple[str, str]]:
    """(file name, Range header or "") of every GET of file content the Hub and its CDN served."""
    return [(r.path.split("?")[0].rsplit("/", 1)[-1], r.headers.get("range", "")) for r in hub.requests
            if r.method == "GET" and not r.path.startswith("/api/models/")]


@pytest.mark.slow
def test_kill_9_half_way_then_fetch_downloads_at_most_60_percent_again(fake_hub: FakeHub, tmp_path: Path) -> None:
    files = shards(4, 8 * MIB)
    model = publish(fake_hub, "big", "acme/big", files, lfs=list(files))
    total = sum(len(v) for v in files.values())
    lock, _ = write_project(tmp_path, [model])
    cache = tmp_path / "cache"
    start = fake_hub.bytes_served
    _killed_half_way(fake_hub, tmp_path, lock, cache, total)  # 4 connections at 1 MiB/s: killed after ~4 s
    served_before_kill = fake_hub.bytes_served - start
    assert not (cache / "hub" / "models--acme--big").exists()  # nothing admitted
    assert len(partials(cache)) == 4  # every file left a partial, with its ranges record
    fake_hub.clear_requests()
    start = fake_hub.bytes_served
    done = subprocess.run(fetch_cmd(fake_hub, lock, cache), env=child_env(tmp_path), capture_output=True, text=True,
                          timeout=120)
    again = fake_hub.bytes_served - start
    assert done.returncode == 0, done.stderr
    assert [m["status"] for m in json.loads(done.stdout)["models"]] == ["admitted"]
    # Issue 15: a fetch killed half way re-downloads at most 60 % of the model's bytes.
    assert again <= 0.6 * total, (again / total, served_before_kill / total)
    assert all(rng.startswith("bytes=") for _, rng in gets(fake_hub))  # every file continued, none restarted
    assert partials(cache) == [] and not (cache / "quarantine" / "partial").exists()
    assert run(["verify", "--lockfile", str(lock), "--cache-dir", str(cache)]) == 0


def _killed_half_way(hub: FakeHub, tmp_path: Path, lock: Path, cache: Path, total: int) -> None:
    """Run ``modelguard fetch`` in a process and kill -9 it once the Hub served about half of ``total``."""
    hub.limit_rate(MIB)
    start = hub.bytes_served
    child = subprocess.Popen(fetch_cmd(hub, lock, cache), env=child_env(tmp_path), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while hub.bytes_served - start < total // 2:
            assert child.poll() is None and time.monotonic() < deadline, "fetch never got half way"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    hub.limit_rate(None)


def _interrupted(fake_hub: FakeHub, tmp_path: Path, files: dict[str, bytes]) -> tuple[Path, Path]:
    """A project whose fetch was killed half way, with part of each file kept in quarantine."""
    model = publish(fake_hub, "big", "acme/big", files, lfs=list(files))
    lock, _ = write_project(tmp_path, [model])
    cache = tmp_path / "cache"
    _killed_half_way(fake_hub, tmp_path, lock, cache, sum(len(v) for v in files.values()))
    assert len(partials(cache)) == len(files)
    return lock, cache


def test_a_cut_transfer_is_continued_by_the_next_fetch(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    files = shards(2, 2 * MIB)
    lock, cache = _interrupted(fake_hub, tmp_path, files)
    fake_hub.clear_requests()
    capsys.readouterr()
    assert run(["--endpoint", fake_hub.endpoint, "fetch", "--lockfile", str(lock), "--cache-dir", str(cache)]) == 0
    assert sorted(name for name, rng in gets(fake_hub) if rng.startswith("bytes=")) == sorted(files)
    assert partials(cache) == []


def test_a_server_that_ignores_range_is_detected_and_the_file_restarted(
    fake_hub: FakeHub, tmp_path: Path, capsys
) -> None:
    files = shards(2, 2 * MIB)
    lock, cache = _interrupted(fake_hub, tmp_path, files)
    first = sorted(files)[0]
    fake_hub.inject(Fault.IGNORE_RANGE, repo="acme/big", path=first)
    fake_hub.clear_requests()
    capsys.readouterr()
    code = run(["--endpoint", fake_hub.endpoint, "fetch", "--lockfile", str(lock), "--cache-dir", str(cache),
                "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    assert [m["status"] for m in doc["models"]] == ["admitted"]
    notes = [f for f in doc["findings"] if f["rule"] == "MG-H150"]
    assert len(notes) == 1 and first in notes[0]["message"]
    # Detected: the 200 answer to the Range request was dropped, and the whole file asked for once more.
    asked = [rng for name, rng in gets(fake_hub) if name == first]
    assert len(asked) == 2 and asked[0].startswith("bytes=") and asked[1] == "", asked
    assert run(["verify", "--lockfile", str(lock), "--cache-dir", str(cache)]) == 0


def test_a_partial_changed_between_runs_is_discarded_and_downloaded_again(
    fake_hub: FakeHub, tmp_path: Path, capsys
) -> None:
    files = shards(1, 2 * MIB)
    lock, cache = _interrupted(fake_hub, tmp_path, files)
    (part,) = partials(cache)
    with open(part, "r+b") as f:  # someone flips a byte of what the cut run kept
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 1]))
    capsys.readouterr()
    code = run(["--endpoint", fake_hub.endpoint, "fetch", "--lockfile", str(lock), "--cache-dir", str(cache),
                "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    assert "MG-H151" in {f["rule"] for f in doc["findings"]}
    assert run(["verify", "--lockfile", str(lock), "--cache-dir", str(cache)]) == 0  # the admitted bytes are right


def test_a_range_answered_with_other_bytes_is_refused(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    files = shards(1, 2 * MIB)
    lock, cache = _interrupted(fake_hub, tmp_path, files)
    fake_hub.inject(Fault.WRONG_RANGE, repo="acme/big")
    capsys.readouterr()
    code = run(["--endpoint", fake_hub.endpoint, "fetch", "--lockfile", str(lock), "--cache-dir", str(cache),
                "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [m["status"] for m in doc["models"]] == ["refused"]
    assert {f["rule"] for f in doc["findings"]} == {"MG-H152"}  # a staging failure is a finding of the model
    assert not (cache / "hub" / "models--acme--big").exists()
    assert partials(cache) == []  # bytes from a server that lies about ranges are not kept


def test_a_big_file_comes_in_pieces_over_several_connections(fake_hub: FakeHub, tmp_path: Path) -> None:
    data = safetensors(3 * MIB, 5)
    model = publish(fake_hub, "one", "acme/one", {"model.safetensors": data}, lfs=["model.safetensors"])
    client = quick_client(fake_hub.endpoint)
    store = PartialStore(tmp_path / "q")
    (lf,) = model.files
    pool = Pool(client, model.repo, model.commit, workers=4, piece=MIB // 2,
                claim=lambda want, size: store.claim(lf.sha256, size),
                head=lambda path, size: head_file(client, model.repo, model.commit, path, size))
    fake_hub.clear_requests()
    done = pool.run([Want(lf.path, lf.size, lf.sha256, tmp_path / "out")])[lf.path]
    assert done.error is None and done.digests is not None and done.digests.sha256 == lf.sha256
    assert (tmp_path / "out").read_bytes() == data
    ranges = [rng for _, rng in gets(fake_hub)]
    assert len(ranges) == 6 and all(rng.startswith("bytes=") for rng in ranges)


def test_download_leaves_nothing_behind_when_refused(fake_hub: FakeHub, tmp_path: Path) -> None:
    model = publish(fake_hub, "one", "acme/one", {"model.safetensors": safetensors(MIB, 3)}, lfs=["model.safetensors"])
    (lf,) = model.files
    fake_hub.inject(Fault.TAMPER, repo="acme/one")
    with pytest.raises(Exception) as caught:
        download(quick_client(fake_hub.endpoint), model.repo, model.commit, lf.path, tmp_path / "out" / "f",
                 expected_size=lf.size, expected_sha256=lf.sha256)
    assert getattr(caught.value, "rule", None) == "MG-H001"
    assert list((tmp_path / "out").iterdir()) == []


def test_many_files_share_a_bounded_pool(fake_hub: FakeHub, tmp_path: Path) -> None:
    files = {f"f{i:02d}.safetensors": safetensors(5000, i) for i in range(12)}
    model = publish(fake_hub, "many", "acme/many", files, lfs=list(files))
    lock = Lockfile(1, "modelguard 0.1.0", "0" * 64, hf_models=(model,))
    report = fetch_locked(lock, allow_all(), cache_dir=tmp_path / "cache", workers=3,
                          client_factory=lambda: quick_client(fake_hub.endpoint))
    assert report.exit_code == 0 and [m.status.value for m in report.models or ()] == ["admitted"]


def test_every_piece_and_every_resume_is_held_to_the_minimum_rate(fake_hub: FakeHub, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14's pace holds per request in the pool: each ranged piece, and each resume of a stalled one,
    gets its own deadline and minimum rate. A server slower than the minimum on every connection leaves
    the file with no verdict (MG-H134) after the client's retry, which asked for the rest from the next byte;
    what arrived is kept to resume, never handed over."""
    monkeypatch.setenv("MODELGUARD_LIMIT_MIN_RATE", str(MIB))
    monkeypatch.setenv("MODELGUARD_LIMIT_RATE_WINDOW", "1")
    data = safetensors(2 * MIB, 9)
    model = publish(fake_hub, "one", "acme/one", {"model.safetensors": data}, lfs=["model.safetensors"])
    client = quick_client(fake_hub.endpoint)  # one retry
    store = PartialStore(tmp_path / "q")
    (lf,) = model.files
    pool = Pool(client, model.repo, model.commit, workers=2, piece=MIB,
                claim=lambda want, size: store.claim(lf.sha256, size),
                head=lambda path, size: head_file(client, model.repo, model.commit, path, size))
    fake_hub.clear_requests()
    fake_hub.limit_rate(128 << 10)  # 128 KiB/s per connection, an eighth of the minimum
    try:
        done = pool.run([Want(lf.path, lf.size, lf.sha256, tmp_path / "out")])[lf.path]
    finally:
        fake_hub.limit_rate(None)
    assert done.error is not None and done.error.rule == "MG-H134" and done.digests is None
    assert not (tmp_path / "out").exists()
    asked = [tuple(int(x) for x in rng.removeprefix("bytes=").split("-")) for _, rng in gets(fake_hub)]
    pieces = [(a, b - 1) for a, b in cut(0, lf.size, MIB)]
    assert len(pieces) == 2 and len(asked) == 4  # two pieces, each stalled, each resumed once
    firsts = [r for r in asked if r in pieces]
    resumes = [r for r in asked if r not in pieces]
    assert sorted(firsts) == pieces
    # each resume asked for the rest of its piece, from the byte after what arrived
    assert sorted(end for _, end in resumes) == [end for _, end in pieces]
    assert all(start > piece_start for (start, _), (piece_start, _) in zip(sorted(resumes), pieces, strict=True))
    kept = store.resumable(lf.sha256, lf.size)
    assert 0 < kept < lf.size  # what arrived waits for the next fetch


@pytest.mark.parametrize("missing", [False, True])
def test_flowing_is_set_once_every_connection_has_its_piece_while_bytes_still_arrive(fake_hub: FakeHub,
                                                                                      tmp_path: Path,
                                                                                      missing: bool) -> None:
    """Pool.flowing tells the caller its side work (the file listing, scanner imports) no longer delays a
    first byte: set once every transfer connection has its piece, long before the bytes are all in. Also
    when a file never gets a transfer (``missing``: its HEAD answers 404), so fewer pieces start than the
    pool has connections for."""
    import threading

    files = shards(3, 2 * MIB)
    model = publish(fake_hub, "three", "acme/three", files, lfs=list(files))
    client = quick_client(fake_hub.endpoint)
    store = PartialStore(tmp_path / "q")
    locked = {lf.path: lf for lf in model.files}
    pool = Pool(client, model.repo, model.commit, workers=4,
                claim=lambda want, size: store.claim(locked[want.path].sha256, size),
                head=lambda path, size: head_file(client, model.repo, model.commit, path, size))
    wants = [Want(lf.path, lf.size, lf.sha256, tmp_path / lf.path) for lf in model.files]
    if missing:
        lf = model.files[0]
        locked["absent.safetensors"] = lf
        wants.append(Want("absent.safetensors", lf.size, lf.sha256, tmp_path / "absent"))
    results: list[object] = []
    fake_hub.limit_rate(2 * MIB)  # a second a file
    try:
        before = fake_hub.bytes_served
        runner = threading.Thread(target=lambda: results.append(pool.run(wants)))
        runner.start()
        assert pool.flowing.wait(timeout=30)
        served = fake_hub.bytes_served - before
        runner.join(timeout=60)
    finally:
        fake_hub.limit_rate(None)
    assert served < sum(len(v) for v in files.values()) // 2  # set while the transfers run
    assert results
    done = results[0]
    assert all(done[lf.path].error is None for lf in model.files)  # type: ignore[index]
    if missing:
        assert done["absent.safetensors"].error is not None  # type: ignore[index]


def test_fetch_asks_for_the_listing_after_every_head_and_still_checks_it(fake_hub: FakeHub, tmp_path: Path) -> None:
    """The listing (revision + tree) is needed before admission, not before the first byte: fetch asks for it
    once the transfers are under way, after every file's HEAD, and still refuses what it contradicts."""
    files = shards(3, MIB)
    model = publish(fake_hub, "three", "acme/three", files, lfs=list(files))
    lock = Lockfile(1, "modelguard 0.1.0", "0" * 64, hf_models=(model,))
    fake_hub.clear_requests()
    report = fetch_locked(lock, allow_all(), cache_dir=tmp_path / "cache", workers=3,
                          client_factory=lambda: quick_client(fake_hub.endpoint))
    assert report.exit_code == 0 and [m.status.value for m in report.models or ()] == ["admitted"]
    asked = [(r.method, r.path) for r in fake_hub.requests]
    listing = next(i for i, (_, p) in enumerate(asked) if p.startswith("/api/models/acme/three/revision/"))
    heads = [i for i, (m, _) in enumerate(asked) if m == "HEAD"]
    assert len(heads) == 3 and max(heads) < listing

    # A HEAD that announces another hash than the lock's: the gate needs the listing at once (no waiting for
    # transfers that will not start), the file is refused without a byte of it asked for, the rest proceed.
    other = publish(fake_hub, "other", "acme/other", shards(3, MIB), lfs=list(files))
    bad = other.files[0].path
    fake_hub.inject(Fault.BAD_ETAG, repo="acme/other", path=bad, value="ab" * 32)
    fake_hub.clear_requests()
    report = fetch_locked(Lockfile(1, "modelguard 0.1.0", "0" * 64, hf_models=(other,)), allow_all(),
                          cache_dir=tmp_path / "cache", workers=3,
                          client_factory=lambda: quick_client(fake_hub.endpoint))
    assert report.exit_code == 1 and [m.status.value for m in report.models or ()] == ["refused"]
    assert {f.rule for f in report.all_findings() if f.path == bad} == {"MG-H003"}
    assert bad not in [name for name, _ in gets(fake_hub)]
    assert not (tmp_path / "cache" / "hub" / "models--acme--other").exists()
