"""A seeded mutation fuzzer for the scanners: robustness and a payload oracle. Never unpickles.

Seeds are small real layouts (pickles of every protocol, torch zip and legacy files, joblib
arrays, npy, tar, gzip, safetensors, GGUF, ONNX, Keras, Jinja, JSON), benign and malicious.
Each iteration applies one to four mutations (bit flips, interesting values, inserts, deletes,
duplicated chunks, truncation, splices from another seed) and checks:

1. the scanner never raises (an exception is exit 70 in the CLI) and the JSON and text
   reports render;
2. (script mode) no scan takes longer than ``--timeout`` seconds;
3. the payload oracle, which holds only where the loader provably still runs the payload:
   - ``prefix`` seeds (raw pickles): every mutation lies after the payload's REDUCE, so
     ``pickle.load`` has imported and called it before reaching a changed byte: the verdict
     must be **malicious**;
   - ``stored`` seeds (the payload pickle stored uncompressed in a container): the payload's
     bytes are untouched; the container may be damaged, so the verdict must be **not clean**
     (a torch tensor-storage member is the one place a stored pickle is legitimately never
     parsed, and the seeds put the payload in ``data.pkl``).

Run long campaigns as a script::

    python -m tests.scan.fuzz_scanners --iterations 3000 --seed 1 [--save DIR]

``tests/scan/test_redteam_fuzz.py`` runs a short, fixed-seed campaign in the test suite.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import signal
import struct
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from modelguard.models import Report, Severity, Verdict
from modelguard.report.text import to_json, to_text
from modelguard.scan import scan_bytes
from tests.scan import picklegen as g
from tests.scan.containers_build import MALICIOUS_PICKLE, legacy_torch, torch_zip

PROTO0 = b"cos\nsystem\n(S'echo pwned'\ntR."


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes
    filename: str
    oracle: str = "none"
    """none | prefix | stored"""
    start: int = 0
    """prefix: offset just after the payload's REDUCE; stored: where the payload bytes begin"""
    end: int = 0
    """stored: where the payload bytes end"""


def _prefix(name: str, data: bytes, filename: str = "model.pkl", *, call: bytes = b"R") -> Seed:
    """A raw pickle whose payload call is the first ``call`` opcode after the import."""
    call_at = data.index(call, data.index(b"system"))
    return Seed(name, data, filename, "prefix", start=call_at + len(call))


def _stored(name: str, data: bytes, payload: bytes, filename: str) -> Seed:
    at = data.index(payload)
    return Seed(name, data, filename, "stored", start=at, end=at + len(payload))


def _npy(descr: str, body: bytes) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": (2,)}).encode()
    header += b" " * ((-(10 + len(header) + 1)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _safetensors() -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                        "__metadata__": {"format": "pt"}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\0" * 16


def _gguf(template: str) -> bytes:
    def s(text: str) -> bytes:
        return struct.pack("<Q", len(text.encode())) + text.encode()

    kvs = [("general.architecture", "llama"), ("tokenizer.chat_template", template)]
    body = b"".join(s(k) + struct.pack("<I", 8) + s(v) for k, v in kvs)
    tensor = s("w") + struct.pack("<I", 1) + struct.pack("<Q", 4) + struct.pack("<I", 0) + struct.pack("<Q", 0)
    out = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kvs)) + body + tensor
    return out + b"\0" * (-len(out) % 32) + b"\0" * 16


def _onnx() -> bytes:
    from tests.scan.test_onnx import _field, graph, model, node, tensor

    return model(graph(_field(1, node("MatMul")), _field(5, tensor("w")), _field(5, tensor("e", "w.bin"))))


def _keras(layer: dict[str, object]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.8.0"}))
        z.writestr("config.json", json.dumps({"module": "keras", "class_name": "Functional",
                                              "config": {"name": "m", "layers": [layer]}}))
    return buf.getvalue()


def seeds() -> list[Seed]:
    """The seed corpus: every format family, benign and malicious."""
    dense = {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 2}}
    lam = {"module": "keras.layers", "class_name": "Lambda", "config": {
        "name": "l", "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAA"}}}}
    ssti = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"
    benign_tpl = "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] }}{% endfor %}"
    return [
        _prefix("pickle-p2", MALICIOUS_PICKLE),
        _prefix("pickle-p0", PROTO0, "model.bin"),
        _prefix("pickle-p4-framed", g.stack_global_call("os", "system", framed=True)),
        _prefix("pickle-p4-memo", g.stack_global_call("os", "system", via_memo=True)),
        _prefix("pickle-inst", g.inst_call("os", "system"), call=b"system\n"),
        Seed("pickle-torch-state-dict", g.torch_state_dict_pickle(), "data.pkl"),
        Seed("pickle-sklearn", g.sklearn_estimator_pickle(), "model.pkl"),
        Seed("joblib-array", g.joblib_array_pickle(bytes(range(64)), aligned=True), "model.joblib"),
        Seed("torch-zip", torch_zip(), "pytorch_model.bin"),
        _stored("torch-zip-malicious", torch_zip(MALICIOUS_PICKLE), MALICIOUS_PICKLE, "pytorch_model.bin"),
        Seed("torch-legacy", legacy_torch(), "model.pt"),
        Seed("npy-float", _npy("<f4", b"\0" * 8), "a.npy"),
        _stored("npy-object", _npy("|O", MALICIOUS_PICKLE), MALICIOUS_PICKLE, "a.npy"),
        _stored("tar-pickle", _tar({"a.txt": b"hi", "m/data.pkl": MALICIOUS_PICKLE}), MALICIOUS_PICKLE, "x.tar"),
        Seed("gzip-pickle", gzip.compress(MALICIOUS_PICKLE, mtime=0), "model.pkl.gz"),
        Seed("safetensors", _safetensors(), "model.safetensors"),
        Seed("gguf-benign", _gguf(benign_tpl), "model.gguf"),
        Seed("gguf-ssti", _gguf(ssti), "model.gguf"),
        Seed("onnx", _onnx(), "model.onnx"),
        Seed("keras-dense", _keras(dense), "model.keras"),
        Seed("keras-lambda", _keras(lam), "model.keras"),
        Seed("jinja", ssti.encode(), "chat_template.jinja"),
        Seed("config-json", json.dumps({"auto_map": {"AutoModel": "m.M"}, "chat_template": benign_tpl}).encode(),
             "config.json"),
    ]


