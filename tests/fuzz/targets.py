"""One fuzz target per parser of untrusted input, each with seeds taken from the test fixtures.

A target is a function of bytes that feeds them to modelguard the way a hostile file or server
would reach it, and lets through only what modelguard raises on purpose: a
:class:`~modelguard.errors.ModelguardError` (a refusal, exit 1/2/3). Anything else escaping
(``KeyError``, ``TypeError``, ``RecursionError``, ``MemoryError``...) is an exit-70 crash, and the
fuzzer reports it. Scanner targets are stricter: ``scan_bytes`` must never raise at all, and its
report must render.

Imports of modelguard happen inside the target functions, so :mod:`tests.fuzz.run` can import
this module first and then instrument modelguard for coverage as the targets load it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
COMMIT = "a" * 40
SHA = hashlib.sha256(b"x").hexdigest()


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    seeds: Callable[[], list[bytes]]
    about: str


def _real(*patterns: str) -> list[bytes]:
    return [p.read_bytes() for pattern in patterns for p in sorted(REAL.glob(pattern)) if p.is_file()]


def _expected(call: Callable[[], object]) -> None:
    """Run ``call``; a ModelguardError is an expected refusal, anything else is a finding for the fuzzer."""
    from modelguard.errors import ModelguardError

    try:
        call()
    except ModelguardError:
        pass


# --- scanners ------------------------------------------------------------------------------------


def _scanner(filename: str) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        from modelguard.models import Report, Severity
        from modelguard.report.text import to_json
        from modelguard.scan import scan_bytes

        result = scan_bytes(data, filename)
        to_json(Report(command="scan", fail_on=Severity.MEDIUM, files=(result,), checked=1))

    return run


def _scanner_seeds(*names: str) -> Callable[[], list[bytes]]:
    def seeds() -> list[bytes]:
        from tests.scan.fuzz_scanners import seeds as corpus

        return [s.data for s in corpus() if s.name.startswith(names)]

    return seeds


def _pickle_seeds() -> list[bytes]:
    return _scanner_seeds("pickle", "joblib")() + _real("sklearn/*.pkl")[:2]


def _zip_seeds() -> list[bytes]:
    return _scanner_seeds("torch-zip", "keras")() + _real("torch/state_dict.pt", "torch/traced.pt")


def _tar_seeds() -> list[bytes]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo("model/config.json")
        info.size = 2
        t.addfile(info, io.BytesIO(b"{}"))
    return [*_scanner_seeds("tar")(), buf.getvalue()]


def _sevenzip_seeds() -> list[bytes]:
    import py7zr

    from tests.scan.containers_build import MALICIOUS_PICKLE

    out = []
    for name, data in (("model.pkl", MALICIOUS_PICKLE), ("config.json", b'{"a": 1}')):
        buf = io.BytesIO()
        with py7zr.SevenZipFile(buf, "w") as z:
            z.writestr(data, name)
        out.append(buf.getvalue())
    return out


def _keras_seeds() -> list[bytes]:
    return _scanner_seeds("keras")() + _real("keras/*.keras")


# --- the user's files ----------------------------------------------------------------------------


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None  # every reader refuses non-UTF-8 before parsing (covered by tests)


def lockfile(data: bytes) -> None:
    from modelguard.spec.lockfile import parse_lockfile, render_lockfile

    text = _text(data)
    if text is None:
        return
    try:
        lock = parse_lockfile(text)
    except Exception as e:
        from modelguard.errors import LockfileError

        if isinstance(e, LockfileError):
            return
        raise
    render_lockfile(lock)  # what was read must render and read back (validate=True)


def _lock_seeds() -> list[bytes]:
    from modelguard.spec.lockfile import render_lockfile
    from modelguard.spec.types import LockedFile, LockedHFModel, LockedProviderModel, Lockfile

    files = (LockedFile("config.json", 2, SHA, "git-blob-sha1", "b" * 40),
             LockedFile("sub/model.safetensors", 10, SHA, "lfs-sha256", None))
    lock = Lockfile(lock_version=1, created_by="modelguard 0.1.0", manifest_sha256=SHA, policy_sha256=SHA,
                    hf_models=(LockedHFModel("tiny", "acme/tiny", "main", COMMIT, files, SHA),),
                    provider_models=(LockedProviderModel("chat", "openai", "gpt-4o", "gpt-4o-2024-08-06", "dated",
                                                         "catalog"),))
    return [render_lockfile(lock).encode()]


_MANIFEST = """\
[policy]
allowed-orgs = ["acme", "google"]
require-safetensors = false
trust-remote-code = "allow-pinned"
fail-on = "medium"
max-file-size = "2GB"

[[policy.remote-code]]
repo = "acme/tiny"
files = { "modeling_x.py" = "SHA" }

