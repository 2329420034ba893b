"""Compressed streams past the ratio limit (issue 17): scanned up to the limit, the rest decompressed
without being stored to tell padding from content; zstd frames; torch.distributed.checkpoint shards
(complete zips back to back). Payloads are harmless opcodes; nothing is unpickled or loaded."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zipfile
from collections.abc import Callable

import pytest
import zstandard

from modelguard.models import Verdict
from modelguard.scan import scan_bytes
from modelguard.scan.base import Limits
from tests.scan.containers_build import MALICIOUS_PICKLE, Scanned
from tests.scan.realdata import REAL

TIGHT = Limits(max_ratio=20, max_discard_bytes=8 << 20)
BENIGN = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s."


def _rules(data: bytes, name: str, limits: Limits = TIGHT) -> tuple[Verdict, set[str], list[str]]:
    r = scan_bytes(data, name, limits=limits)
    return r.verdict, {f.rule for f in r.findings}, [f.message for f in r.findings]


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress, zstandard.compress],
                         ids=["gzip", "bzip2", "xz", "zstd"])
def test_payload_in_front_of_padding_is_scanned_and_the_padding_reported(compress: Callable[[bytes], bytes]) -> None:
    verdict, rules, messages = _rules(compress(MALICIOUS_PICKLE + b"\0" * (4 << 20)), "model.pkl.gz")
    assert verdict is Verdict.MALICIOUS and {"MG-S101", "MG-S207"} <= rules
    assert any("bytes of padding (0x00 repeated)" in m for m in messages)


def test_benign_pickle_with_padding_is_suspicious_not_unscannable() -> None:
    verdict, rules, _ = _rules(gzip.compress(BENIGN + b"\xff" * (4 << 20)), "model.pkl.gz")
    assert verdict is Verdict.SUSPICIOUS and "MG-S207" in rules and "MG-S003" not in rules


def test_content_after_the_limit_is_a_limit_finding_and_the_prefix_is_still_scanned() -> None:
    data = gzip.compress(MALICIOUS_PICKLE + b"\0" * (2 << 20) + os.urandom(4096))
    verdict, rules, messages = _rules(data, "model.pkl.gz")
    assert verdict is Verdict.MALICIOUS and {"MG-S101", "MG-S003"} <= rules and "MG-S207" not in rules
    assert any("holds more than padding; only its first" in m for m in messages)


def test_padding_longer_than_the_discard_budget_is_a_limit_finding() -> None:
    data = gzip.compress(BENIGN + b"\0" * (16 << 20))
    verdict, rules, messages = _rules(data, "model.pkl.gz")
    assert verdict is Verdict.UNSCANNABLE and "MG-S003" in rules
    assert any("continues past 8388608 bytes of padding" in m for m in messages)


@pytest.mark.slow
def test_gzip_padded_to_160_mib_at_the_default_limits() -> None:
    # The held-out shape of issue 17: ratio just over 1,000:1, a payload in front.
    verdict, rules, _ = _rules(gzip.compress(MALICIOUS_PICKLE + b"\0" * (160 << 20), 9), "model.pkl.gz",
                               limits=Limits())
    assert verdict is Verdict.MALICIOUS and {"MG-S101", "MG-S207"} <= rules


# ---- zstd -------------------------------------------------------------------------------------------
def test_zstd_pickles() -> None:
    c = zstandard.ZstdCompressor()
    assert _rules(c.compress(MALICIOUS_PICKLE), "x.pkl.zst")[0] is Verdict.MALICIOUS
    assert _rules(c.compress(BENIGN), "x.pkl.zst") == (Verdict.CLEAN, set(), [])
    # a second frame is read as part of the same stream (pandas and zstandard.open do)
    assert "MG-S101" in _rules(c.compress(b"\x80\x02N.") + c.compress(MALICIOUS_PICKLE), "x.zst")[1]
    skippable = b"\x50\x2a\x4d\x18" + (4).to_bytes(4, "little") + b"meta"
    assert _rules(skippable + c.compress(MALICIOUS_PICKLE), "x.zst")[0] is Verdict.MALICIOUS


def test_broken_zstd_is_reported_and_what_decoded_is_scanned() -> None:
    c = zstandard.ZstdCompressor()
    verdict, rules, _ = _rules(c.compress(MALICIOUS_PICKLE + os.urandom(20000))[:-64], "x.zst")
    assert verdict is Verdict.MALICIOUS and {"MG-S001", "MG-S101"} <= rules
    verdict, rules, messages = _rules(c.compress(BENIGN) + b"not a frame", "x.zst")
    assert verdict is Verdict.SUSPICIOUS and rules == {"MG-S206"}
    corrupt = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(b"model weights " * 500))
    corrupt[-2] ^= 0xFF  # the frame's checksum no longer matches
    verdict, rules, messages = _rules(bytes(corrupt), "x.zst")
    assert verdict is Verdict.UNSCANNABLE and "MG-S001" in rules
    assert any("zstd stream is corrupt" in m for m in messages)


def test_zstd_bomb_output_is_bounded() -> None:
    # 64 MiB of zeros in a few KB: stored only up to the ratio limit, the rest counted as padding.
    data = zstandard.ZstdCompressor(level=19).compress(b"\0" * (64 << 20))
    assert len(data) < 10_000
    _verdict, rules, _ = _rules(data, "x.zst", limits=Limits(max_ratio=100, max_discard_bytes=1 << 30))
    assert "MG-S207" in rules


# ---- torch.distributed.checkpoint shards --------------------------------------------------------------
def _record(pickle_bytes: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/version", "3\n")
    return buf.getvalue()


def test_concatenated_torch_records_are_each_scanned(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    benign = scan_cli(_record(BENIGN) + _record(BENIGN) + _record(b"\x80\x02K\x03."), "__0_0.distcp")
    assert benign.format == "pytorch-dcp-shard" and benign.verdict == "clean"
    evil = scan_cli(_record(BENIGN) + _record(MALICIOUS_PICKLE), "__0_0.distcp")
    assert evil.verdict == "malicious" and "MG-S101" in evil.rules
    assert any("@archive 1 (offset" in loc for loc in evil.locations)


def test_a_record_followed_by_other_bytes_is_still_a_polyglot(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    r = scan_cli(_record(BENIGN) + b"junk" + _record(BENIGN), "__0_0.distcp")
    assert r.format != "pytorch-dcp-shard" and "MG-S202" in r.rules


def test_real_dcp_shard_with_a_payload_record_spliced_in(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    shard = (REAL / "torch" / "dcp" / "__0_0.distcp").read_bytes()
    first_end = shard.index(b"PK\x05\x06") + 22  # the first record's end-of-central-directory, no comment
    r = scan_cli(shard[:first_end] + _record(MALICIOUS_PICKLE) + shard[first_end:], "__0_0.distcp")
    assert r.format == "pytorch-dcp-shard" and r.verdict == "malicious"
