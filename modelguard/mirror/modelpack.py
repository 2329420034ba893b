"""The CNCF ModelPack shape of a locked model as an OCI artifact, and modelguard's referrer artifacts.

One artifact per ``repo@commit``: an OCI image manifest with ``artifactType``
``application/vnd.cncf.model.manifest.v1+json``, a ModelPack config
(``application/vnd.cncf.model.config.v1+json``: descriptor, config, ``modelfs.diff_ids``) and one
``.raw`` layer per locked file whose digest is the file's locked SHA-256. Each layer carries the
file's path twice: ``org.cncf.model.filepath`` (ModelPack) and ``org.opencontainers.image.title``
(what ``oras pull`` and CRI-O's image volumes name the file after), so any OCI tool rebuilds the
snapshot's tree. Manifest annotations name the Hub repo, the commit and the lock entries.

Referrers (``subject`` = the model manifest): the admission facts
(``application/vnd.modelguard.admission.v1+json``) and, when the lockfile is signed, the lockfile
and its DSSE envelope (``application/vnd.modelguard.lock-signature.v1+json``).

Pure and deterministic: the same lock entry and facts always give the same bytes (sorted keys, no
clock), so a second push finds every digest present and uploads nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelguard.mirror.oci import EMPTY_JSON, OCI_EMPTY, OCI_MANIFEST
from modelguard.spec.types import LockedFile, LockedHFModel

ARTIFACT_TYPE = "application/vnd.cncf.model.manifest.v1+json"
CONFIG_TYPE = "application/vnd.cncf.model.config.v1+json"
WEIGHT = "application/vnd.cncf.model.weight.v1.raw"
WEIGHT_CONFIG = "application/vnd.cncf.model.weight.config.v1.raw"
DOC = "application/vnd.cncf.model.doc.v1.raw"
CODE = "application/vnd.cncf.model.code.v1.raw"

FILEPATH = "org.cncf.model.filepath"
TITLE = "org.opencontainers.image.title"
UNTESTED = "org.cncf.model.file.mediatype.untested"

ADMISSION_TYPE = "application/vnd.modelguard.admission.v1+json"
SIGNATURE_TYPE = "application/vnd.modelguard.lock-signature.v1+json"
LOCKFILE_TYPE = "application/vnd.modelguard.lockfile.v1+toml"
DSSE_TYPE = "application/vnd.dsse.envelope.v1+json"

HUB_REPO = "dev.modelguard.hub.repo"
HUB_COMMIT = "dev.modelguard.hub.commit"
LOCK_ENTRIES = "dev.modelguard.lock.entries"
REVISION = "org.opencontainers.image.revision"

# By the format modelguard detected from the content when it has one (never the name alone).
_WEIGHT_FORMATS = frozenset({
    "pickle", "joblib", "pytorch-zip", "pytorch-legacy", "pytorch-tar", "torchscript", "pytorch-export",
    "numpy", "npz", "safetensors", "keras", "hdf5", "gguf", "onnx", "onnx-external-data", "msgpack", "tflite",
})
_CONFIG_FORMATS = frozenset({"json", "jinja", "sentencepiece", "text"})
_DOC_SUFFIXES = (".md", ".pdf", ".rst")


@dataclass(frozen=True)
class Blob:
    """A blob an artifact needs: its digest, size, media type, and its bytes when they are not a cached file."""

    digest: str
    size: int
    media_type: str
    data: bytes | None = None


@dataclass(frozen=True)
class Artifact:
    manifest: bytes
    digest: str
    config: Blob
    layers: tuple[Blob, ...]


def media_type(lf: LockedFile, detected: str | None) -> str:
    """The ModelPack layer type of a locked file, from the detected format, else its name."""
    name = lf.path.rsplit("/", 1)[-1].lower()
    if detected == "python" or name.endswith(".py"):
        return CODE
    if name.endswith(_DOC_SUFFIXES) or name.startswith(("license", "readme", "notice")):
        return DOC
    if detected in _WEIGHT_FORMATS:
        return WEIGHT
    if detected in _CONFIG_FORMATS:
        return WEIGHT_CONFIG
    return WEIGHT if lf.size >= 1 << 20 else WEIGHT_CONFIG


def canonical(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def blob(data: bytes, media: str) -> Blob:
    return Blob("sha256:" + hashlib.sha256(data).hexdigest(), len(data), media, data)


def _descriptor(b: Blob, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"mediaType": b.media_type, "digest": b.digest, "size": b.size}
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def model_artifact(repo: str, commit: str, models: Sequence[LockedHFModel], files: Mapping[str, LockedFile],
                   formats: Mapping[str, str]) -> Artifact:
    """The ModelPack artifact of one ``repo@commit`` served to the lock entries ``models``."""
    layers = tuple(Blob("sha256:" + lf.sha256, lf.size, media_type(lf, formats.get(path)))
                   for path, lf in sorted(files.items()))
    paths = sorted(files)
    config = blob(canonical({
        "descriptor": {"name": repo, "revision": commit},
        "config": {},
        "modelfs": {"type": "layers", "diff_ids": [b.digest for b in layers]},
    }), CONFIG_TYPE)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": _descriptor(config),
        "layers": [
            # untested: the type comes from modelguard's content detection, not from the publisher.
            _descriptor(b, {FILEPATH: path, TITLE: path, UNTESTED: "true"})
            for b, path in zip(layers, paths, strict=True)
        ],
        "annotations": {
            HUB_REPO: repo,
            HUB_COMMIT: commit,
            REVISION: commit,
            LOCK_ENTRIES: ",".join(sorted(m.name for m in models)),
        },
    }
    body = canonical(manifest)
    return Artifact(body, "sha256:" + hashlib.sha256(body).hexdigest(), config, layers)


def referrer(subject: Artifact, artifact_type: str, layers: Sequence[Blob],
             annotations: Mapping[str, str] | None = None) -> Artifact:
    """An artifact whose ``subject`` is ``subject`` (found through the referrers API or tag schema)."""
    config = blob(EMPTY_JSON, OCI_EMPTY)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": _descriptor(config),
        "layers": [_descriptor(b) for b in layers],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.digest, "size": len(subject.manifest)},
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    body = canonical(manifest)
    return Artifact(body, "sha256:" + hashlib.sha256(body).hexdigest(), config, tuple(layers))


def referrer_descriptor(art: Artifact, artifact_type: str, annotations: Mapping[str, str] | None = None
                        ) -> dict[str, Any]:
    """The entry of ``art`` in a referrers index (tag schema)."""
    out: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": art.digest, "size": len(art.manifest),
                           "artifactType": artifact_type}
    if annotations:
        out["annotations"] = dict(annotations)
    return out
