"""Red-team corpus, container family: how payloads hide in archives, compression and framing.

Built from raw bytes (zip headers written field by field, tar/7z/compressed wrappers of an
``os.system("echo pwned")`` pickle that is never unpickled). ``MAL`` cases must be malicious
(the pickle's import is visible to the scanner), ``NOT_CLEAN`` cases at least suspicious or
unscannable; every case also exits 1 through the CLI.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import zlib
from collections.abc import Callable

import lz4.frame
import py7zr
import pytest

from modelguard.models import Verdict
from modelguard.scan import scan_bytes
from tests.scan.containers_build import (
    MALICIOUS_PICKLE,
    Entry,
    Scanned,
    build_zip,
    legacy_torch,
    torch_zip,
    torch_zip_entries,
)
from tests.scan.redteam import MAL, NOT_CLEAN, assert_caught

BROKEN = MALICIOUS_PICKLE[:-1] + b"\x00garbage after the call"
"""nullifAI: the REDUCE runs, then the stream breaks before STOP"""
PROTO0 = b"cos\nsystem\n(S'echo pwned'\ntR."


def _7z(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(data, name)
    return buf.getvalue()


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _member(name: str, data: bytes | None = None, kind: bytes = tarfile.REGTYPE, link: str = "") -> tuple[
        tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if data is not None else 0
    return info, data


def _npy(descr: object, body: bytes) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": (1,)}).encode()
    header += b" " * ((-(10 + len(header) + 1)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


def _torch_tar(*, pickle: bytes, tensors: bytes, storages: bytes) -> bytes:
    """torch's pre-1.6 tar checkpoint: sys_info, pickle, tensors, storages members."""
    members = {"sys_info": b"\x80\x02}.", "pickle": pickle, "tensors": tensors, "storages": storages}
    return _tar([_member(n, d) for n, d in members.items()], fmt=tarfile.PAX_FORMAT)


def _gguf_pickle_polyglot() -> bytes:
    """'G' is BINFLOAT: "GGUF" + version + one count byte is an 8-byte float, then a payload."""
    return b"GGUF\x03\x00\x00\x00\x00" + b"0" + PROTO0 + b"\0" * 64


def _patched(data: bytes, sig: bytes, field: int, value: int) -> bytes:
    """``data`` with the 2-byte field at ``field`` of the first ``sig`` header set to ``value``."""
    out = bytearray(data)
    at = out.find(sig) + field
    out[at:at + 2] = struct.pack("<H", value)
    return bytes(out)


_STORED_PKL = torch_zip_entries(MALICIOUS_PICKLE)

