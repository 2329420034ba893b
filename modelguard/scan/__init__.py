"""The scanner: decide each file's format by content, run that format's scanner, collect findings.

Public entry points: :func:`scan_paths` (files and folders, recursively), :func:`scan_file`,
:func:`scan_bytes`. Format scanners live one per module and are imported only when a file of
their format is met, so ``modelguard --help`` stays fast.

Fail closed: a parse error, a limit hit, an unreadable file or an unknown binary format is a
finding, never a silent pass (an unknown binary that hides nothing a loader could run is an
informational one: :mod:`modelguard.scan.unknown`). An exception escaping a scanner is a bug
and propagates (exit 70).
"""

from __future__ import annotations

import importlib
import os
import stat
from collections.abc import Iterable, Iterator, Sequence

from modelguard.errors import NothingToCheckError, UnreadableError, UsageError
from modelguard.models import FileResult, Format, Report, Severity
from modelguard.report.rules import finding
from modelguard.scan.base import (
    BytesSource,
    FileSource,
    Limits,
    MalformedError,
    Outcome,
    ScanContext,
    ScanLimitError,
    Scanner,
    Source,
)
from modelguard.scan.detect import HEAD_BYTES, TAIL_BYTES, detect
from modelguard.scan.streams import read_at

__all__ = ["Limits", "preload", "scan_bytes", "scan_file", "scan_paths", "scan_source"]

# format -> "module:function"; imported lazily.
_SCANNERS: dict[Format, str] = {
    Format.PICKLE: "modelguard.scan.pickle.scanner:scan",
    Format.PYTORCH_LEGACY: "modelguard.scan.torch_legacy:scan",
    Format.ZIP: "modelguard.scan.zipscan:scan",
    Format.NUMPY: "modelguard.scan.npy:scan",
    Format.GZIP: "modelguard.scan.compressed:scan",
    Format.BZIP2: "modelguard.scan.compressed:scan",
    Format.XZ: "modelguard.scan.compressed:scan",
    Format.LZ4: "modelguard.scan.compressed:scan",
    Format.ZLIB: "modelguard.scan.compressed:scan",
    Format.ZSTD: "modelguard.scan.compressed:scan",
    Format.TAR: "modelguard.scan.archive:scan",
    Format.SEVENZ: "modelguard.scan.archive:scan",
    Format.SAFETENSORS: "modelguard.scan.safetensors_fmt:scan",
    Format.PYTHON: "modelguard.scan.pycode:scan",
    Format.JSON: "modelguard.scan.jsonconfig:scan",
    Format.HDF5: "modelguard.scan.hdf5.scanner:scan",
    Format.GGUF: "modelguard.scan.gguf:scan",
    Format.ONNX: "modelguard.scan.onnx:scan",
    Format.JINJA: "modelguard.scan.templates:scan",
    Format.ONNX_DATA: "modelguard.scan.onnx:scan_external_data",
    Format.IMAGE: "modelguard.scan.media:scan_image",
    Format.SENTENCEPIECE: "modelguard.scan.dataformats:scan_sentencepiece",
    Format.MSGPACK: "modelguard.scan.dataformats:scan_msgpack",
    Format.TFLITE: "modelguard.scan.dataformats:scan_tflite",
    Format.AUDIO: "modelguard.scan.media:scan_audio",
    Format.PDF: "modelguard.scan.media:scan_pdf",
    Format.UNKNOWN: "modelguard.scan.unknown:scan",
    Format.ONNX_TENSOR: "modelguard.scan.protovalues:scan_onnx_tensor",
    Format.MEDIAPIPE_GRAPH: "modelguard.scan.protovalues:scan_mediapipe_graph",
    Format.TF_SAVED_MODEL: "modelguard.scan.tensorflow:scan_saved_model",
    Format.TF_GRAPHDEF: "modelguard.scan.tensorflow:scan_graphdef",
    Format.TF_CHECKPOINT_INDEX: "modelguard.scan.tensorflow:scan_checkpoint_index",
    Format.TF_CHECKPOINT_DATA: "modelguard.scan.tensorflow:scan_checkpoint_data",
    Format.COREML: "modelguard.scan.coreml:scan_model",
    Format.COREML_WEIGHTS: "modelguard.scan.coreml:scan_weights",
    Format.WORD2VEC: "modelguard.scan.embeddings:scan_word2vec",
    Format.FASTTEXT: "modelguard.scan.embeddings:scan_fasttext",
    Format.SPM_NORMALIZER: "modelguard.scan.dataformats:scan_spm_normalizer",
    Format.MATLAB: "modelguard.scan.matlab:scan",
}


_LOADED: dict[Format, Scanner] = {}


def _scanner(fmt: Format) -> Scanner:
    scanner = _LOADED.get(fmt)
    if scanner is None:
        module, _, func = _SCANNERS[fmt].partition(":")
        scanner = _LOADED[fmt] = getattr(importlib.import_module(module), func)
    return scanner


