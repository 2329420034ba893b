"""Frozen data shared by every layer: formats, severities, verdicts, findings, per-file results,
per-model outcomes and reports, with the few rules that belong to the data itself: which findings
fail at a threshold (:func:`fails`), how ``--fail-on`` is read (:func:`parse_fail_on`) and which exit
code a report means (:attr:`Report.exit_code`).

Pure: no I/O, no imports of hub, cache or scanner implementations. What the manifest, policy
and lockfile say lives in :mod:`modelguard.spec.types`, which ``modelguard scan`` never imports
(each frozen dataclass costs about a millisecond to build at import).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from modelguard.errors import ExitCode, UsageError


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
    ZSTD = "zstd"
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

    def reaches(self, fail_on: Severity) -> bool:
        """At or above the ``fail_on`` threshold (see :func:`fails` for a finding)."""
        return fail_on.rank <= self.rank

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {text!r}; use one of: {names}") from None


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


def parse_fail_on(value: Severity | str | None, *, where: str = "--fail-on") -> Severity | None:
    """The one reading of a fail-on threshold a user gave (``--fail-on``, ``fail_on=``); None when not given.

    Raises :class:`~modelguard.errors.UsageError` naming ``where`` for a word that is not a severity.
    """
    if value is None or isinstance(value, Severity):
        return value
    try:
        return Severity.parse(value)
    except ValueError as e:
        raise UsageError(f"{where}: {e}") from None


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


def fails(finding: Finding, fail_on: Severity) -> bool:
    """The one rule for "this finding fails the run": not suppressed, and at or above ``fail_on``."""
    return not finding.suppressed and finding.severity.reaches(fail_on)


def failing(findings: Iterable[Finding], fail_on: Severity) -> list[Finding]:
    """The findings of ``findings`` that :func:`fails` at ``fail_on``, in order."""
    return [f for f in findings if fails(f, fail_on)]


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


class ModelStatus(str, Enum):
    """What happened to one locked model in a ``fetch`` or a ``verify``."""

    ADMITTED = "admitted"
    """fetch: every file passed and the snapshot was admitted now"""
    ALREADY_ADMITTED = "already-admitted"
    """fetch: the admitted snapshot was re-hashed and its verdicts still hold"""
    REFUSED = "refused"
    """fetch: a check failed; nothing of the model is in the verified cache"""
    NO_VERDICT = "no-verdict"
    """fetch: the Hub or the disk gave no answer; nothing was admitted"""
    ERROR = "error"
    """fetch: any other failure (exit 2 for input, 70 for a bug in modelguard, MG-H142)"""
    OK = "ok"
    """verify: admitted, intact, and no finding fails"""
    REJECTED = "rejected"
    """verify: a finding about the model fails"""

    @property
    def usable(self) -> bool:
        """The model's admitted snapshot may be loaded."""
        return self in (ModelStatus.ADMITTED, ModelStatus.ALREADY_ADMITTED, ModelStatus.OK)


@dataclass(frozen=True, kw_only=True)
class ModelOutcome:
    """One locked model's outcome, shared by fetch (:class:`FetchOutcome`) and verify (:class:`VerifyOutcome`).

    ``files`` are the model's per-file results with paths inside the repo (the report lists the same
    results as ``name:path``); ``findings`` are those about the model as a whole.
    """

    name: str
    repo: str
    commit: str
    status: ModelStatus
    exit_code: ExitCode
    reason: str = ""
    files: tuple[FileResult, ...] = ()
    findings: tuple[Finding, ...] = ()
    snapshot: Path | None = None
    """the admitted snapshot folder, when the model may be loaded from it"""

    def to_json(self) -> dict[str, Any]:
        """The model's entry in the JSON report's ``models`` list."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class FetchOutcome(ModelOutcome):
    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "repo": self.repo, "commit": self.commit, "status": self.status.value,
                "exit-code": int(self.exit_code), "reason": self.reason}


@dataclass(frozen=True, kw_only=True)
class VerifyOutcome(ModelOutcome):
    admitted: bool
    """the snapshot has an admission record"""
    intact: bool
    """admitted, and every file is the admitted one"""
    rescanned: bool
    """the files were scanned again now (verify always re-scans what passed integrity)"""
    rehashed: tuple[str, ...] = ()
    """the model's files whose bytes were hashed by this run (all of them unless ``--fast`` found their
    fingerprint unchanged since their bytes were last hashed)"""
    attested: bool = False
    """fresh fingerprints were recorded for the files hashed now (a copied cache after its first full check)"""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "repo": self.repo, "commit": self.commit, "admitted": self.admitted,
                "intact": self.intact, "rescanned": self.rescanned, "rehashed": list(self.rehashed),
                "attested": self.attested}


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
    models: tuple[ModelOutcome, ...] | None = None
    """fetch, verify: one outcome per locked model (None: the command checks no locked models)"""
    extra: dict[str, object] = field(default_factory=dict)
    """command-specific fields for the JSON report (verify's hashing mode, lint's lockfile)"""

    def all_findings(self) -> list[Finding]:
        flat = [f.at(path=f.path or r.path) for r in self.files for f in r.findings]
        return flat + list(self.findings)

    def failing(self) -> list[Finding]:
        """Findings at or above ``fail_on`` that are not suppressed."""
        return failing(self.all_findings(), self.fail_on)

    @property
    def ok(self) -> bool:
        return self.checked > 0 and not self.failing()

    @property
    def exit_code(self) -> ExitCode:
        """The one report -> exit code rule: 70 when modelguard failed on a model (a bug); else 1 when a
        model was refused or a finding fails; else the worst no-verdict code of a model; else 3 when
        nothing was checked; else 0."""
        codes: Sequence[ExitCode] = [m.exit_code for m in self.models or ()]
        if ExitCode.INTERNAL in codes:  # a bug in modelguard is never hidden behind another model's verdict
            return ExitCode.INTERNAL
        if ExitCode.REJECTED in codes:
            return ExitCode.REJECTED
        errors = [c for c in codes if c > ExitCode.REJECTED]
        if errors:
            return max(errors)
        if self.checked == 0:
            return ExitCode.NO_VERDICT
        return ExitCode.REJECTED if self.failing() else ExitCode.OK

    def model(self, name: str) -> ModelOutcome | None:
        """The outcome of the locked model ``name``, if this report has one."""
        return next((m for m in self.models or () if m.name == name), None)