CASES: list[tuple[str, bytes, str, str]] = [
    # -- broken pickles that execute before the error, in every wrapper (nullifAI)
    ("7z-torch-broken-pickle", _7z({"archive/data.pkl": BROKEN, "archive/version": b"3\n"}), "model.pt", MAL),
    ("zip-torch-broken-pickle", torch_zip(BROKEN), "pytorch_model.bin", MAL),
    ("gzip-broken-pickle", gzip.compress(BROKEN), "model.pkl.gz", MAL),
    ("gzip-truncated-stream", gzip.compress(MALICIOUS_PICKLE)[:-12], "model.joblib", MAL),
    # -- zip header confusion: the loader reads the central directory, zipfile refuses
    ("zip-local-central-name-mismatch",
     build_zip([Entry("archive/data.pkl", MALICIOUS_PICKLE, local_name="archive/data/9"), *_STORED_PKL[1:]]),
     "model.pt", MAL),
    ("zip-bad-crc", build_zip([Entry("archive/data.pkl", MALICIOUS_PICKLE, crc=0x1234), *_STORED_PKL[1:]]),
     "model.pt", MAL),
    ("zip-encrypted-flag-on-plain-member",
     build_zip([Entry("archive/data.pkl", MALICIOUS_PICKLE, flags=1), *_STORED_PKL[1:]]), "model.pt", MAL),
    ("zip-local-method-unknown", _patched(torch_zip(MALICIOUS_PICKLE), b"PK\x03\x04", 8, 99), "model.pt", MAL),
    ("zip-central-method-unknown", _patched(torch_zip(MALICIOUS_PICKLE), b"PK\x01\x02", 10, 99), "model.pt",
     NOT_CLEAN),
    ("zip-no-central-directory", build_zip(torch_zip_entries(MALICIOUS_PICKLE), central=False), "model.pt", MAL),
    ("zip-deflated-pickle", build_zip([Entry(e.name, e.data, method=8) for e in _STORED_PKL]), "model.pt", MAL),
    ("zip-pickle-under-any-name", build_zip([Entry("weights/readme.txt", MALICIOUS_PICKLE)]), "x.zip", MAL),
    ("zip-path-traversal", build_zip([Entry("../../.bashrc", b"echo pwned\n")]), "x.zip", NOT_CLEAN),
    ("zip-symlink", build_zip([Entry("link", b"/etc/passwd", create_system=3, external_attr=0o120777 << 16)]),
     "x.zip", NOT_CLEAN),
    # -- polyglots: pickle.load reads from byte 0, the archive reader from elsewhere
    ("pickle-then-torch-zip", MALICIOUS_PICKLE + torch_zip(), "model.pt", MAL),
    ("torch-legacy-then-zip", legacy_torch(suffix=torch_zip(MALICIOUS_PICKLE)), "model.pt", MAL),
    ("tar-whose-member-name-is-a-pickle", _tar([_member(PROTO0.decode(), b"hello")]), "model.tar", MAL),
    ("gguf-header-that-is-a-pickle", _gguf_pickle_polyglot(), "model.gguf", MAL),
    # -- torch legacy formats: every pickle runs on load
    ("torch-legacy-malicious-sys-info",
     legacy_torch().replace(b"\x80\x02}(", b"\x80\x02cos\nsystem\n(S'echo'\ntR0}(", 1), "model.pt", MAL),
    ("torch-tar-malicious-tensors-pickle",
     _torch_tar(pickle=b"\x80\x02}.", tensors=MALICIOUS_PICKLE, storages=b"\x80\x02K\x00."), "model.pt", MAL),
    ("torch-tar-malicious-storages-pickle",
     _torch_tar(pickle=b"\x80\x02}.", tensors=b"\x80\x02K\x00.", storages=MALICIOUS_PICKLE), "model.pt", MAL),
    # -- TorchScript: torch.load(weights_only=True) dispatched to torch.jit.load (CVE-2025-32434), which
    #    compiles and runs the archive's code/ files
    ("torchscript-code-writes-a-file", build_zip([
        Entry("archive/data.pkl", b"\x80\x02}."), Entry("archive/constants.pkl", b"\x80\x02)."),
        Entry("archive/code/__torch__/m.py", b"class M(Module):\n  def forward(self, x: Tensor) -> Tensor:\n"
              b"    _0 = ops.aten.save(x, '/tmp/pwned')\n    return x\n"),
        Entry("archive/version", b"3\n")]), "model.pt", NOT_CLEAN),
    # -- compression layers joblib and others read
    ("tar-gz-pickle", gzip.compress(_tar([_member("data.pkl", MALICIOUS_PICKLE)])), "model.tar.gz", MAL),
    ("bz2-pickle", bz2.compress(MALICIOUS_PICKLE), "model.joblib", MAL),
    ("xz-pickle", lzma.compress(MALICIOUS_PICKLE), "model.joblib", MAL),
    ("lzma-alone-pickle", lzma.compress(MALICIOUS_PICKLE, format=lzma.FORMAT_ALONE), "model.joblib", MAL),
    ("zlib-pickle", zlib.compress(MALICIOUS_PICKLE), "model.joblib", MAL),
    ("lz4-pickle", lz4.frame.compress(MALICIOUS_PICKLE), "model.joblib", MAL),
    ("gzip-members-concatenated", gzip.compress(b"\x80\x02N.") + gzip.compress(MALICIOUS_PICKLE), "m.pkl.gz",
     MAL),
    ("zip-in-tar-in-xz", lzma.compress(_tar([_member("inner.zip", build_zip([Entry("a/b.pkl", BROKEN)]))])),
     "bundle.tar.xz", MAL),
    # -- archive paths and links
    ("tar-path-traversal", _tar([_member("../../evil.py", b"x = 1\n")]), "x.tar", NOT_CLEAN),
    ("tar-absolute-path", _tar([_member("/etc/cron.d/x", b"* * * * * root id\n")]), "x.tar", NOT_CLEAN),
    ("tar-symlink", _tar([_member("link", None, tarfile.SYMTYPE, "/etc/passwd")]), "x.tar", NOT_CLEAN),
    ("tar-hardlink", _tar([_member("link", None, tarfile.LNKTYPE, "/etc/passwd")]), "x.tar", NOT_CLEAN),
    # -- numpy: object arrays are pickles whatever the dtype is called
    ("npy-object-pipe-O", _npy("|O", MALICIOUS_PICKLE), "a.npy", MAL),
    ("npy-object-by-name", _npy("object", MALICIOUS_PICKLE), "a.npy", MAL),
    ("npy-object-subarray", _npy(("|O", (2,)), MALICIOUS_PICKLE), "a.npy", MAL),
    ("npy-object-in-struct", _npy([("a", "<f4"), ("b", "|O")], MALICIOUS_PICKLE), "a.npy", MAL),
    ("npy-unknown-dtype-spelling", _npy("np.object_", MALICIOUS_PICKLE), "a.npy", MAL),
    ("npz-object-member", build_zip([Entry("arr_0.npy", _npy("|O", MALICIOUS_PICKLE))]), "a.npz", MAL),
    ("npy-trailing-pickle", _npy("<f4", b"\0" * 4 + MALICIOUS_PICKLE), "a.npy", MAL),
]


@pytest.mark.parametrize(("data", "name", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_attack_is_caught(data: bytes, name: str, expected: str,
                          scan_cli: Callable[[bytes, str], Scanned]) -> None:
    assert_caught(data, name, expected, scan_cli)


def test_benign_tar_and_npy_stay_clean() -> None:
    assert scan_bytes(_tar([_member("config.json", b'{"a": 1}')]), "x.tar").verdict is Verdict.CLEAN
    assert scan_bytes(_npy(("<f4", (2,)), b"\0" * 8), "a.npy").verdict is Verdict.CLEAN
