"""CoreML: ``.mlmodel`` specifications and the ``weight.bin`` blob file of ML programs.

Owns a walk of the Model protobuf (``coremltools/proto/Model.proto``) through pipelines to every
nested model. Core ML compiles a model into its own runtime; nothing in the file is Python. What
reaches outside the file: a ``customModel`` or a neural-network layer of type ``custom`` names an
Objective-C/Swift class the app must link (native code, MG-S712, like an ONNX custom operator
domain), a ``serializedModel`` hands opaque bytes to such a framework (MG-S712), and a
``linkedModel`` names another model file by path (MG-S713 when the path leaves the package).

The weight file is a header (blob count, version 2) and per blob a 64-byte metadata record
(sentinel 0xDEADBEEF, data type, size, offset); every blob must lie inside the file.

Must not import coremltools or protobuf, or decode weights.
"""

from __future__ import annotations

import struct

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.scan.base import MalformedError, Outcome, ScanContext, ScanLimitError, Source
from modelguard.scan.onnx import escape_reason
from modelguard.scan.protobuf import Wire, mapped
from modelguard.scan.recognise import COREML_BLOB_SENTINEL

# Model fields (Model.proto).
_PIPELINE_CLASSIFIER, _PIPELINE_REGRESSOR, _PIPELINE = 200, 201, 202
_NN_TYPES = (303, 403, 500)  # neuralNetworkRegressor, neuralNetworkClassifier, neuralNetwork: layers = 1
_CUSTOM_MODEL, _LINKED_MODEL, _SERIALIZED_MODEL = 555, 556, 3000
_LAYER_NAME, _LAYER_CUSTOM = 1, 500
_CUSTOM_CLASS_NAME = 10
_MAX_DEPTH = 32
_MAX_BLOBS = 1_000_000


def scan_model(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    with mapped(ctx, source) as buf:
        w = Wire(buf, source.name)
        findings: list[Finding] = []
        _model(w, 0, len(buf), findings, "model", 0)
    return Outcome("coreml", list(dict.fromkeys(findings)))


def _model(w: Wire, start: int, end: int, out: list[Finding], where: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ScanLimitError(f"pipelines nested deeper than {_MAX_DEPTH}", w.name)
    typed = False
    for number, wire, s, e in w.fields(start, end):
        if wire != 2:
            continue
        typed = typed or number >= 200
        if number in (_PIPELINE_CLASSIFIER, _PIPELINE_REGRESSOR):
            for n, wt, ps, pe in w.fields(s, e):
                if n == 1 and wt == 2:
                    _pipeline(w, ps, pe, out, where, depth)
        elif number == _PIPELINE:
            _pipeline(w, s, e, out, where, depth)
        elif number in _NN_TYPES:
            _layers(w, s, e, out, where)
        elif number == _CUSTOM_MODEL:
            cls = _string_field(w, s, e, _CUSTOM_CLASS_NAME)
            out.append(finding("MG-S712", f"custom model class {cls!r} must be native code linked into the app",
                               location=f"{w.name}:{where}"))
        elif number == _SERIALIZED_MODEL:
            ident = _string_field(w, s, e, 1)
            out.append(finding("MG-S712", f"serialized model for framework {ident!r}: opaque bytes another "
                                          "framework decodes", location=f"{w.name}:{where}"))
        elif number == _LINKED_MODEL:
            _linked(w, s, e, out, where)
    if depth == 0 and not typed:
        raise MalformedError("CoreML model without a model type", w.name)


def _pipeline(w: Wire, start: int, end: int, out: list[Finding], where: str, depth: int) -> None:
    index = 0
    for n, wt, s, e in w.fields(start, end):
        if n == 1 and wt == 2:
            _model(w, s, e, out, f"{where}/pipeline[{index}]", depth + 1)
            index += 1


def _layers(w: Wire, start: int, end: int, out: list[Finding], where: str) -> None:
    for n, wt, s, e in w.fields(start, end):
        if n != 1 or wt != 2:
            continue
        name, custom = "", None
        for ln, lw, ls, le in w.fields(s, e):
            if ln == _LAYER_NAME and lw == 2:
                name = w.text(ls, le)
            elif ln == _LAYER_CUSTOM and lw == 2:
                custom = _string_field(w, ls, le, _CUSTOM_CLASS_NAME)
        if custom is not None:
            out.append(finding("MG-S712", f"layer {name!r} is custom class {custom!r}, native code linked into "
                                          "the app", location=f"{w.name}:{where}/layer {name!r}"))


def _linked(w: Wire, start: int, end: int, out: list[Finding], where: str) -> None:
    """LinkedModel.linkedModelFile: linkedModelFileName and linkedModelSearchPath (StringParameter.defaultValue)."""
    for n, wt, s, e in w.fields(start, end):
        if n != 1 or wt != 2:
            continue
        for fn, fw, fs, fe in w.fields(s, e):
            if fw == 2 and fn in (1, 2):
                path = _string_field(w, fs, fe, 1)
                reason = escape_reason(path) if path else ""
                what = "file name" if fn == 1 else "search path"
                if reason:
                    out.append(finding("MG-S713", f"linked model {what} {path!r} leaves the package ({reason})",
                                       location=f"{w.name}:{where}"))


def _string_field(w: Wire, start: int, end: int, number: int) -> str:
    for n, wt, s, e in w.fields(start, end):
        if n == number and wt == 2:
            return w.text(s, e)
    return ""


def scan_weights(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """``weights/weight.bin``: every blob's metadata record and data inside the file."""
    (count,) = struct.unpack("<I", head[:4])
    if count > _MAX_BLOBS:
        raise ScanLimitError(f"more than {_MAX_BLOBS} weight blobs", source.name)
    pos, size = 64, source.size
    with source.open() as f:
        for i in range(count):
            f.seek(pos)
            record = f.read(24)
            if len(record) < 24 or record[:4] != COREML_BLOB_SENTINEL:
                raise MalformedError(f"weight blob {i}: no metadata record at offset {pos}", source.name)
            nbytes, offset = struct.unpack("<QQ", record[8:24])
            if offset < pos + 64 or offset + nbytes > size:
                raise MalformedError(f"weight blob {i} ({nbytes} bytes at offset {offset}) lies outside the file",
                                     source.name)
            pos = (offset + nbytes + 63) // 64 * 64
    return Outcome("coreml-weights")
