"""TensorFlow files: SavedModel (``saved_model.pb``), frozen GraphDefs, checkpoint index and data.

Owns a walk of the protobuf wire format (:class:`~modelguard.scan.protobuf.Wire`) through
SavedModel -> MetaGraphDef -> GraphDef -> NodeDef (and the function library's nodes), reading
each node's op. What can carry code in these files:

* ops that call back into Python (``PyFunc``, ``PyFuncStateless``, ``EagerPyFunc``): MG-S710;
* ops that read, write or list files named by a tensor (``ReadFile``, ``WriteFile``,
  ``MatchingFiles``): MG-S711. (Checkpoint I/O ops, ``SaveV2``/``RestoreV2``, are in every
  SavedModel's saver and are not reported; which ops run depends on the signature called,
  which a static walk does not follow.)
* Keras metadata stored in the object graph (``SavedUserObject.metadata``, the JSON
  ``keras.models.load_model`` rebuilds layers from): checked like a ``.keras`` config, so a
  Lambda layer's marshalled bytecode is MG-S501.

Tensors (``Const`` values, checkpoint shards) are data: never a finding. A checkpoint index
(``variables.index``) is a LevelDB table: its footer's block handles must lie in the file. A
data shard (``variables.data-00000-of-00001``) is raw bytes read at offsets the index gives.

Must not import tensorflow or protobuf, or decode tensor payloads.
"""

from __future__ import annotations

import json

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.scan.base import MalformedError, Outcome, ScanContext, Source
from modelguard.scan.protobuf import Buffer, Wire, mapped
from modelguard.scan.recognise import LEVELDB_MAGIC

PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
FILE_OPS = frozenset({"ReadFile", "WriteFile", "MatchingFiles"})
_MAX_REPORTED = 50


class _Graphs:
    """Ops and Keras metadata collected from one file."""

    def __init__(self, wire: Wire) -> None:
        self.w = wire
        self.findings: list[Finding] = []
        self.seen: set[tuple[str, str]] = set()
        self.nodes = 0

    def graph(self, start: int, end: int, where: str) -> None:
        for number, wire, s, e in self.w.fields(start, end):
            if wire != 2:
                continue
            if number == 1:
                self.node(s, e, where)
            elif number == 2:  # FunctionDefLibrary
                for n, wt, fs, fe in self.w.fields(s, e):
                    if n == 1 and wt == 2:
                        self.function(fs, fe, where)

    def function(self, start: int, end: int, where: str) -> None:
        name = ""
        for number, wire, s, e in self.w.fields(start, end):
            if number == 1 and wire == 2:  # OpDef signature: its name names the function
                for n, wt, ns, ne in self.w.fields(s, e):
                    if n == 1 and wt == 2:
                        name = self.w.text(ns, ne)
            elif number == 3 and wire == 2:
                self.node(s, e, f"{where}/function {name!r}" if name else f"{where}/function")

    def node(self, start: int, end: int, where: str) -> None:
        self.nodes += 1
        name = op = ""
        for number, wire, s, e in self.w.fields(start, end):
            if wire == 2 and number == 1:
                name = self.w.text(s, e)
            elif wire == 2 and number == 2:
                op = self.w.text(s, e)
        if op in PYTHON_OPS:
            self._add("MG-S710", f"node {name!r} runs op {op}, which calls a Python function of the loading "
                                 "process", where)
        elif op in FILE_OPS:
            self._add("MG-S711", f"node {name!r} runs op {op}, which reads, writes or lists files", where)

    def _add(self, rule: str, message: str, where: str) -> None:
        if (rule, message) in self.seen or len(self.findings) >= _MAX_REPORTED:
            return
        self.seen.add((rule, message))
        self.findings.append(finding(rule, message, location=where))

    def object_graph(self, start: int, end: int, where: str) -> None:
        """SavedObjectGraph.nodes[].user_object.metadata: the Keras layer configs."""
        for number, wire, s, e in self.w.fields(start, end):
            if number != 1 or wire != 2:
                continue
            for n, wt, os_, oe in self.w.fields(s, e):
                if n == 4 and wt == 2:
                    for un, uw, us, ue in self.w.fields(os_, oe):
                        if un == 3 and uw == 2 and ue > us:
                            self.keras_metadata(self.w.text(us, ue), where)

    def keras_metadata(self, text: str, where: str) -> None:
        from modelguard.scan.keras import analyse_config, is_keras_config

        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            return  # not JSON: TensorFlow ignores metadata it cannot parse, and so does Keras
        if is_keras_config(doc):
            self.findings.extend(analyse_config(doc, f"{where}/keras metadata"))


def scan_saved_model(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """``saved_model.pb``: every MetaGraphDef's graph and function library, and its object graph."""
    with mapped(ctx, source) as buf:
        w = Wire(buf, source.name)
        graphs = _Graphs(w)
        metas = 0
        for number, wire, start, end in w.fields(0, len(buf)):
            if number == 2 and wire == 2:
                metas += 1
                where = f"{source.name}:meta_graphs[{metas - 1}]"
                for n, wt, s, e in w.fields(start, end):
                    if n == 2 and wt == 2:
                        graphs.graph(s, e, where)
                    elif n == 7 and wt == 2:
                        graphs.object_graph(s, e, where)
        if not metas:
            raise MalformedError("SavedModel without a MetaGraphDef", source.name)
        _python_ops_anywhere(buf, source.name, graphs)
    return Outcome("tf-savedmodel", graphs.findings)


def scan_graphdef(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """A frozen GraphDef (``frozen_graph.pb``): its nodes and function library."""
    with mapped(ctx, source) as buf:
        graphs = _Graphs(Wire(buf, source.name))
        graphs.graph(0, len(buf), source.name)
        if not graphs.nodes:
            raise MalformedError("GraphDef without nodes", source.name)
        _python_ops_anywhere(buf, source.name, graphs)
    return Outcome("tf-graphdef", graphs.findings)


def _python_ops_anywhere(buf: Buffer, name: str, graphs: _Graphs) -> None:
    """Code and file op names the walk did not reach (inside an attr value, a custom message)."""
    from modelguard.scan.protovalues import op_net

    op_net(buf, name, graphs.findings)


def scan_checkpoint_index(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """``variables.index``: a LevelDB table. Its 48-byte footer holds two block handles (varint
    offset and size) that must point inside the file, then the magic number."""
    with source.open() as f:
        f.seek(source.size - 48)
        footer = f.read(48)
    if not footer.endswith(LEVELDB_MAGIC):
        raise MalformedError("table footer magic missing", source.name)
    w = Wire(footer, source.name)
    pos = 0
    for what in ("metaindex", "index"):
        offset, pos = w.varint(pos, 40)
        size, pos = w.varint(pos, 40)
        if offset + size + 5 > source.size - 48:  # a block is followed by its 5-byte trailer
            raise MalformedError(f"{what} block ({size} bytes at offset {offset}) lies outside the table", source.name)
    return Outcome("tf-checkpoint-index")


def scan_checkpoint_data(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """``variables.data-NNNNN-of-NNNNN``: tensor bytes TensorFlow reads at offsets from the index.
    Nothing in them is parsed or run; the engine has already probed them for a disguised pickle."""
    return Outcome("tf-checkpoint-data")

