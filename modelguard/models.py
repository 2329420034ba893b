"""Frozen data shared by every layer: severities, verdicts, findings, per-file results, reports.

Pure: no I/O, no imports of hub, cache or scanner implementations. What the manifest, policy
and lockfile say lives in :mod:`modelguard.spec.types`, which ``modelguard scan`` never imports
(each frozen dataclass costs about a millisecond to build at import).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum


class Format(str, Enum):
    """What a file is, decided by content (magic bytes and structure), never by its name."""

    PICKLE = "pickle"
    JOBLIB = "joblib"
    PYTORCH_ZIP = "pytorch-zip"
    PYTORCH_LEGACY = "pytorch-legacy"
    PYTORCH_TAR = "pytorch-tar"
    TORCHSCRIPT = "torchscript"
    PYTORCH_EXPORT = "pytorch-export"
    NUMPY = "numpy"
    NPZ = "npz"
    ZIP = "zip"
    TAR = "tar"
    SEVENZ = "7z"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    LZ4 = "lz4"
    ZLIB = "zlib"
    SAFETENSORS = "safetensors"
    PYTHON = "python"
    JSON = "json"
    KERAS = "keras"
    HDF5 = "hdf5"
    GGUF = "gguf"
    ONNX = "onnx"
    JINJA = "jinja"
    ONNX_DATA = "onnx-external-data"
    IMAGE = "image"
    SENTENCEPIECE = "sentencepiece"
    MSGPACK = "msgpack"
    TFLITE = "tflite"
    AUDIO = "audio"
    PDF = "pdf"
    TEXT = "text"
    EMPTY = "empty"
    UNKNOWN = "unknown"
    # protobuf family, TensorFlow, CoreML and other inert data formats (issue 20)
    ONNX_TENSOR = "onnx-tensor"
    TF_SAVED_MODEL = "tf-savedmodel"
    TF_GRAPHDEF = "tf-graphdef"
    TF_CHECKPOINT_INDEX = "tf-checkpoint-index"
    TF_CHECKPOINT_DATA = "tf-checkpoint-data"
    COREML = "coreml"
    COREML_WEIGHTS = "coreml-weights"
    MEDIAPIPE_GRAPH = "mediapipe-graph"
    WORD2VEC = "word2vec"
    FASTTEXT = "fasttext"
    SPM_NORMALIZER = "sentencepiece-normalizer"
    MATLAB = "matlab"


class Severity(Enum):
    """How bad a finding is. Ordered: ``Severity.LOW < Severity.HIGH``."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {text!r}; use one of: {names}") from None


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


class Verdict(Enum):
    """A file's verdict. Ordered by how much it forbids: the worst finding wins."""

    CLEAN = "clean"
    SUSPICIOUS = "suspicious"
    UNSCANNABLE = "unscannable"
    MALICIOUS = "malicious"

    @property
    def rank(self) -> int:
        return _VERDICT_RANK[self]


_VERDICT_RANK = {v: i for i, v in enumerate(Verdict)}


@dataclass(frozen=True)
class Finding:
    """One thing modelguard found. ``rule`` is an ``MG-…`` id from :mod:`modelguard.report.rules`."""

    rule: str
    severity: Severity
    message: str
    location: str = ""
    """where inside the file: ``archive/data.pkl@offset 57``, ``line 12``, ``modelguard.lock:14``"""
    path: str = ""
    """the file the finding is about (set when findings are flattened)"""
    model: str = ""
    """the manifest/lock entry name (verify, fetch)"""
    detail: str = ""
    """optional longer text (a decompiled payload, a list of imports)"""
    verdict: Verdict = Verdict.SUSPICIOUS
    """what this finding makes of the file it is in"""
    suppressed: bool = False
    suppression_reason: str = ""

    def at(self, *, path: str | None = None, model: str | None = None) -> Finding:
        """A copy attached to a file and/or model."""
        from dataclasses import replace

        return replace(
            self,
            path=self.path if path is None else path,
            model=self.model if model is None else model,
        )


@dataclass(frozen=True)
class FileResult:
    """The scan of one file (or one member reached from a top-level file)."""

    path: str
    format: str
    findings: tuple[Finding, ...] = ()
    size: int | None = None
    sha256: str | None = None

    @property
    def verdict(self) -> Verdict:
        return worst_verdict(f for f in self.findings if not f.suppressed)


def worst_verdict(findings: Iterable[Finding]) -> Verdict:
    worst = Verdict.CLEAN
    for f in findings:
        if f.severity is Severity.INFO:
            continue
        if f.verdict.rank > worst.rank:
            worst = f.verdict
    return worst


@dataclass(frozen=True)
class Report:
    """What a command found. Rendered by :mod:`modelguard.report.text`; decides the exit code."""

    command: str
    fail_on: Severity
    files: tuple[FileResult, ...] = ()
    findings: tuple[Finding, ...] = ()
    """findings not tied to one scanned file (lockfile, policy, provider models)"""
    checked: int = 0
    """how many things were actually checked; 0 means no verdict was reached"""
    extra: dict[str, object] = field(default_factory=dict)
    """command-specific fields for the JSON report (e.g. models admitted)"""

    def all_findings(self) -> list[Finding]:
        flat = [f.at(path=f.path or r.path) for r in self.files for f in r.findings]
        return flat + list(self.findings)

    def failing(self) -> list[Finding]:
        """Findings at or above ``fail_on`` that are not suppressed."""
        return [f for f in self.all_findings() if not f.suppressed and self.fail_on <= f.severity]

    @property
    def ok(self) -> bool:
        return self.checked > 0 and not self.failing()
