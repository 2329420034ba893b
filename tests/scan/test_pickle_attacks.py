"""Malicious pickles built from opcodes: every family, every way to import and call, never clean."""

from __future__ import annotations

import pytest

from modelguard.models import FileResult, Verdict
from modelguard.scan import scan_bytes
from tests.scan import picklegen as g

# (module, name) pairs for every dangerous family the analyser must call malicious.
DANGEROUS = [
    ("os", "system"), ("posix", "system"), ("nt", "system"), ("os", "popen"), ("os", "execv"),
    ("os", "spawnlp"), ("subprocess", "Popen"), ("subprocess", "check_output"), ("pty", "spawn"),
    ("commands", "getoutput"), ("builtins", "eval"), ("builtins", "exec"), ("__builtin__", "eval"),
    ("builtins", "compile"), ("builtins", "__import__"), ("importlib", "import_module"),
    ("runpy", "run_path"), ("code", "interact"), ("codeop", "compile_command"), ("builtins", "getattr"),
    ("builtins", "setattr"), ("builtins", "globals"), ("builtins", "open"), ("builtins", "breakpoint"),
    ("operator", "attrgetter"), ("operator", "methodcaller"), ("operator", "itemgetter"),
    ("functools", "reduce"), ("shutil", "rmtree"),
    ("socket", "create_connection"), ("http.client", "HTTPConnection"), ("urllib.request", "urlopen"),
    ("requests", "get"), ("ftplib", "FTP"), ("smtplib", "SMTP"), ("webbrowser", "open"),
    ("asyncio", "create_subprocess_shell"), ("pickle", "loads"), ("_pickle", "loads"), ("dill", "loads"),
    ("cloudpickle", "loads"), ("joblib", "load"), ("numpy", "load"), ("torch", "load"),
    ("torch.storage", "_load_from_bytes"), ("marshal", "loads"), ("types", "CodeType"),
    ("types", "FunctionType"), ("pdb", "run"), ("bdb", "Bdb"), ("trace", "Trace"), ("profile", "run"),
    ("cProfile", "run"), ("timeit", "timeit"), ("ctypes", "CDLL"), ("sys", "exit"), ("signal", "signal"),
    ("multiprocessing", "Process"), ("threading", "Thread"), ("torch._C", "_jit_pass_inline"),
    ("torch.jit", "load"), ("torch.hub", "load"), ("torch.utils.cpp_extension", "load_inline"),
    ("torch.fx.graph_module", "_forward_from_src"), ("numpy.testing._private.utils", "runstring"),
    ("numpy.f2py", "compile"), ("numpy.core", "_ufunc_reconstruct"),
    ("pydoc", "pipepager"), ("platform", "popen"), ("_osx_support", "_read_output"), ("uuid", "_get_command_stdout"),
    ("logging.config", "listen"), ("test.support.script_helper", "assert_python_ok"), ("pip", "main"),
    ("idlelib.autocomplete", "AutoComplete"), ("lib2to3.pgen2.pgen", "ParserGenerator"), ("_io", "FileIO"),
    ("yaml", "unsafe_load"), ("pandas", "read_pickle"), ("numpy.lib.format", "read_array"),
    ("transformers.dynamic_module_utils", "get_class_from_dynamic_module"), ("psutil", "Popen"),
    # attribute chains (protocol 4 dotted names) that reach a dangerous object through a safe one
    ("torch", "serialization.os.system"), ("collections", "OrderedDict.__init__.__globals__"),
    ("numpy", "testing._private.utils.os.system"),
]


def verdict(data: bytes) -> FileResult:
    return scan_bytes(data, "payload.pkl")


def rules(result: FileResult) -> set[str]:
    return {f.rule for f in result.findings}


@pytest.mark.parametrize(("module", "name"), DANGEROUS)
def test_every_dangerous_family_is_malicious(module: str, name: str) -> None:
    result = verdict(g.reduce_call(module, name))
    assert result.verdict is Verdict.MALICIOUS, result.findings
    assert "MG-S101" in rules(result)


@pytest.mark.parametrize(
    "data",
    [
        *[g.reduce_call("os", "system", protocol=p) for p in (0, 1, 2, 3)],
        *[g.stack_global_call("os", "system", protocol=p) for p in (4, 5)],
        g.stack_global_call("os", "system", via_memo=True),
        g.stack_global_call("os", "system", framed=True),
        g.inst_call("os", "system"),
        g.obj_call("os", "system"),
        g.newobj_call("subprocess", "Popen"),
        g.newobj_ex_call("subprocess", "Popen"),
        g.getattr_call("builtins.object", "__subclasses__"),
        g.partial_call("os", "system"),
        g.nested_loads(g.reduce_call("os", "system")),
        g.build_setstate_trick("os", "system"),
    ],
    ids=lambda d: repr(d[:24]),
)
def test_every_import_and_call_opcode_is_resolved(data: bytes) -> None:
    result = verdict(data)
    assert result.verdict is Verdict.MALICIOUS, result.findings
    assert result.format == "pickle"


def test_protocol_0_payload_that_looks_like_text_is_found() -> None:
    data = b"cos\nsystem\n(S'echo pwned'\ntR."
    result = verdict(data)
    assert result.format == "pickle"
    assert result.verdict is Verdict.MALICIOUS


def test_py2_string_operands_and_unicode_variants() -> None:
    data = g.proto(2) + b"c__builtin__\neval\n(" + g.py2_string("1+1") + b"tR."
    assert verdict(data).verdict is Verdict.MALICIOUS
    data = g.proto(4) + b"\x8d" + (2).to_bytes(8, "little") + b"os" + g.text("system") + b"\x93" \
        + g.args_tuple(("echo pwned",)) + b"R."
    assert verdict(data).verdict is Verdict.MALICIOUS