[[policy.suppress]]
rule = "MG-S102"
repo = "acme/tiny"
reason = "reviewed"
expires = "2030-01-01"

[[hf-model]]
name = "tiny"
repo = "acme/tiny"
revision = "main"
include = ["*.json", "*.safetensors"]
exclude = ["onnx/*"]

[[provider-model]]
name = "chat"
provider = "openai"
model = "gpt-4o"
""".replace("SHA", SHA)


def manifest(data: bytes) -> None:
    from modelguard.spec.manifest import parse_manifest

    text = _text(data)
    if text is not None:
        # A temp source: a fuzzed policy-file = "..." is resolved next to it, never in the repo.
        _expected(lambda: parse_manifest(text, source=os.path.join(tempfile.gettempdir(), "fuzz", "modelguard.toml")))


def policy(data: bytes) -> None:
    from modelguard.spec.policy import parse_policy
    from modelguard.spec.tomlsource import Table, parse_toml

    text = _text(data)
    if text is None:
        return

    def parse() -> None:
        doc, lines = parse_toml(text, "policy.toml")
        parse_policy(Table(doc, "", "policy.toml", lines))

    _expected(parse)


def _policy_seeds() -> list[bytes]:
    head = _MANIFEST.split("[[hf-model]]")[0].replace("[policy]\n", "").replace("policy.", "")
    return [head.encode(), b'allowed-orgs = ["*"]\n[[revoked]]\ntarget = "acme/tiny@' + COMMIT.encode()
            + b'"\nreason = "x"\n']


# --- signatures, records, logs, the Hub ----------------------------------------------------------


def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def _signer_policy(scope: str) -> Any:
    from modelguard.spec.types import Policy, Signer
    from modelguard.trust import lock_signature as signing

    public = _key().public_key()
    signer = Signer(keyid=signing.keyid(public), algorithm="ed25519", public_key_pem=signing.public_pem(public),
                    scope=scope, line=1)
    return Policy(allowed_orgs=("acme",), signers=(signer,))


_LOCK_BODY = b"lock-version = 1\n"


def dsse(data: bytes) -> None:
    from modelguard.trust.lock_signature import check_lockfile_signature

    check_lockfile_signature(_LOCK_BODY, data, _signer_policy("lockfile"), where="modelguard.lock")


def _dsse_seeds() -> list[bytes]:
    from modelguard.trust import lock_signature as signing

    sig = signing.sign_pae(_key(), signing.pae(signing.LOCK_PAYLOAD_TYPE, _LOCK_BODY))
    envelope = {"payloadType": signing.LOCK_PAYLOAD_TYPE, "payload": base64.b64encode(_LOCK_BODY).decode(),
                "signatures": [{"keyid": signing.keyid(_key().public_key()), "sig": base64.b64encode(sig).decode()}]}
    return [json.dumps(envelope, indent=2).encode()]


_OMS_FILES = {"model.safetensors": SHA, "config.json": hashlib.sha256(b"{}").hexdigest()}


def oms(data: bytes) -> None:
    from modelguard.trust.model_signature import verify_model_signature

    verify_model_signature(data, _OMS_FILES, _signer_policy("acme"), repo="acme/tiny", model_name="tiny")


def _oms_seeds() -> list[bytes]:
    from tests.trust.test_model_signature import bundle, statement

    return [bundle(_key(), statement(_OMS_FILES)),
            bundle(_key(), statement(_OMS_FILES, predicate_type="https://model_signing/signature/v0.1"))]


def record(data: bytes) -> None:
    from modelguard.spec import bounded, limits
    from modelguard.store.admission import AdmissionRecord

    def read() -> None:
        # As store.cache.read_record reads it, then as fetch and snapshot() use it.
        doc = bounded.load_json(data, limits.BUDGETS.record_bytes, what="record")
        record = AdmissionRecord.from_json(doc)
        if record is not None:
            record.results()
            record.judged_by("x", SHA)
            record.to_json()

    try:
        _expected(read)
    except (UnicodeDecodeError, json.JSONDecodeError):
        pass  # read_record treats an unparsable record as absent


def _record_seeds() -> list[bytes]:
    doc = {"record-version": 1, "repo": "acme/tiny", "commit": COMMIT,
           "entries": [{"name": "tiny", "requested-revision": "main", "spec-sha256": SHA}],
           "files": [{"path": "model.pkl", "size": 1, "sha256": SHA, "published": "lfs-sha256", "git-blob-sha1": None,
                      "blob": SHA, "format": "pickle", "verdict": "suspicious", "mtime-ns": 1, "inode": 2,
                      "findings": [{"rule": "MG-S102", "severity": "high", "message": "m", "location": "l"}]}],
           "scanner": "x", "policy-sha256": SHA, "fail-on": "medium", "modelguard-version": "0.1.0",
           "admitted-at": "2026-01-01T00:00:00+00:00"}
    return [json.dumps(doc, indent=2).encode()]


def audit_log(data: bytes) -> None:
    from modelguard.store import audit

    with tempfile.TemporaryDirectory() as root:
        Path(root, audit.LOG_NAME).write_bytes(data)
        _expected(lambda: audit.select(audit.read(root)))


def _audit_seeds() -> list[bytes]:
    line = {"command": "fetch", "time": "2026-01-01T00:00:00.000Z", "model": "tiny", "repo": "acme/tiny",
            "commit": COMMIT, "files": {"a": SHA}, "verdicts": {"a": "clean"}, "v": 1}
    return [(json.dumps(line) + "\n").encode() * 2]


def hub_json(data: bytes) -> None:
    """A Hub answer as the client takes it: bounded JSON, then model info or a tree page, then the layout."""
    from modelguard.hub.metadata import RemoteSnapshot, check_layout, cross_check, parse_model_info, parse_tree_page
    from modelguard.spec import bounded

    def parse() -> None:
        try:
            doc = bounded.load_json(data, what="the Hub's answer")
        except (UnicodeDecodeError, json.JSONDecodeError):
            return
        if isinstance(doc, dict):
            _, siblings = parse_model_info(doc, "acme/tiny")
            files = {p: f for p, f in (siblings or {}).items() if f is not None}
            check_layout(files, set(), "acme/tiny")
            if siblings:
                cross_check(RemoteSnapshot("acme/tiny", COMMIT, tuple(files.values())),
                            {p: f for p, f in siblings.items() if p in files}, "acme/tiny")
        else:
            files, folders = {}, set()
            parse_tree_page(doc, files, folders, "acme/tiny")
            check_layout(files, folders, "acme/tiny")

    _expected(parse)


def _hub_seeds() -> list[bytes]:
    info = {"_id": "x", "id": "acme/tiny", "sha": COMMIT, "siblings": [
        {"rfilename": "config.json", "blobId": "b" * 40, "size": 2},
        {"rfilename": "model.safetensors", "blobId": "c" * 40, "size": 10,
         "lfs": {"sha256": SHA, "size": 10, "pointerSize": 134}}]}
    tree = [{"type": "directory", "oid": "d" * 40, "size": 0, "path": "sub"},
            {"type": "file", "oid": "b" * 40, "size": 2, "path": "config.json"},
            {"type": "file", "oid": "c" * 40, "size": 10, "path": "sub/model.safetensors",
             "lfs": {"oid": SHA, "size": 10, "pointerSize": 134}}]
    return [json.dumps(info).encode(), json.dumps(tree).encode()]


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("pickle", _scanner("model.pkl"), _pickle_seeds, "the pickle VM and its analyser"),
    Target("zip", _scanner("pytorch_model.bin"), _zip_seeds, "zip reader (torch zip, .keras, npz)"),
    Target("tar", _scanner("model.tar"), _tar_seeds, "tar and compressed-stream readers"),
    Target("7z", _scanner("model.7z"), _sevenzip_seeds, "7z reader"),
    Target("safetensors", _scanner("model.safetensors"), lambda: _scanner_seeds("safetensors")()
           + _real("safetensors/*", "hf_llama/*.safetensors"), "safetensors header"),
    Target("gguf", _scanner("model.gguf"), lambda: _real("gguf/*.gguf")[:3], "GGUF header and metadata"),
    Target("onnx", _scanner("model.onnx"), lambda: _scanner_seeds("onnx")() + _real("onnx/*.onnx"),
           "ONNX protobuf"),
    Target("keras", _scanner("model.keras"), _keras_seeds, "Keras v3 archive config"),
    Target("hdf5", _scanner("model.h5"), lambda: _real("keras/*.h5", "pandas/*.h5"),
           "HDF5 structure (Keras, PyTables)"),
    Target("lockfile", lockfile, _lock_seeds, "modelguard.lock"),
    Target("manifest", manifest, lambda: [_MANIFEST.encode()], "modelguard.toml"),
    Target("policy", policy, _policy_seeds, "a policy file"),
    Target("dsse", dsse, _dsse_seeds, "modelguard.lock.sig (DSSE envelope)"),
    Target("oms", oms, _oms_seeds, "model.sig (OpenSSF model signing bundle)"),
    Target("record", record, _record_seeds, "an admission record"),
    Target("audit", audit_log, _audit_seeds, "audit.log lines"),
    Target("hub-json", hub_json, _hub_seeds, "Hub API answers (model info, tree pages)"),
)}


def replay(target: Target, data: bytes) -> None:
    """Run one input through ``target`` as the fuzzer does (for the regression tests)."""
    target.run(data)


__all__ = ["TARGETS", "Target", "replay"]
