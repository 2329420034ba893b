"""Calls the pickle analyser models precisely (issue 17): partials, guarded getattr, torch ops,
copyreg extensions registered in the stream, nested unpicklers, torch.fx graph code.

Payloads are built from opcodes with harmless arguments; nothing is unpickled.
"""

from __future__ import annotations

import pytest

from modelguard.models import FileResult, Verdict
from modelguard.scan import scan_bytes
from modelguard.scan.base import Limits
from modelguard.scan.pickle.allowlist import Safety, classify
from tests.scan import picklegen as g

GETATTR = g.global_op("builtins", "getattr")
OS_SYSTEM = g.global_op("os", "system")


def scan(data: bytes, name: str = "model.pkl") -> FileResult:
    return scan_bytes(data, name)


def rules(result: FileResult) -> set[str]:
    return {f.rule for f in result.findings}


def _getattr(base: bytes, attr: str) -> bytes:
    return GETATTR + b"(" + base + g.text(attr, 2) + b"tR"


# ---- functools.partial: building calls nothing, calling is a call of the target ---------------
@pytest.mark.parametrize("module", ["functools", "_functools"])
def test_building_a_partial_of_an_allowlisted_callable_is_clean(module: str) -> None:
    target = g.global_op("torch.nn.modules.normalization", "LayerNorm")
    for via_state in (False, True):
        result = scan(g.partial_of(target, 8, module=module, via_state=via_state))
        assert result.verdict is Verdict.CLEAN, result.findings


def test_partial_of_a_torch_functional_activation_is_clean() -> None:
    target = g.global_op("torch.nn.functional", "leaky_relu")
    assert scan(g.partial_of(target, 1, via_state=True)).verdict is Verdict.CLEAN


def test_calling_a_partial_of_a_dangerous_callable_is_malicious() -> None:
    result = scan(g.partial_of(OS_SYSTEM, g.PAYLOAD, called_with=()))
    assert result.verdict is Verdict.MALICIOUS and "MG-S101" in rules(result)


def test_calling_a_partial_of_getattr_is_the_getattr_call() -> None:
    # partial(getattr, object)("__subclasses__") is getattr(object, "__subclasses__"): resolved and judged
    base = g.global_op("builtins", "object")
    result = scan(g.partial_of(GETATTR, "PLACEHOLDER", called_with=()).replace(
        g.text("PLACEHOLDER", 2), base + g.text("__subclasses__", 2)))
    assert result.verdict is Verdict.MALICIOUS
    assert any("object.__subclasses__" in f.message for f in result.findings)


def test_calling_a_partial_whose_target_was_replaced_by_a_built_value_is_flagged() -> None:
    # BUILD installs (func, args, kwds, dict): a func built at load time makes the call a gadget.
    built = g.global_op("collections", "OrderedDict") + b")R"
    data = g.pickle_of(g.global_op("functools", "partial") + b"(" + g.global_op("torch.nn.functional", "relu")
                       + b"tR(" + built + b")}Ntb)R", 2)
    result = scan(data)
    assert result.verdict is Verdict.SUSPICIOUS and "MG-S106" in rules(result)


def test_partial_of_a_partial_is_followed_to_the_end() -> None:
    inner = g.global_op("functools", "partial") + b"(" + OS_SYSTEM + b"tR"
    result = scan(g.partial_of(inner, called_with=(g.PAYLOAD,)))
    assert result.verdict is Verdict.MALICIOUS and "MG-S101" in rules(result)


# ---- getattr: a static getattr is an import, anything else is the dangerous builtin -------------
def test_getattr_of_an_import_with_a_literal_name_is_that_import() -> None:
    vf = g.global_op("torch._C", "_VariableFunctionsClass")
    assert scan(g.pickle_of(_getattr(vf, "tanh"), 2)).verdict is Verdict.CLEAN  # how torch pickles torch.tanh
    unknown = scan(g.pickle_of(_getattr(g.global_op("builtins", "str"), "join"), 2))
    assert unknown.verdict is Verdict.SUSPICIOUS
    assert [f.rule for f in unknown.findings] == ["MG-S102"] and "builtins.str.join" in unknown.findings[0].message
    bad = scan(g.pickle_of(_getattr(vf, "from_file"), 2))  # the one file-reading torch op
    assert bad.verdict is Verdict.MALICIOUS


def test_getattr_on_a_value_built_at_load_time_is_malicious() -> None:
    built = g.global_op("collections", "OrderedDict") + b")R"
    result = scan(g.pickle_of(_getattr(built, "update"), 2))
    assert result.verdict is Verdict.MALICIOUS
    assert any(f.rule == "MG-S101" and "builtins.getattr" in f.message for f in result.findings)