# ---- mutations ----------------------------------------------------------------------------------
_INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff",
                b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", b"\xff" * 8, b".", b"(", b"R", b"\n", b"PK\x03\x04",
                b"PK\x05\x06", b"\x95", b"\x93", b"c", b"}"]


@dataclass
class Mutant:
    data: bytes
    touched: list[int] = field(default_factory=list)
    """offsets (in the original seed's coordinates) at or after which bytes may have changed"""
    lowest: int = 1 << 62
    """lowest original offset any mutation touched (a payload region before it is intact)"""


def mutate(rng: random.Random, seed: Seed, others: list[Seed], *, floor: int = 0) -> Mutant:
    """One to four mutations of ``seed.data``; with ``floor`` every mutation starts at or after it."""
    data = bytearray(seed.data)
    lowest = 1 << 62
    for _ in range(rng.randint(1, 4)):
        if len(data) <= floor:
            break
        at = rng.randrange(floor, len(data))
        op = rng.randrange(8)
        if op == 0:
            data[at] ^= 1 << rng.randrange(8)
        elif op == 1:
            value = rng.choice(_INTERESTING)
            data[at:at + len(value)] = value
        elif op == 2:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 3:
            del data[at:at + rng.randint(1, 32)]
        elif op == 4:
            n = rng.randint(1, 64)
            data[at:at] = data[at:at + n]
        elif op == 5:
            del data[at:]
        elif op == 6:
            other = rng.choice(others).data
            cut = rng.randrange(len(other))
            data[at:] = other[cut:]
        else:
            data[at] = rng.randrange(256)
        lowest = min(lowest, at)
    return Mutant(bytes(data), lowest=lowest)


# ---- the oracle ----------------------------------------------------------------------------------
@dataclass
class Failure:
    seed: str
    iteration: int
    problem: str
    data: bytes


def check(seed: Seed, mutant: Mutant, iteration: int) -> Failure | None:
    """Run the scanner on one mutant and apply the oracle; None when it holds."""
    try:
        result = scan_bytes(mutant.data, seed.filename)
        report = Report(command="scan", fail_on=Severity.MEDIUM, files=(result,), checked=1)
        to_json(report)
        to_text(report, verbose=True)
    except Exception as e:  # the oracle itself: any exception escaping the scanner is a bug
        return Failure(seed.name, iteration, f"raised {type(e).__name__}: {e}", mutant.data)
    if seed.oracle == "prefix" and mutant.lowest >= seed.start and result.verdict is not Verdict.MALICIOUS:
        return Failure(seed.name, iteration, f"payload ran before the first changed byte, verdict "
                       f"{result.verdict.value}", mutant.data)
    if (seed.oracle == "stored" and mutant.lowest >= seed.end and result.verdict is Verdict.CLEAN
            and seed.data[seed.start:seed.end] in mutant.data):
        return Failure(seed.name, iteration, "stored payload intact, verdict clean", mutant.data)
    return None


def campaign(iterations: int, seed: int, *, timeout: float | None = None) -> Iterator[Failure | tuple[str, float]]:
    """Yield every oracle failure and, per seed, the slowest scan time (seed name, seconds).

    For ``prefix`` seeds half the mutations are confined after the payload so the malicious
    oracle is exercised often; the other half go anywhere (robustness only).
    """
    rng = random.Random(seed)
    corpus = seeds()
    for s in corpus:
        slowest = 0.0
        for i in range(iterations):
            floor = s.start if s.oracle == "prefix" and i % 2 == 0 else 0
            floor = s.end if s.oracle == "stored" and i % 2 == 0 else floor
            mutant = mutate(rng, s, corpus, floor=floor)
            started = time.perf_counter()
            if timeout is not None:
                signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                failure = check(s, mutant, i)
            except _Timeout:
                failure = Failure(s.name, i, f"scan took longer than {timeout} s", mutant.data)
            finally:
                if timeout is not None:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            slowest = max(slowest, time.perf_counter() - started)
            if failure is not None:
                yield failure
        yield s.name, slowest


class _Timeout(BaseException):
    """Raised by the alarm handler; a BaseException so the oracle's ``except Exception`` passes it on."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _Timeout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=3000, help="mutations per seed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per scan before it counts as a hang")
    parser.add_argument("--save", type=Path, help="folder to write failing inputs to")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGALRM, _on_alarm)
    failures = 0
    started = time.perf_counter()
    for item in campaign(args.iterations, args.seed, timeout=args.timeout):
        if isinstance(item, tuple):
            print(f"{item[0]:28s} slowest scan {item[1] * 1000:8.1f} ms")
            continue
        failures += 1
        print(f"FAIL {item.seed} #{item.iteration}: {item.problem}")
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            (args.save / f"{item.seed}-{item.iteration}.bin").write_bytes(item.data)
    print(f"{failures} failures in {time.perf_counter() - started:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
