"""ONNX: external-data paths that escape the model folder, and custom operator domains.

Owns a walk of the protobuf wire format (no onnx dependency) through ModelProto ->
GraphProto (main graph, training graphs, subgraphs in node attributes, functions) ->
TensorProto, collecting ``external_data`` ``location`` entries of initializers and attribute
tensors and the operator domains nodes use. A location that is absolute, has a ``..``
component, names a drive, a home folder or a URL makes the runtime read a file outside the
model (MG-S701); other external data is noted (MG-S702); an operator domain that is neither
standard nor defined by a function in the model needs a native library (MG-S703).

Unparsable protobuf is unscannable (MG-S001). Tensor payloads (``raw_data``, packed values)
are skipped by length, never decoded. Must not import onnx or onnxruntime.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.scan.base import MalformedError, Outcome, ScanContext, ScanLimitError, Source
from modelguard.scan.protobuf import Wire, mapped

_STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training",
                               "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental",
                               "com.microsoft.dml", "org.pytorch.aten", "com.ms.internal.nhwc"})
_MAX_DEPTH = 64

# Field numbers (onnx.proto3).
_MODEL_GRAPH, _MODEL_TRAINING, _MODEL_FUNCTIONS = 7, 20, 25
_TRAINING_GRAPHS = (1, 2)
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE_INIT = 1, 5, 15
_SPARSE_TENSORS = (1, 2)
_NODE_ATTRIBUTE, _NODE_DOMAIN, _NODE_OP = 5, 7, 4
_ATTR_TENSOR, _ATTR_GRAPH, _ATTR_TENSORS, _ATTR_GRAPHS, _ATTR_SPARSE, _ATTR_SPARSES = 5, 6, 10, 11, 22, 23
_FUNC_NODE, _FUNC_DOMAIN = 7, 10
_TENSOR_NAME, _TENSOR_EXTERNAL = 8, 13


@dataclass
class _State:
    out: list[Finding] = field(default_factory=list)
    node_domains: dict[str, str] = field(default_factory=dict)
    """domain -> an op type using it"""
    function_domains: set[str] = field(default_factory=set)


def scan(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """Walk an ONNX ModelProto for external data and operator domains."""
    with mapped(ctx, source) as buf:
        return Outcome("onnx", _walk_model(Wire(buf, source.name if ctx.depth else ""), len(buf)))


def scan_external_data(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """``*.onnx_data``: raw tensor bytes with no framing of their own. Nothing in them is parsed or
    run by the runtime; the engine has already probed them for a disguised pickle."""
    return Outcome("onnx-external-data")


def _walk_model(w: Wire, size: int) -> list[Finding]:
    state = _State()
    saw_graph = False
    for number, wire, start, end in w.fields(0, size):
        if wire != 2:
            continue
        if number == _MODEL_GRAPH:
            saw_graph = True
            _graph(w, start, end, state, "graph", 1)
        elif number == _MODEL_TRAINING:
            for n, wt, s, e in w.fields(start, end):
                if wt == 2 and n in _TRAINING_GRAPHS:
                    _graph(w, s, e, state, "training_info", 2)
        elif number == _MODEL_FUNCTIONS:
            _function(w, start, end, state)
    if not saw_graph:
        raise MalformedError("ONNX model has no graph", w.name)
    # The same subgraph reached twice (an If's two branches built from one graph) is one finding.
    state.out = list(dict.fromkeys(state.out))
    for domain, op in sorted(state.node_domains.items()):
        if domain not in _STANDARD_DOMAINS and domain not in state.function_domains:
            state.out.append(finding("MG-S703", f"operator {op!r} from custom domain {domain!r}",
                                     location=_loc(w, f"domain {domain}")))
    return state.out


def _loc(w: Wire, part: str) -> str:
    return f"{w.name}:{part}" if w.name else part


def _graph(w: Wire, start: int, end: int, state: _State, path: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ScanLimitError(f"subgraphs nested deeper than {_MAX_DEPTH}", _loc(w, path))
    for number, wire, s, e in w.fields(start, end):
        if wire != 2:
            continue
        if number == _GRAPH_NODE:
            _node(w, s, e, state, path, depth)
        elif number == _GRAPH_INITIALIZER:
            _tensor(w, s, e, state, f"{path}/initializer")
        elif number == _GRAPH_SPARSE_INIT:
            _sparse(w, s, e, state, f"{path}/sparse_initializer")


def _function(w: Wire, start: int, end: int, state: _State) -> None:
    for number, wire, s, e in w.fields(start, end):
        if wire != 2:
            continue
        if number == _FUNC_DOMAIN:
            state.function_domains.add(w.text(s, e))
        elif number == _FUNC_NODE:
            _node(w, s, e, state, "functions", 2)


def _node(w: Wire, start: int, end: int, state: _State, path: str, depth: int) -> None:
    domain, op = "", ""
    for number, wire, s, e in w.fields(start, end):
        if wire != 2:
            continue
        if number == _NODE_DOMAIN:
            domain = w.text(s, e)
        elif number == _NODE_OP:
            op = w.text(s, e)
        elif number == _NODE_ATTRIBUTE:
            _attribute(w, s, e, state, f"{path}/node", depth)
    state.node_domains.setdefault(domain, op)


def _attribute(w: Wire, start: int, end: int, state: _State, path: str, depth: int) -> None:
    for number, wire, s, e in w.fields(start, end):
        if wire != 2:
            continue
        if number in (_ATTR_TENSOR, _ATTR_TENSORS):
            _tensor(w, s, e, state, f"{path}/attribute")
        elif number in (_ATTR_GRAPH, _ATTR_GRAPHS):
            _graph(w, s, e, state, f"{path}/subgraph", depth + 1)
        elif number in (_ATTR_SPARSE, _ATTR_SPARSES):
            _sparse(w, s, e, state, f"{path}/attribute")


def _sparse(w: Wire, start: int, end: int, state: _State, path: str) -> None:
    for number, wire, s, e in w.fields(start, end):
        if wire == 2 and number in _SPARSE_TENSORS:
            _tensor(w, s, e, state, path)


def _tensor(w: Wire, start: int, end: int, state: _State, path: str) -> None:
    name = ""
    locations: list[str] = []
    for number, wire, s, e in w.fields(start, end):
        if wire != 2:
            continue
        if number == _TENSOR_NAME:
            name = w.text(s, e)
        elif number == _TENSOR_EXTERNAL:
            key = value = ""
            for n, wt, ks, ke in w.fields(s, e):
                if wt == 2 and n == 1:
                    key = w.text(ks, ke)
                elif wt == 2 and n == 2:
                    value = w.text(ks, ke)
            if key == "location":
                locations.append(value)
    for location in locations:
        where = _loc(w, f"{path} {name!r}")
        reason = escape_reason(location)
        if reason:
            state.out.append(finding("MG-S701", f"tensor {name!r} reads external data from {location!r} ({reason})",
                                     location=where))
        else:
            state.out.append(finding("MG-S702", f"tensor {name!r} reads external data from {location!r}",
                                     location=where))


def escape_reason(location: str) -> str:
    """Why ``location`` reaches outside the model folder, or '' if it stays inside."""
    if not location.strip():
        return "empty path"
    if "\0" in location:
        return "NUL byte in path"
    if location.startswith(("/", "\\")):
        return "absolute path"
    if re.match(r"^[A-Za-z]:", location):
        return "drive path"
    if location.startswith("~"):
        return "home-folder path"
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", location):
        return "URL"
    if ".." in re.split(r"[\\/]", location):
        return "'..' component"
    return ""
