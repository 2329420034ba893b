"""Red-team corpus, pickle family: bypass shapes from public advisories, built from opcodes.

Each case is a stream the C unpickler would run (nothing here is ever unpickled) with a
harmless payload. ``MAL`` cases must be malicious (the scanner can tell a dangerous call
runs); ``NOT_CLEAN`` cases at least suspicious or unscannable. Every case also goes through
the CLI, which must exit 1.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelguard.models import Verdict
from modelguard.scan import scan_bytes
from tests.scan import picklegen as g
from tests.scan.containers_build import Scanned
from tests.scan.redteam import MAL, NOT_CLEAN, assert_caught

OS_SYSTEM = g.global_op("os", "system")
CALL = b"(S'echo pwned'\ntR"


def _setstate_via_computed_dict(dict_call: bytes, value: bytes) -> bytes:
    """An instance gets ``__setstate__`` from a dict built at load time (a call, then SETITEM)."""
    inst = g.global_op("collections", "OrderedDict") + b")R"
    state = dict_call + g.text("__setstate__", 2) + value + b"s"
    return g.pickle_of(inst + state + b"b" + g.value("x", 2) + b"b", 2)


CASES: list[tuple[str, bytes, str, str]] = [
    # -- memo index forms the C unpickler accepts (PyLong_FromString): the stream looked like text
    ("put-get-signed-index", b"cos\nsystem\np+0\n0g+0\n" + CALL + b".", "model.bin", MAL),
    ("get-underscore-index", b"cos\nsystem\np10\n0g1_0\n" + CALL + b".", "model.bin", MAL),
    ("put-space-index-misdetected-as-zlib", b"(S'x'\np 0\n0" + OS_SYSTEM + CALL + b".", "model.bin", MAL),
    # -- protocol 0 stream that runs its REDUCE and then breaks (no STOP): text-looking
    ("proto0-no-stop", OS_SYSTEM + CALL, "notes.txt", MAL),
    ("proto0-reduce-then-garbage", OS_SYSTEM + CALL + b"\n\xff\xfe", "weights.bin", MAL),
    ("proto2-reduce-then-garbage", g.reduce_call("os", "system")[:-1] + b"\xff\xff", "model.pt", MAL),
    ("proto2-no-stop", g.reduce_call("os", "system")[:-1], "model.pt", MAL),
    # -- a pickle under a name the loader reads as something else
    ("proto0-pickle-named-model-py", OS_SYSTEM + CALL + b".", "modeling_evil.py", MAL),
    ("proto0-pickle-named-jinja", OS_SYSTEM + CALL + b".", "chat_template.jinja", MAL),
    ("proto0-pickle-named-json", b"}" + b"0" + OS_SYSTEM + CALL + b".", "config.json", MAL),
    # -- imports and calls in every opcode shape
    ("stack-global-from-memo", g.stack_global_call("os", "system", via_memo=True), "model.pkl", MAL),
    ("stack-global-framed", g.stack_global_call("subprocess", "getoutput", framed=True), "model.pkl", MAL),
    ("inst-opcode", g.inst_call("os", "system"), "model.pkl", MAL),
    ("obj-opcode", g.obj_call("os", "system"), "model.pkl", MAL),
    ("newobj-ex", g.newobj_ex_call("subprocess", "Popen"), "model.pkl", MAL),
    ("py2-builtin-eval", g.reduce_call("__builtin__", "eval", "1"), "model.pkl", MAL),
    ("getattr-of-import", g.getattr_call("builtins.__import__", "system"), "model.pkl", MAL),
    ("getattr-chain-protocol4", g.stack_global_call("torch", "serialization.os.system"), "model.pkl", MAL),
    ("partial-wraps-system", g.partial_call("os", "system"), "model.pkl", MAL),
    ("c-operator-attrgetter", g.reduce_call("_operator", "attrgetter", "system"), "model.pkl", MAL),
    ("c-functools-partial", g.partial_of(OS_SYSTEM, "x", module="_functools", called_with=()), "model.pkl", MAL),
    ("nested-pickle-loads", g.nested_loads(g.reduce_call("os", "system")), "model.pkl", MAL),
    ("dynamic-stack-global", g.dynamic_stack_global(), "model.pkl", MAL),
    ("build-setstate-install", g.build_setstate_trick("builtins", "exec", "print(1)"), "model.pkl", MAL),
    ("build-setstate-from-computed-ordereddict",
     _setstate_via_computed_dict(g.global_op("collections", "OrderedDict") + b")R",
                                 g.global_op("collections", "Counter")), "model.pkl", MAL),
    ("build-setstate-from-builtins-dict",
     _setstate_via_computed_dict(g.global_op("builtins", "dict") + b")R",
                                 g.global_op("collections", "Counter")), "model.pkl", MAL),
    ("protocol-1-marker", b"\x80\x01" + OS_SYSTEM + CALL + b".", "model.bin", MAL),
    ("copyreg-reconstructor-of-popen",
     g.pickle_of(g.global_op("copyreg", "_reconstructor") + b"(" + g.global_op("subprocess", "Popen")
                 + g.global_op("builtins", "object") + b"NtR", 2), "model.pkl", MAL),
    ("numpy-ufunc-reconstruct-import",
     g.pickle_of(g.global_op("numpy.core", "_ufunc_reconstruct") + b"(" + g.text("os", 2) + g.text("system", 2)
                 + b"tR" + CALL, 2), "model.pkl", MAL),
    ("torch-rebuild-from-type-calls-eval",
     g.pickle_of(g.global_op("torch._tensor", "_rebuild_from_type_v2") + b"(" + g.global_op("builtins", "eval")
                 + b"N" + g.value(("1",), 2) + b"}tR", 2), "model.pt", MAL),
    ("result-of-allowlisted-call-is-called",
     g.pickle_of(g.global_op("collections", "OrderedDict") + b")R)R", 2), "model.pkl", NOT_CLEAN),
    ("ext-code", g.ext_call(1), "model.pkl", NOT_CLEAN),
    ("unknown-module-is-never-clean", g.reduce_call("some_plugin.loader", "boot"), "model.pkl", NOT_CLEAN),
    # -- gadget modules from picklescan/modelscan bypass advisories (must be upgraded to malicious)
    *[(f"gadget-{m}.{n}", g.reduce_call(m, n), "model.pkl", MAL) for m, n in [
        ("bdb", "Bdb"), ("pydoc", "pipepager"), ("idlelib.pyshell", "ModifiedInterpreter"),
        ("lib2to3.main", "main"), ("distutils.spawn", "spawn"), ("setuptools.sandbox", "run_setup"),
        ("pip._internal.cli.main", "main"), ("venv", "create"), ("ensurepip", "_run_pip"),
        ("asyncio.unix_events", "_UnixSubprocessTransport"), ("multiprocessing.util", "spawnv_passfds"),
        ("_posixsubprocess", "fork_exec"), ("code", "InteractiveInterpreter"), ("timeit", "timeit"),
        ("cProfile", "run"), ("trace", "Trace"), ("doctest", "debug_script"), ("webbrowser", "open"),
        ("ctypes", "CDLL"), ("numpy.f2py", "compile"), ("numpy.testing._private.utils", "runstring"),
        ("torch._dynamo.utils", "exec"), ("torch.utils.cpp_extension", "load_inline"),
        ("torch.serialization", "load"), ("torch.fx.experimental.symbolic_shapes", "ShapeEnv"),
        ("torch.hub", "load"), ("runpy", "_run_code"), ("pty", "spawn"), ("torch.utils.collect_env", "run"),
        ("torch.testing._internal.common_utils", "shell"), ("torch.distributed.rpc", "remote"),
        ("builtins", "breakpoint"), ("uuid", "_get_command_stdout"),
    ]],
]


@pytest.mark.parametrize(("data", "name", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_attack_is_caught(data: bytes, name: str, expected: str,
                          scan_cli: Callable[[bytes, str], Scanned]) -> None:
    assert_caught(data, name, expected, scan_cli)


def test_text_that_only_looks_like_a_broken_import_stays_clean() -> None:
    # A word list whose first lines happen to read as GLOBAL "at" / "load" never calls it:
    # a broken stream counts only when it ran a call before breaking.
    assert scan_bytes(b"cat\nload\nfoo bar\n", "words.txt").verdict is Verdict.CLEAN


def test_benign_pickle_with_unusual_memo_index_forms_stays_clean() -> None:
    data = b"(S'a'\np+0\nI1\n0g 0\nl."
    assert scan_bytes(data, "data.pkl").verdict is Verdict.CLEAN


@pytest.mark.parametrize("state", [
    # dict([("__setstate__", X)]) and dict(**{"__setstate__": X}) (NEWOBJ_EX kwargs)
    g.global_op("builtins", "dict") + b"(((" + g.text("__setstate__", 2) + g.global_op("collections", "Counter")
    + b"tltR",
    g.stack_global("builtins", "dict") + b")}" + g.text("__setstate__") + g.global_op("collections", "Counter")
    + b"s\x92",
], ids=["dict-of-pairs", "dict-kwargs"])
def test_setstate_installed_from_dict_arguments_is_malicious(state: bytes) -> None:
    inst = g.global_op("collections", "OrderedDict") + b")R"
    data = g.pickle_of(inst + state + b"b" + g.value("x", 2) + b"b", 4)
    result = scan_bytes(data, "model.pkl")
    assert "MG-S107" in {f.rule for f in result.findings}, result.findings
    assert result.verdict is Verdict.MALICIOUS


def _joblib_array(raw: bytes, elsize: int, tail: bytes) -> bytes:
    """A joblib NumpyArrayWrapper of uint8 whose pickled dtype state claims ``elsize`` bytes per item."""
    dtype = g.stack_global("numpy", "dtype") + g.args_tuple(("u1", False, True)) + b"R" \
        + g.args_tuple((3, "|", None, None, None, elsize, 1, 0)) + b"b"
    state = b"}(" + g.text("subclass") + g.stack_global("numpy", "ndarray") + g.text("shape") \
        + g.value((len(raw),)) + g.text("order") + g.text("C") + g.text("dtype") + dtype \
        + g.text("allow_mmap") + b"\x89"
    wrapper = g.stack_global("joblib.numpy_pickle", "NumpyArrayWrapper")
    return b"\x80\x04](" + wrapper + b")\x81" + state + b"ub" + raw + tail


def test_joblib_dtype_state_cannot_move_the_array_end() -> None:
    # numpy keeps a fixed-size type's own size whatever elsize the pickled state claims, so
    # joblib reads 4 bytes here and unpickles the gadget right after them. Trusting the state
    # (4 x 64 bytes) skipped the gadget and landed on the padding: clean.
    gadget = g.stack_global("evil_plugin", "boot") + g.args_tuple(("xy",)) + b"R0"
    tail = gadget + b"N0" * 200 + g.text("after") + b"e."
    result = scan_bytes(_joblib_array(b"\0" * 4, 64, tail), "model.joblib")
    assert result.verdict is not Verdict.CLEAN, result.findings
    honest = scan_bytes(_joblib_array(b"\0" * 4, -1, tail), "model.joblib")
    assert "MG-S102" in {f.rule for f in honest.findings}