def preload(formats: Iterable[Format]) -> None:
    """Import the scanners of ``formats`` now, and the pickle analyser every scan runs on a file's first
    bytes (:func:`scan_source`: the polyglot check): a fetch calls it while bytes download, so the scan
    after the download does not wait for imports. A cache of imports only; what is scanned is decided
    by content."""
    importlib.import_module("modelguard.scan.pickle.scanner")
    for fmt in formats:
        if fmt in _SCANNERS:
            _scanner(fmt)


def _read_head_tail(source: Source) -> tuple[bytes, bytes]:
    with source.open() as f:  # read_at: exactly these bytes, no read-ahead into a large file
        head = read_at(f, 0, HEAD_BYTES)
        if source.size <= HEAD_BYTES:
            return head, head
        return head, read_at(f, max(0, source.size - TAIL_BYTES), TAIL_BYTES)


def _probe_pickle(source: Source) -> bool:
    from modelguard.scan.pickle.scanner import probe

    return probe(source)


# Formats decided on weak evidence that a protocol 0/1 pickle can also show: text, and a
# two-byte zlib header (a py2 pickle of a tuple of strings starts "(S", a valid zlib header).
# Likewise the data formats known by a few magic bytes (dataformats, media).
_PROBED = frozenset({Format.TEXT, Format.UNKNOWN, Format.JSON, Format.JINJA, Format.ONNX_DATA, Format.ZLIB,
                     Format.IMAGE, Format.AUDIO, Format.PDF, Format.SENTENCEPIECE, Format.MSGPACK, Format.TFLITE,
                     # recognised by structure or name (modelguard.scan.recognise): a protocol 0/1
                     # pickle can fit a protobuf head or carry a data-shard name
                     Format.ONNX_TENSOR, Format.MEDIAPIPE_GRAPH, Format.TF_SAVED_MODEL, Format.TF_GRAPHDEF,
                     Format.TF_CHECKPOINT_INDEX, Format.TF_CHECKPOINT_DATA, Format.COREML, Format.COREML_WEIGHTS,
                     Format.WORD2VEC, Format.FASTTEXT, Format.SPM_NORMALIZER, Format.MATLAB})

# Formats whose scanner already analyses what pickle.load reads from the first byte. A zip that
# starts with "PK" starts with PERSID, which plain pickle.load refuses before running anything;
# a zip found only by the end record in its tail may start with anything, so it is checked.
_PICKLE_FROM_FIRST_BYTE = frozenset({Format.PICKLE, Format.PYTORCH_LEGACY, Format.EMPTY})


def scan_source(ctx: ScanContext, source: Source) -> Outcome:
    """Detect ``source``'s format and scan it; limits and parse errors become findings.

    ``pickle.load`` ignores formats, so a file of any other format whose first bytes are also a
    pickle (a polyglot) gets that pickle's findings too.
    """
    if ctx.nested_scanner is None:
        ctx.nested_scanner = scan_source
    outcome, fmt, source = _scan_format(ctx, source)
    if fmt not in _PICKLE_FROM_FIRST_BYTE:
        from modelguard.scan.pickle.scanner import prefix_findings

        try:
            extra = [] if fmt is Format.ZIP and source.read_head(2) == b"PK" else prefix_findings(ctx, source)
        except OSError as e:
            extra = [finding("MG-S004", f"cannot read: {e.strerror or e}", location=source.name)]
        # A container that scanned its own prefix (a zip after a pickle) already said the same.
        outcome.findings.extend(x for x in extra if not any(
            x.rule == y.rule and x.message.startswith(y.message) for y in outcome.findings))
    return outcome


def _scan_format(ctx: ScanContext, source: Source) -> tuple[Outcome, Format, Source]:
    """The outcome, the format, and the source the rest of the scan reads: a file no larger
    than the detection head is served from the bytes already read (no re-open per check)."""
    fmt = Format.UNKNOWN
    try:
        head, tail = _read_head_tail(source)
        if len(head) == source.size and not isinstance(source, BytesSource):
            source = BytesSource(head, source.name)
        fmt = detect(head, tail, source.size, source.name)
        if fmt in _PROBED and _probe_pickle(source):
            # pickle.load accepts protocol 0/1 streams that look like text: scan as the loader reads.
            fmt = Format.PICKLE
        if fmt is Format.EMPTY:
            return Outcome(fmt.value), fmt, source
        if fmt is Format.TEXT:  # a YAML config among them: its Python tags run under a full loader
            from modelguard.scan.yamltags import scan_text

            return scan_text(ctx, source, head), fmt, source
        return _scanner(fmt)(ctx, source, head), fmt, source
    except ScanLimitError as e:
        return Outcome(fmt.value, [finding("MG-S003", str(e), location=e.location or source.name)]), fmt, source
    except MalformedError as e:
        return Outcome(fmt.value, [finding("MG-S001", str(e), location=e.location or source.name)]), fmt, source
    except OSError as e:
        return Outcome(fmt.value, [finding("MG-S004", f"cannot read: {e.strerror or e}",
                                           location=source.name)]), Format.EMPTY, source


