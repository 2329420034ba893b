"""The opcode loop's fast paths against the plain per-opcode handlers (differential).

:mod:`modelguard.scan.pickle.loop` decodes the frequent opcodes inline "with exactly the checks
of their handlers". This holds it to that: every file of every corpus the tests know (the real
files, the shared real corpus, the labelled detection corpus of ``bench/corpus.py``, the fuzzer's
seeds) and a few thousand seeded fuzz mutants of them go through both walks, and everything must
agree: the whole file scan (format and every finding), and the pickle analysis of the raw bytes
from offset 0 (findings, ends, imports, value, persistent ids, op, call and item counts).
"""

from __future__ import annotations

import io
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelguard.scan import scan_source
from modelguard.scan.base import BytesSource, Limits, ScanContext
from modelguard.scan.pickle.vm import analyze_stream
from tests.scan.fuzz_scanners import Seed, mutate, seeds
from tests.shared_corpus import CORPUS

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = 3000
SMALL = 256 << 10


def _corpus() -> list[tuple[str, bytes]]:
    files: list[tuple[str, bytes]] = []
    for folder in (ROOT / "tests" / "data" / "real", CORPUS):
        if folder is not None:
            files += [(str(p.relative_to(folder)), p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()]
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import corpus
    finally:
        sys.path.remove(str(ROOT / "bench"))
    files += [(s.name, s.data) for s in corpus.build()]
    files += [(s.filename, s.data) for s in seeds()]
    return files


def _mutants(files: list[tuple[str, bytes]], n: int, seed: int) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    pool = [Seed(name, data, name) for name, data in files if 0 < len(data) <= SMALL]
    for i in range(n):
        picked = rng.choice(pool)
        yield f"mutant-{i}-{picked.name}", mutate(rng, picked, pool).data


def _scan(data: bytes, name: str, *, plain: bool) -> tuple[object, ...]:
    ctx = ScanContext(limits=Limits(), plain_pickle_loop=plain)
    outcome = scan_source(ctx, BytesSource(data, name))
    return outcome.format, outcome.findings


def _walk(data: bytes, *, plain: bool, limits: Limits) -> object:
    analysis = analyze_stream(ScanContext(limits=limits, plain_pickle_loop=plain), io.BytesIO(data), location="x")
    return analysis


@pytest.fixture(scope="module")
def corpus_files() -> list[tuple[str, bytes]]:
    files = _corpus()
    assert len(files) > 200  # the corpora are really there (a missing one would make this vacuous)
    return files


def test_fast_and_plain_loops_agree_on_every_corpus_file(corpus_files: list[tuple[str, bytes]]) -> None:
    for name, data in corpus_files:
        assert _scan(data, name, plain=False) == _scan(data, name, plain=True), name
        assert _walk(data, plain=False, limits=Limits()) == _walk(data, plain=True, limits=Limits()), name


@pytest.mark.slow
def test_fast_and_plain_loops_agree_on_fuzz_mutants(corpus_files: list[tuple[str, bytes]]) -> None:
    for name, data in _mutants(corpus_files, MUTANTS, seed=20261201):
        assert _scan(data, name, plain=False) == _scan(data, name, plain=True), name
        assert _walk(data, plain=False, limits=Limits()) == _walk(data, plain=True, limits=Limits()), name


def test_fast_and_plain_loops_agree_at_every_limit(corpus_files: list[tuple[str, bytes]]) -> None:
    # The fast paths decline when a limit would be crossed; the handler then reports it. Tight
    # limits make every corpus pickle cross them at some opcode: the same one, on both walks.
    pickles = [(n, d) for n, d in corpus_files if d[:1] == b"\x80" and len(d) <= SMALL]
    assert len(pickles) > 40
    for limits in (Limits(max_pickle_ops=40), Limits(max_pickle_container_items=9),
                   Limits(max_pickle_container_items=1)):
        for name, data in pickles:
            fast, plain = _walk(data, plain=False, limits=limits), _walk(data, plain=True, limits=limits)
            assert fast == plain, (name, limits)


def test_a_fast_path_that_strays_from_its_handler_is_caught(corpus_files: list[tuple[str, bytes]]) -> None:
    # The differential has teeth: a SHORT_BINUNICODE fast path that decodes one byte short
    # (an off-by-one of the kind the inline code invites) makes the two walks disagree.
    from modelguard.scan.pickle import loop

    real = loop.FAST[0x8C]
    assert real is not None

    def off_by_one(code: int, buf: bytes, i: int, end: int, *rest: object) -> int:
        j = real(code, buf, i, end, *rest)  # type: ignore[arg-type]
        if j > i + 1:
            stack = rest[0]
            assert isinstance(stack, list)
            stack[-1] = stack[-1][:-1]
        return j

    loop.FAST[0x8C] = off_by_one
    try:
        differ = [name for name, data in corpus_files
                  if _walk(data, plain=False, limits=Limits()) != _walk(data, plain=True, limits=Limits())]
    finally:
        loop.FAST[0x8C] = real
    assert differ
