"""Build pickle streams opcode by opcode, for tests. Nothing here is ever unpickled.

Every function returns ``bytes``. Payloads are harmless strings (``"echo pwned"``); the
point is the import and call structure, which is what the analyser judges.

    reduce_call("os", "system", "echo pwned", protocol=2)
    stack_global_call("os", "system", "echo pwned", via_memo=True)
    torch_state_dict_pickle()
"""

from __future__ import annotations

import struct

Arg = object

PAYLOAD = "echo pwned"


# ---- single opcodes ----------------------------------------------------------------------------
def proto(n: int) -> bytes:
    return b"\x80" + bytes([n]) if n >= 2 else b""


def frame(body: bytes) -> bytes:
    """A protocol-4 FRAME opcode announcing ``body``, then ``body``."""
    return b"\x95" + struct.pack("<Q", len(body)) + body


def text(s: str, protocol: int = 4) -> bytes:
    """A str argument in the opcode a pickler of ``protocol`` would use."""
    data = s.encode("utf-8")
    if protocol == 0:
        return b"V" + s.encode("raw-unicode-escape") + b"\n"
    if protocol >= 4 and len(data) < 256:
        return b"\x8c" + bytes([len(data)]) + data
    return b"X" + struct.pack("<I", len(data)) + data


def py2_string(s: str) -> bytes:
    """A protocol-0 STRING opcode (quoted repr), as Python 2 writes str."""
    return b"S" + repr(s).encode("ascii") + b"\n"


def binbytes(data: bytes) -> bytes:
    if len(data) < 256:
        return b"C" + bytes([len(data)]) + data
    return b"B" + struct.pack("<I", len(data)) + data


def integer(n: int, protocol: int = 2) -> bytes:
    if protocol == 0:
        return b"I" + str(n).encode() + b"\n"
    if 0 <= n < 256:
        return b"K" + bytes([n])
    return b"J" + struct.pack("<i", n)


def value(v: Arg, protocol: int = 4) -> bytes:
    """Encode a small plain value (str, bytes, int, bool, None, tuple, list, dict)."""
    if v is None:
        return b"N"
    if isinstance(v, bool):
        return (b"\x88" if v else b"\x89") if protocol >= 2 else (b"I01\n" if v else b"I00\n")
    if isinstance(v, int):
        return integer(v, protocol)
    if isinstance(v, str):
        return text(v, protocol)
    if isinstance(v, bytes):
        return binbytes(v)
    if isinstance(v, tuple):
        return b"(" + b"".join(value(x, protocol) for x in v) + b"t"
    if isinstance(v, list):
        return b"(" + b"".join(value(x, protocol) for x in v) + b"l"
    if isinstance(v, dict):
        return b"(" + b"".join(value(k, protocol) + value(x, protocol) for k, x in v.items()) + b"d"
    raise TypeError(f"picklegen cannot encode {type(v).__name__}")


def args_tuple(args: tuple[Arg, ...], protocol: int = 4) -> bytes:
    return b"(" + b"".join(value(a, protocol) for a in args) + b"t"