def _result(path: str, source: Source, ctx: ScanContext) -> FileResult:
    outcome = scan_source(ctx, source)
    return FileResult(path=path, format=outcome.format, findings=tuple(outcome.findings), size=source.size)


def scan_file(
    path: str | os.PathLike[str],
    *,
    limits: Limits | None = None,
    extra_safe_globals: Iterable[tuple[str, str]] = (),
    display_path: str | None = None,
) -> FileResult:
    """Scan one file. Never raises for bad content; a read error is an MG-S004 finding."""
    shown = display_path if display_path is not None else os.fspath(path)
    ctx = ScanContext(limits=limits or Limits(), extra_safe_globals=frozenset(extra_safe_globals))
    try:
        # Never open what is not a regular file: a FIFO would block, a device would never end.
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (FIFO, device or socket)"
            via = " reached through a link" if os.path.islink(path) else ""
            return _unreadable(shown, f"{kind}{via}; modelguard does not read it, so its content is not scanned")
        source: Source = FileSource(path, name=shown)
    except OSError as e:
        return _unreadable(shown, f"cannot read: {e.strerror or e}")
    return _result(shown, source, ctx)


def _unreadable(shown: str, message: str) -> FileResult:
    return FileResult(path=shown, format=Format.UNKNOWN.value,
                      findings=(finding("MG-S004", message, location=shown),))


def scan_bytes(
    data: bytes,
    name: str = "<bytes>",
    *,
    limits: Limits | None = None,
    extra_safe_globals: Iterable[tuple[str, str]] = (),
) -> FileResult:
    """Scan bytes held in memory (e.g. the exact bytes about to be loaded)."""
    ctx = ScanContext(limits=limits or Limits(), extra_safe_globals=frozenset(extra_safe_globals))
    return _result(name, BytesSource(data, name), ctx)


def _tidy(path: str) -> str:
    """``path`` as ``str(pathlib.Path(path))`` shows it: no ``.`` parts, doubled or trailing slashes."""
    lead = "//" if path.startswith("//") and not path.startswith("///") else "/" if path.startswith("/") else ""
    return lead + "/".join(part for part in path.split("/") if part not in ("", ".")) or "."


def iter_files(paths: Sequence[str | os.PathLike[str]]) -> Iterator[str]:
    """Every regular file under ``paths``, sorted, no symlinked dirs, as it is shown and opened.

    Plain ``os.path`` strings: importing pathlib costs ``modelguard scan`` ~6 ms of start-up."""
    for given in paths:
        p = _tidy(os.fspath(given))
        try:
            os.lstat(p)
        except FileNotFoundError:
            raise UsageError(f"{p}: no such file or directory; check the path and try again") from None
        except OSError as e:  # a folder on the way cannot be searched: no verdict, not "no such file"
            raise UnreadableError(f"{p}: cannot read ({e.strerror or e}); check the permissions") from None
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p, followlinks=False, onerror=_unlistable):
                # A symlinked folder is not descended into (loops, escapes), but it is listed, so
                # scan_file reports it instead of the scan silently covering less than was asked.
                linked = [d for d in dirs if os.path.islink(os.path.join(root, d))]
                dirs[:] = sorted(d for d in dirs if d != ".git" and d not in linked)
                for name in sorted([*files, *linked]):
                    yield _tidy(os.path.join(root, name))
        else:
            yield p


def _unlistable(e: OSError) -> None:
    """os.walk would skip a folder it cannot list, and the scan would say clean about less than asked."""
    raise UnreadableError(f"{e.filename}: cannot list this folder ({e.strerror or e}); nothing under it was "
                          "scanned; check the permissions") from None


def scan_paths(
    paths: Sequence[str | os.PathLike[str]],
    *,
    fail_on: Severity = Severity.MEDIUM,
    limits: Limits | None = None,
    extra_safe_globals: Iterable[tuple[str, str]] = (),
) -> Report:
    """Scan files and folders. Raises UsageError for a missing path and
    NothingToCheckError when there is no file at all (a verdict of clean would be a lie)."""
    safe = tuple(extra_safe_globals)
    results = [scan_file(path, limits=limits, extra_safe_globals=safe) for path in iter_files(paths)]
    if not results:
        raise NothingToCheckError(
            "nothing to scan: the given folders contain no files; point modelguard at a model file or folder"
        )
    return Report(command="scan", fail_on=fail_on, files=tuple(results), checked=len(results))