def test_unknown_import_is_suspicious_and_named() -> None:
    result = verdict(g.reduce_call("mypackage.models", "Net", 1))
    assert result.verdict is Verdict.SUSPICIOUS
    [f] = result.findings
    assert f.rule == "MG-S102" and "mypackage.models.Net" in f.message
    assert f.location.startswith("payload.pkl@offset ")


def test_dynamic_stack_global_is_malicious() -> None:
    result = verdict(g.dynamic_stack_global())
    assert result.verdict is Verdict.MALICIOUS
    assert "MG-S103" in rules(result)


def test_ext_code_is_not_clean() -> None:
    for code in (1, 300):
        result = verdict(g.ext_call(code))
        assert result.verdict is Verdict.SUSPICIOUS
        assert rules(result) == {"MG-S104"}


def test_build_installing_setstate_is_malicious_even_with_allowlisted_callable() -> None:
    result = verdict(g.build_setstate_trick("collections", "OrderedDict"))
    assert result.verdict is Verdict.MALICIOUS
    assert rules(result) == {"MG-S107"}


def test_build_and_setitem_on_an_import_are_flagged() -> None:
    assert rules(verdict(g.build_on_import("torch", "Size"))) == {"MG-S106"}
    setitem = g.pickle_of(g.global_op("collections", "OrderedDict") + g.text("k", 2) + g.text("v", 2) + b"s")
    assert rules(verdict(setitem)) == {"MG-S106"}


def test_calling_a_value_built_at_load_time_is_flagged() -> None:
    # OrderedDict()() : the callable is not an import
    data = g.pickle_of(g.global_op("collections", "OrderedDict") + b")R)R")
    result = verdict(data)
    assert rules(result) == {"MG-S106"}
    assert result.verdict is Verdict.SUSPICIOUS


def test_allowlisted_callable_that_calls_its_argument_checks_it() -> None:
    inner = g.global_op("collections", "OrderedDict") + b")R"
    data = g.pickle_of(g.global_op("torch._tensor", "_rebuild_from_type_v2") + b"(" + inner + b"NNNtR")
    assert rules(verdict(data)) == {"MG-S106"}


def test_bad_pickle_second_in_the_stream_is_found() -> None:
    data = g.benign_ordered_dict() + g.reduce_call("os", "system")
    assert verdict(data).verdict is Verdict.MALICIOUS


def test_payload_in_truncated_trailing_pickle_is_still_reported() -> None:
    # A loader that calls pickle.load twice runs the REDUCE before it sees the truncation.
    data = g.benign_ordered_dict() + g.reduce_call("os", "system")[:-1]
    result = verdict(data)
    assert result.verdict is Verdict.MALICIOUS
    assert {"MG-S101", "MG-S105"} <= rules(result)


def test_truncated_payload_keeps_its_findings_and_is_never_clean() -> None:
    result = verdict(g.reduce_call("os", "system")[:-1])
    assert {"MG-S101", "MG-S001"} <= rules(result)
    assert verdict(g.benign_ordered_dict()[:-3]).verdict is Verdict.UNSCANNABLE


def test_malicious_finding_carries_a_decompiled_detail() -> None:
    [f] = [f for f in verdict(g.reduce_call("os", "system")).findings if f.rule == "MG-S101"]
    assert "system" in f.detail and "fickling" in f.detail


def test_reconstructor_with_a_load_time_class_is_flagged() -> None:
    made = g.global_op("collections", "OrderedDict") + b")R"
    data = g.pickle_of(g.global_op("copyreg", "_reconstructor") + b"(" + made + g.global_op("builtins", "object")
                       + b"NtR")
    assert {f.rule for f in verdict(data).findings} == {"MG-S106"}


def test_build_state_key_computed_at_load_time_is_flagged() -> None:
    key = g.global_op("builtins", "str") + b"(" + g.text("__reduce__", 2) + b"tR"
    inst = g.global_op("collections", "OrderedDict") + b")R"
    data = g.pickle_of(inst + b"}" + key + b"Nsb")
    assert {f.rule for f in verdict(data).findings} == {"MG-S106"}


def test_torch_rebuild_with_state_cannot_install_special_methods() -> None:
    state = b"(}" + g.text("__class__", 2) + g.global_op("collections", "OrderedDict") + b"sNt"
    data = g.pickle_of(g.global_op("torch._utils", "_rebuild_parameter_with_state") + b"(NI00\nN" + state + b"tR")
    result = verdict(data)
    assert {f.rule for f in result.findings} == {"MG-S107"}
    assert result.verdict is Verdict.MALICIOUS


def test_escaped_protocol_0_strings_are_decoded_before_classifying() -> None:
    data = b"S'\\x6fs'\nS'sys\\x74em'\n\x93(S'echo pwned'\ntR."
    assert {f.rule for f in verdict(data).findings} == {"MG-S101"}
    data = b"Vo\\u0073\nVsystem\n\x93(Vecho pwned\ntR."
    assert {f.rule for f in verdict(data).findings} == {"MG-S101"}


def test_second_pickle_reading_the_first_pickles_memo_is_resolved() -> None:
    # One Unpickler calling load() twice keeps its memo: the second pickle imports os.system
    # from strings the first one stored.
    first = b"\x80\x04" + g.text("os") + b"\x94" + g.text("system") + b"\x94\x86."
    second = b"\x80\x04h\x00h\x01\x93" + g.args_tuple(("echo pwned",)) + b"R."
    result = verdict(first + second)
    assert "MG-S101" in {f.rule for f in result.findings}
    assert result.verdict is Verdict.MALICIOUS
