"""Protobuf data that no loader runs code from: ONNX tensors (test data) and mediapipe graphs.

Owns the scanners for ONNX ``TensorProto``/``SequenceProto``/``MapProto``/``OptionalProto``
files (``input_0.pb``, ``output_0.pb`` next to ONNX models: ``onnx.load_tensor`` /
``numpy_helper.to_array`` read them) and mediapipe ``CalculatorGraphConfig`` binaries
(``*.binarypb``: calculators are C++ classes compiled into the mediapipe library; the graph
only names them and wires their streams).

A tensor is data. What reaches outside the file: a tensor's ``external_data`` location, which
the ONNX loader opens (checked like an ONNX model's: MG-S701 outside the folder, else MG-S702).
As a net under identification, a file that names a TensorFlow code or file op in a NodeDef's
op field is reported (MG-S710, MG-S711): a graph that only looked like one of these must not pass.

Checks the framing of every field (lengths inside their message, valid wire types); unknown
field numbers are skipped, as protobuf parsers skip them. Never decodes tensor payloads.
"""

from __future__ import annotations

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.scan.base import MalformedError, Outcome, ScanContext, ScanLimitError, Source
from modelguard.scan.onnx import escape_reason
from modelguard.scan.protobuf import ONNX_TENSOR, Buffer, Layout, Wire, mapped
from modelguard.scan.unknown import tf_file_op, tf_python_op

_MAX_DEPTH = 32


def scan_onnx_tensor(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """An ONNX value file: framing of every field, and the external data of every tensor in it."""
    from modelguard.scan.protobuf import ONNX_MAP, ONNX_OPTIONAL, ONNX_SEQUENCE

    findings: list[Finding] = []
    with mapped(ctx, source) as buf:
        w = Wire(buf, source.name)
        # Which of the four it is does not matter to the loader's safety; the most specific layout
        # that frames the whole file is walked for tensors.
        layouts: tuple[Layout, ...] = (ONNX_TENSOR, ONNX_SEQUENCE, ONNX_MAP, ONNX_OPTIONAL)
        errors: list[MalformedError] = []
        for layout in layouts:
            try:
                found: list[Finding] = []
                _walk(w, 0, len(buf), layout, found, "value", 0)
            except MalformedError as e:
                errors.append(e)
                continue
            findings = found
            break
        else:
            raise errors[0]
        op_net(buf, source.name, findings)
    return Outcome("onnx-tensor", findings)


def _walk(w: Wire, start: int, end: int, layout: Layout, out: list[Finding], where: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ScanLimitError(f"values nested deeper than {_MAX_DEPTH}", w.name)
    name = ""
    locations: list[str] = []
    for number, wire, s, e in w.fields(start, end):
        want = layout.get(number)
        if isinstance(want, dict):
            if wire != 2:
                raise MalformedError(f"field {number} of {where} should be a message", w.name)
            if layout is ONNX_TENSOR and number == 13:
                key, value = _pair(w, s, e)
                if key == "location":
                    locations.append(value)
            else:
                _walk(w, s, e, want, out, f"{where}/{number}", depth + 1)
        elif layout is ONNX_TENSOR and number == 8 and wire == 2:
            name = w.text(s, e)
    for location in locations:
        reason = escape_reason(location)
        rule = "MG-S701" if reason else "MG-S702"
        detail = f" ({reason})" if reason else ""
        out.append(finding(rule, f"tensor {name!r} reads external data from {location!r}{detail}",
                           location=f"{w.name}:{where}"))


def _pair(w: Wire, start: int, end: int) -> tuple[str, str]:
    key = value = ""
    for n, wt, s, e in w.fields(start, end):
        if n == 1 and wt == 2:
            key = w.text(s, e)
        elif n == 2 and wt == 2:
            value = w.text(s, e)
    return key, value


def scan_mediapipe_graph(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """A CalculatorGraphConfig: framing of the graph and of each node; at least one node."""
    findings: list[Finding] = []
    with mapped(ctx, source) as buf:
        w = Wire(buf, source.name)
        nodes = 0
        for number, wire, s, e in w.fields(0, len(buf)):
            if number == 1 and wire == 2:
                nodes += 1
                for _ in w.fields(s, e):  # the node's own framing
                    pass
        if not nodes:
            raise MalformedError("mediapipe graph without nodes", source.name)
        op_net(buf, source.name, findings)
    return Outcome("mediapipe-graph", findings)


def op_net(buf: Buffer, name: str, findings: list[Finding]) -> None:
    """MG-S710/MG-S711 for TensorFlow code or file ops written as a NodeDef's op field anywhere in
    the file: a graph that only looked like another protobuf must not pass as data."""
    for op, rule, what in ((tf_python_op(buf), "MG-S710", "calls Python"),
                           (tf_file_op(buf), "MG-S711", "reads, writes or lists files")):
        if op is not None and not any(f.rule == rule for f in findings):
            findings.append(finding(rule, f"the file names TensorFlow op {op[0]} ({what}) at offset {op[1]}",
                                    location=name))