@pytest.mark.parametrize("receiver", [
    g.global_op("collections", "defaultdict"),  # an allowlisted callable that calls its argument
    g.global_op("mypackage", "Runner"),  # an unknown callable, which may call it
])
def test_getattr_handed_to_a_callable_is_malicious(receiver: bytes) -> None:
    result = scan(g.pickle_of(receiver + b"(" + GETATTR + b"tR", 2))
    assert result.verdict is Verdict.MALICIOUS
    assert any(f.rule == "MG-S101" and "builtins.getattr" in f.message for f in result.findings)


def test_memoised_getattr_used_once_checked_and_once_not_is_malicious() -> None:
    vf = g.global_op("torch._C", "_VariableFunctionsClass")
    checked = GETATTR + b"q\x01(" + vf + g.text("tanh", 2) + b"tR0"
    unchecked = b"h\x01(" + g.global_op("collections", "OrderedDict") + b")R" + g.text("pop", 2) + b"tR"
    result = scan(g.pickle_of(checked + unchecked, 2))
    assert result.verdict is Verdict.MALICIOUS


# ---- torch tensor functions kept as attributes ---------------------------------------------------
@pytest.mark.parametrize(("module", "name"), [
    ("torch.nn.functional", "leaky_relu"), ("torch.nn.functional", "silu"), ("torch._C._nn", "gelu"),
    ("torch._C._nn", "log_sigmoid"), ("torch._C", "_VariableFunctionsClass.tanh"), ("torch", "relu"),
])
def test_torch_activation_functions_are_allowed(module: str, name: str) -> None:
    assert classify(module, name) is Safety.SAFE


@pytest.mark.parametrize(("module", "name"), [
    ("torch._C._nn", "_private_op"), ("torch._C", "_VariableFunctionsClass.from_file"), ("torch", "save"),
    ("torch._C", "_VariableFunctionsClass.save"), ("torch.nn.functional", "handle_torch_function"),
])
def test_torch_names_outside_the_reviewed_ops_are_not(module: str, name: str) -> None:
    assert classify(module, name) is not Safety.SAFE


# ---- copyreg extensions registered in the stream --------------------------------------------------
def test_ext_after_add_extension_is_the_registered_import() -> None:
    result = scan(g.add_extension_then_ext("os", "system"))
    assert result.verdict is Verdict.MALICIOUS
    messages = [f.message for f in result.findings if f.rule == "MG-S101"]
    assert any("copyreg.add_extension" in m for m in messages)  # the registration itself
    assert any(m.startswith("imports os.system (EXT 240") for m in messages)  # what EXT imports
    assert "MG-S104" not in rules(result)  # the code is no longer unknown


def test_ext_of_a_code_nobody_registered_stays_unknown() -> None:
    result = scan(g.ext_call(7))
    assert result.verdict is Verdict.SUSPICIOUS and rules(result) == {"MG-S104"}


# ---- pickles inside pickles -----------------------------------------------------------------------
def test_bytes_unpickled_by_pickle_loads_are_scanned_with_their_path() -> None:
    inner = g.reduce_call("subprocess", "check_output", ["id"])
    result = scan(g.nested_loads(inner))
    nested = [f for f in result.findings if "<bytes unpickled by pickle.loads>" in f.location]
    assert result.verdict is Verdict.MALICIOUS
    assert nested and any("subprocess.check_output" in f.message for f in nested)


def test_bytes_handed_to_torch_load_through_bytesio_are_scanned() -> None:
    inner = g.reduce_call("subprocess", "check_output", ["id"])
    payload = g.global_op("torch", "load") + b"(" + g.global_op("io", "BytesIO") + b"(" + g.binbytes(inner) \
        + b"tRtR"
    result = scan(g.pickle_of(payload, 3))
    assert any("subprocess.check_output" in f.message and "torch.load" in f.location for f in result.findings)


def test_nesting_is_bounded_by_the_depth_limit() -> None:
    data = g.reduce_call("os", "system")
    for _ in range(12):
        data = g.nested_loads(data)
    result = scan_bytes(data, "model.pkl", limits=Limits(max_depth=4))
    assert result.verdict is Verdict.MALICIOUS
    assert "MG-S003" in rules(result)