def global_op(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def stack_global(module: str, name: str, *, via_memo: bool = False) -> bytes:
    """STACK_GLOBAL with its operands pushed directly or fetched back from the memo."""
    if not via_memo:
        return text(module) + text(name) + b"\x93"
    # memoise both strings, drop them, fetch them back: operands come from BINGET
    return (text(module) + b"\x94" + b"0" + text(name) + b"\x94" + b"0"
            + b"h\x00" + b"h\x01" + b"\x93")


def pickle_of(body: bytes, protocol: int = 2) -> bytes:
    return proto(protocol) + body + b"."


# ---- malicious shapes (harmless payloads) ------------------------------------------------------
def reduce_call(module: str, name: str, *args: Arg, protocol: int = 2) -> bytes:
    """``module.name(*args)`` via GLOBAL + REDUCE."""
    return pickle_of(global_op(module, name) + args_tuple(args or (PAYLOAD,), protocol) + b"R", protocol)


def stack_global_call(module: str, name: str, *args: Arg, protocol: int = 4, via_memo: bool = False,
                      framed: bool = False) -> bytes:
    body = stack_global(module, name, via_memo=via_memo) + args_tuple(args or (PAYLOAD,), protocol) + b"R"
    return proto(protocol) + (frame(body + b".") if framed else body + b".")


def inst_call(module: str, name: str, *args: Arg) -> bytes:
    """Protocol 0 INST: ``module.name(*args)``."""
    return b"(" + b"".join(value(a, 0) for a in (args or (PAYLOAD,))) + b"i" + module.encode() + b"\n" \
        + name.encode() + b"\n."


def obj_call(module: str, name: str, *args: Arg) -> bytes:
    """Protocol 1 OBJ: class from the stack, then its arguments."""
    return b"(" + global_op(module, name) + b"".join(value(a, 1) for a in (args or (PAYLOAD,))) + b"o."


def newobj_call(module: str, name: str, *args: Arg) -> bytes:
    return pickle_of(global_op(module, name) + args_tuple(args or (PAYLOAD,), 2) + b"\x81", 2)


def newobj_ex_call(module: str, name: str, *args: Arg) -> bytes:
    return pickle_of(stack_global(module, name) + args_tuple(args or (PAYLOAD,)) + b"}" + b"\x92", 4)


def ext_call(code: int, *args: Arg) -> bytes:
    ext = b"\x82" + bytes([code]) if code < 256 else b"\x83" + struct.pack("<H", code)
    return pickle_of(ext + args_tuple(args or (PAYLOAD,), 2) + b"R", 2)


def getattr_call(module: str, attr: str, arg: Arg = PAYLOAD) -> bytes:
    """``getattr(<module.X>, attr)(arg)``: getattr on an import, result called."""
    base = global_op(module.rpartition(".")[0] or "builtins", module.rpartition(".")[2])
    inner = global_op("builtins", "getattr") + b"(" + base + text(attr, 2) + b"tR"
    return pickle_of(inner + args_tuple((arg,), 2) + b"R", 2)


def partial_call(module: str, name: str, arg: Arg = PAYLOAD) -> bytes:
    """``functools.partial(module.name, arg)()``."""
    part = global_op("functools", "partial") + b"(" + global_op(module, name) + value(arg, 2) + b"tR"
    return pickle_of(part + b")R", 2)


def partial_of(target: bytes, *args: Arg, module: str = "functools", called_with: tuple[Arg, ...] | None = None,
               via_state: bool = False) -> bytes:
    """``functools.partial(<target>, *args)`` built as pickle builds it (REDUCE of ``(target,)`` then
    BUILD of ``(target, args, kwds, dict)`` when ``via_state``), then called with ``called_with``."""
    if via_state:
        part = (global_op(module, "partial") + b"(" + target + b"tR"
                + b"(" + target + args_tuple(args, 2) + b"}N" + b"tb")
    else:
        part = global_op(module, "partial") + b"(" + target + b"".join(value(a, 2) for a in args) + b"tR"
    if called_with is None:
        return pickle_of(part, 2)
    return pickle_of(part + args_tuple(called_with, 2) + b"R", 2)


def add_extension_then_ext(module: str, name: str, code: int = 0xF0, arg: Arg = PAYLOAD) -> bytes:
    """``copyreg.add_extension(module, name, code)``, then an EXT opcode of that code called."""
    register = global_op("copyreg", "add_extension") + b"(" + text(module, 2) + text(name, 2) + integer(code) + b"tR0"
    return pickle_of(register + b"\x82" + bytes([code]) + args_tuple((arg,), 2) + b"R", 2)


def fx_graph_module(code: str, import_block: str = "import torch", body: dict[str, object] | None = None) -> bytes:
    """``torch.fx.graph_module.reduce_graph_module(body, import_block)`` as ``torch.save`` of a
    GraphModule pickles it (body holds the forward source under ``_code``)."""
    items = {"training": True, "_code": code, **(body or {})}
    pairs = b"".join(value(k, 2) + value(v, 2) for k, v in items.items())
    call = global_op("torch.fx.graph_module", "reduce_graph_module") + b"(}(" + pairs + b"u" + text(import_block, 2)
    return pickle_of(call + b"tR", 2)


def nested_loads(inner: bytes) -> bytes:
    """``pickle.loads(inner)``: a pickle that unpickles another one."""
    return pickle_of(global_op("pickle", "loads") + b"(" + binbytes(inner) + b"tR", 3)


def build_setstate_trick(module: str, name: str, arg: Arg = PAYLOAD) -> bytes:
    """An allowlisted instance gets ``__setstate__ = module.name`` via BUILD; a second BUILD calls it."""
    inst = global_op("collections", "OrderedDict") + b")R"
    state = b"(" + b"N" + b"}" + text("__setstate__", 2) + global_op(module, name) + b"s" + b"t"
    return pickle_of(inst + state + b"b" + value(arg, 2) + b"b", 2)


def build_on_import(module: str, name: str) -> bytes:
    """BUILD with slot state on an imported object: sets attributes on a module-level object."""
    return pickle_of(global_op(module, name) + b"(N}" + text("attr", 2) + text("x", 2) + b"stb", 2)


def dynamic_stack_global() -> bytes:
    """STACK_GLOBAL whose module name is the result of a call (str.join), unknown until load."""
    joined = global_op("builtins", "str") + b"(" + text("os", 2) + b"tR"
    return pickle_of(joined + text("system", 4) + b"\x93" + args_tuple((PAYLOAD,)) + b"R", 4)


# ---- benign shapes -----------------------------------------------------------------------------
def benign_ordered_dict(protocol: int = 2) -> bytes:
    """``OrderedDict(a=1, b='x')`` as pickle writes it."""
    return pickle_of(global_op("collections", "OrderedDict") + b")R" + b"(" + value("a", protocol)
                     + value(1, protocol) + value("b", protocol) + value("x", protocol) + b"u", protocol)


def _tensor(key: str, shape: tuple[int, ...], memo: dict[str, int], out: list[bytes]) -> None:
    def put(name: str) -> bytes:
        return b"h" + bytes([memo[name]]) if name in memo else b""

    def memoise(name: str) -> bytes:
        memo[name] = len(memo)
        return b"q" + bytes([memo[name]])

    rebuild = put("rebuild") or global_op("torch._utils", "_rebuild_tensor_v2") + memoise("rebuild")
    storage = put("FloatStorage") or global_op("torch", "FloatStorage") + memoise("FloatStorage")
    numel = _prod(shape)
    stride = tuple(_prod(shape[i + 1:]) for i in range(len(shape)))
    pid = b"(" + text("storage", 2) + storage + text(key, 2) + text("cpu", 2) + integer(numel) + b"tQ"
    ordered = put("OrderedDict") or global_op("collections", "OrderedDict") + memoise("OrderedDict")
    out.append(
        rebuild + b"(" + pid + integer(0) + value(shape, 2) + value(stride, 2) + b"\x89" + ordered + b")R" + b"tR"
    )


def _prod(xs: tuple[int, ...]) -> int:
    p = 1
    for x in xs:
        p *= x
    return p


def torch_state_dict_pickle(*, parameter: bool = True) -> bytes:
    """The data.pkl torch 2.x ``torch.save(model.state_dict())`` writes (protocol 2)."""
    memo: dict[str, int] = {}
    body = [global_op("collections", "OrderedDict"), b"q\x00)R"]
    memo["OrderedDict"] = 0
    body.append(b"(")
    tensors: list[bytes] = []
    for i, (name, shape) in enumerate([("fc.weight", (2, 3)), ("fc.bias", (2,))]):
        body.append(text(name, 2))
        _tensor(str(i), shape, memo, tensors)
        body.append(tensors[-1])
    if parameter:
        body.append(text("emb", 2))
        _tensor("2", (4,), memo, tensors)
        body.append(global_op("torch._utils", "_rebuild_parameter") + b"(" + tensors[-1] + b"\x89"
                    + b"h\x00)R" + b"tR")
    body.append(b"u")
    # state_dict._metadata, restored by BUILD on the OrderedDict
    meta = b"}" + text("_metadata", 2) + b"h\x00)R(" + text("", 2) + b"}" + text("version", 2) + integer(1) \
        + b"s" + text("fc", 2) + b"}" + text("version", 2) + integer(1) + b"su" + b"s"
    body.append(meta + b"b")
    return pickle_of(b"".join(body), 2)


def sklearn_estimator_pickle(protocol: int = 4) -> bytes:
    """A LogisticRegression-like estimator: class via copyreg-free NEWOBJ + BUILD of its __dict__."""
    cls = stack_global("sklearn.linear_model._logistic", "LogisticRegression")
    state = b"}" + b"(" + text("C") + b"G" + struct.pack(">d", 1.0) + text("penalty") + text("l2") \
        + text("classes_") + global_op("numpy.core.multiarray", "_reconstruct") + b"(" \
        + global_op("numpy", "ndarray") + b"K\x00\x85" + binbytes(b"b") + b"tR" + text("_sklearn_version") \
        + text("1.5.0") + b"u"
    return pickle_of(cls + b")\x81" + state + b"b", protocol)


def joblib_array_pickle(raw: bytes, *, aligned: bool, padding: int | None = None) -> bytes:
    """``[<uint8 array holding raw>, "after"]`` as joblib writes it: wrapper, BUILD, then the raw bytes.

    ``aligned`` adds joblib >= 1.2's padding-length byte (``padding`` overrides its value).
    """
    dtype = stack_global("numpy", "dtype") + args_tuple(("u1", False, True)) + b"R" \
        + args_tuple((3, "|", None, None, None, -1, -1, 0)) + b"b"
    state = b"}(" + text("subclass") + stack_global("numpy", "ndarray") + text("shape") + value((len(raw),)) \
        + text("order") + text("C") + text("dtype") + dtype + text("allow_mmap") + b"\x89"
    if aligned:
        state += text("numpy_array_alignment_bytes") + integer(16)
    head = b"\x80\x04]" + b"(" + stack_global("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81" + state + b"ub"
    if aligned:
        pad = padding if padding is not None else 16 - (len(head) + 1) % 16
        head += bytes([pad]) + b"\xff" * min(pad, 16)
    return head + raw + text("after") + b"e."
