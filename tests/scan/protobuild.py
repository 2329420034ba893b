"""Build protobuf messages byte by byte, for tests: an encoder written from the wire-format spec,
independent of modelguard's walker, so the two cannot share a blind spot.

    msg(field(1, varint=1), field(2, msg(...)))
"""

from __future__ import annotations

import json
import struct


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def vfield(number: int, value: int) -> bytes:
    return key(number, 0) + varint(value)


def lfield(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return key(number, 2) + varint(len(data)) + data


def f32field(number: int, value: float) -> bytes:
    return key(number, 5) + struct.pack("<f", value)


# ---- TensorFlow --------------------------------------------------------------------------------
def node(name: str, op: str, *inputs: str, attr: bool = True) -> bytes:
    """NodeDef: name 1, op 2, input 3, attr 5 (a map entry: key 1, AttrValue 2 with type 6)."""
    body = lfield(1, name) + lfield(2, op) + b"".join(lfield(3, i) for i in inputs)
    if attr:
        body += lfield(5, lfield(1, "T") + lfield(2, vfield(6, 1)))
    return body


def graph(*nodes: bytes, functions: tuple[bytes, ...] = ()) -> bytes:
    """GraphDef: node 1, library 2 (FunctionDefLibrary.function 1), versions 4 (producer 1)."""
    out = b"".join(lfield(1, n) for n in nodes)
    if functions:
        out += lfield(2, b"".join(lfield(1, f) for f in functions))
    return out + lfield(4, vfield(1, 1087))


def function(name: str, *nodes: bytes) -> bytes:
    """FunctionDef: signature 1 (OpDef name 1), node_def 3."""
    return lfield(1, lfield(1, name)) + b"".join(lfield(3, n) for n in nodes)


def saved_model(graph_def: bytes, *, keras_metadata: dict[str, object] | None = None) -> bytes:
    """SavedModel: schema version 1, meta_graphs 2 = MetaGraphDef (meta_info_def 1 with a stripped op
    list and tags, graph_def 2, object_graph_def 7 with one user object's metadata)."""
    op_list = lfield(1, lfield(1, "AddV2") + lfield(2, lfield(1, "x") + lfield(4, "T")))
    meta_info = lfield(2, op_list) + lfield(4, "serve") + lfield(5, "2.15.0")
    meta = lfield(1, meta_info) + lfield(2, graph_def)
    if keras_metadata is not None:
        user = lfield(1, "_tf_keras_model") + lfield(3, json.dumps(keras_metadata))
        meta += lfield(7, lfield(1, lfield(4, user)))
    return vfield(1, 1) + lfield(2, meta)


# ---- ONNX --------------------------------------------------------------------------------------
def onnx_tensor(dims: tuple[int, ...], raw: bytes, *, name: str = "x", location: str | None = None) -> bytes:
    """TensorProto: dims 1, data_type 2 (1 = float), name 8, raw_data 9 or external_data 13 + location 14."""
    out = b"".join(vfield(1, d) for d in dims) + vfield(2, 1) + lfield(8, name)
    if location is None:
        return out + lfield(9, raw)
    return out + lfield(13, lfield(1, "location") + lfield(2, location)) + vfield(14, 1)


# ---- CoreML ------------------------------------------------------------------------------------
def coreml_model(*type_fields: bytes) -> bytes:
    """Model: specificationVersion 1, description 2 (input 1: FeatureDescription name 1, type 3)."""
    description = lfield(1, lfield(1, "input") + lfield(3, lfield(5, vfield(1, 1))))
    return vfield(1, 6) + lfield(2, description) + b"".join(type_fields)


# ---- mediapipe ---------------------------------------------------------------------------------
def mediapipe_graph(*calculators: str) -> bytes:
    """CalculatorGraphConfig: node 1 (calculator 2, input_stream 3, output_stream 4), input_stream 10."""
    nodes = b"".join(lfield(1, lfield(2, c) + lfield(3, "IMAGE:in") + lfield(4, "IMAGE:out")) for c in calculators)
    return nodes + lfield(10, "in")