# ---- the derived denylist: what a callable can reach ---------------------------------------------
@pytest.mark.parametrize(("module", "name", "reaches"), [
    ("dataclasses", "_create_fn", "builtins.exec"),  # a code generator
    ("typing", "get_type_hints", "builtins.eval"),  # forward references are evaluated
    ("typing", "ForwardRef._evaluate", "builtins.eval"),
    ("copyreg", "add_extension", "a write to copyreg._"),  # the pickle registry EXT opcodes read
    ("collections", "namedtuple", "builtins.eval"),
    ("logging", "FileHandler", "open"),
    ("antigravity", "geohash", "fork_exec"),  # its import opens a browser
    ("uuid", "_get_command_stdout", "subprocess"),
])
def test_callables_that_reach_a_primitive_are_malicious(module: str, name: str, reaches: str) -> None:
    result = scan(g.reduce_call(module, name, "x"))
    assert result.verdict is Verdict.MALICIOUS, result.findings
    [found] = [f for f in result.findings if f.rule == "MG-S101"]
    assert "it reaches" in found.message and reaches in found.message


@pytest.mark.parametrize(("module", "name"), [
    ("json", "dumps"), ("base64", "b64decode"), ("textwrap", "dedent"), ("copy", "deepcopy"),
])
def test_callables_that_reach_nothing_stay_unknown(module: str, name: str) -> None:
    assert classify(module, name) is Safety.UNKNOWN


# ---- torch.fx GraphModule code ---------------------------------------------------------------------
GENERATED = ("\n\n\ndef forward(self, input):\n    input_1 = input\n    _0 = getattr(self, \"0\")(input_1);"
             "  input_1 = None\n    relu = torch.relu(_0);  _0 = None\n    return relu\n    ")
IMPORTS = ("NoneType = type(None)\nfrom math import inf\nfrom math import nan\nfrom torch import device\n"
           "import torch\nimport torch.fx._pytree as fx_pytree\nimport torch.utils._pytree as pytree")


def test_generated_graph_code_is_clean() -> None:
    result = scan(g.fx_graph_module(GENERATED, IMPORTS))
    assert result.verdict is Verdict.CLEAN, result.findings


@pytest.mark.parametrize(("code", "imports", "expected"), [
    (GENERATED, IMPORTS + "\nimport os\nos.system('echo pwned')", {"MG-S109", "MG-S101"}),
    (GENERATED.replace("return relu", "__import__('os').system('echo pwned')\n    return relu"), IMPORTS,
     {"MG-S109"}),
    (GENERATED.replace("return relu", "relu.numpy().tofile('/tmp/pwned')\n    return relu"), IMPORTS, {"MG-S109"}),
    (GENERATED.replace("return relu", "self.__class__.__init__.__globals__['x']\n    return relu"), IMPORTS,
     {"MG-S109"}),
    (GENERATED.replace("torch.relu(_0)", "system_1('echo pwned')"), IMPORTS + "\nfrom os import system as system_1",
     {"MG-S101"}),
    (GENERATED + "\nexec('print(1)')", IMPORTS, {"MG-S109"}),
])
def test_injected_graph_code_is_malicious(code: str, imports: str, expected: set[str]) -> None:
    result = scan(g.fx_graph_module(code, imports))
    assert result.verdict is Verdict.MALICIOUS, result.findings
    assert expected <= rules(result)


def test_graph_code_importing_user_code_is_suspicious() -> None:
    result = scan(g.fx_graph_module(GENERATED, IMPORTS + "\nfrom mypackage.ops import fused as fused_1"))
    assert result.verdict is Verdict.SUSPICIOUS and rules(result) == {"MG-S102"}


def test_graph_code_that_does_not_parse_is_unscannable() -> None:
    result = scan(g.fx_graph_module("def forward(self, x:\n", IMPORTS))
    assert result.verdict is Verdict.UNSCANNABLE and rules(result) == {"MG-S110"}


def test_graph_code_built_at_load_time_is_malicious() -> None:
    # body["_code"] is the result of a call: what exec runs is not in the file.
    body = b"}(" + g.text("_code", 2) + g.global_op("mypackage", "make_code") + b")R" + b"u"
    data = g.pickle_of(g.global_op("torch.fx.graph_module", "reduce_graph_module") + b"(" + body
                       + g.text("import torch", 2) + b"tR", 2)
    result = scan(data)
    assert result.verdict is Verdict.MALICIOUS
    assert any(f.rule == "MG-S101" and "reduce_graph_module" in f.message for f in result.findings)


def test_graph_module_body_that_installs_a_dunder_is_malicious() -> None:
    result = scan(g.fx_graph_module(GENERATED, IMPORTS, body={"__reduce_ex__": "x"}))
    assert result.verdict is Verdict.MALICIOUS and "MG-S107" in rules(result)
