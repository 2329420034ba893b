"""Red-team round three: classes of pickle imports that ran code and were only called suspicious.

Every case is a stream the C unpickler would run (nothing here is ever unpickled) with a
harmless payload, and every one executes code, writes files or rewrites the unpickler's own
registry when loaded, so each must be *malicious*, and the CLI must exit 1 on it. The classes:

* a denied module family spelled as an attribute chain of its parent (``numpy`` /
  ``f2py.compile``): protocol 4 walks the dotted name attribute by attribute;
* a dangerous method reached through a subclass that inherits it (``pathlib.PosixPath.write_text``);
* the unpickler's own extension registry imported as an object and written to (SETITEM, BUILD,
  ``operator.setitem``), after which an ``EXT`` opcode imports whatever it was told;
* the interpreter's private aliases of denied modules (``_frozen_importlib_external`` is
  ``importlib._bootstrap_external``) and interpreters that run strings (``_xxsubinterpreters``);
* a name an allowlisted class family (``torch.nn.modules.``) imports from elsewhere: the family
  was reviewed for the classes it defines, so a re-export is judged as what it re-exports
  (``...linear_cross_entropy_options.NamedTuple`` is ``typing.NamedTuple``, which the derived
  table lists: the one case here that is as dangerous as its direct import rather than a proven run);
* callables of the libraries every model loader imports (torch, numpy, joblib) that reach
  ``exec``/``eval``/``pickle.loads``/native code, found by the same derivation as the
  standard library's (see :mod:`modelguard.scan.pickle.reach`).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelguard.models import Verdict
from modelguard.scan import scan_bytes
from modelguard.scan.pickle.allowlist import Safety, classify
from tests.scan import picklegen as g
from tests.scan.containers_build import Scanned
from tests.scan.redteam import MAL, assert_caught

_EXT = b"\x82\xf0" + g.value(("echo pwned",), 2) + b"R."
_INVERTED = g.global_op("copyreg", "_inverted_registry")
_OS_SYSTEM = g.value(("os", "system"), 2)


def _registry_write_then_ext(write: bytes) -> bytes:
    return b"\x80\x02" + write + _EXT


CASES: list[tuple[str, bytes]] = [
    # -- a denied family as an attribute chain of its parent package
    *[(f"chain-{m}.{n}", g.stack_global_call(m, n)) for m, n in [
        ("numpy", "f2py.compile"), ("numpy", "ctypeslib.load_library"), ("torch", "_C._jit_pass_lint"),
        ("torch", "utils.cpp_extension.load_inline"), ("torch", "jit.unsupported_tensor_ops.execWrapper"),
        ("torch.utils", "collect_env.run"), ("numpy", "testing._private.utils.runstring"),
        ("logging", "config.listen"), ("torch", "distributed.rpc.remote"),
    ]],
    # -- inherited dangerous methods
    ("inherited-posixpath-write-text", g.stack_global_call("pathlib", "PosixPath.write_text")),
    ("inherited-posixpath-write-bytes", g.stack_global_call("pathlib", "PosixPath.write_bytes")),
    # -- the extension registry written from the pickle, then EXT
    ("registry-setitem-then-ext", _registry_write_then_ext(_INVERTED + g.value(240, 2) + _OS_SYSTEM + b"s0")),
    ("registry-build-then-ext", _registry_write_then_ext(_INVERTED + b"}" + g.value(240, 2) + _OS_SYSTEM + b"sb0")),
    ("registry-operator-setitem-then-ext", _registry_write_then_ext(
        g.global_op("operator", "setitem") + b"(" + _INVERTED + g.value(240, 2) + _OS_SYSTEM + b"tR0")),
    # -- private aliases of denied modules, interpreters that run strings
    *[(f"private-{m}.{n}", g.reduce_call(m, n, "print(1)")) for m, n in [
        ("_frozen_importlib_external", "SourceFileLoader"), ("_frozen_importlib", "_call_with_frames_removed"),
        ("_xxsubinterpreters", "run_string"), ("_interpreters", "run_string"), ("_testcapi", "run_in_subinterp"),
        ("_testinternalcapi", "run_in_subinterp_with_config"), ("_pyrepl.pager", "pipe_pager"),
        ("_sqlite3", "connect"), ("annotationlib", "ForwardRef.evaluate"), ("builtins", "__loader__.exec_module"),
    ]],
    # -- library callables the derivation finds (no hand list names them)
    *[(f"library-{m}.{n}", g.stack_global_call(m, n)) for m, n in [
        ("torch.utils._config_module", "ConfigModule.load_config"),  # pickle.loads of its argument
        ("torch.utils.data.datapipes.utils.decoder", "basichandlers"),  # eval / pickle.loads
        ("torch.utils.benchmark.utils.timer", "Timer"),  # compiles and runs its stmt string
        ("torch.serialization", "save"), ("torch", "save"),  # writes a file
        ("numpy", "save"), ("numpy.lib.format", "open_memmap"),  # write a file
        ("numpy._core.function_base", "add_newdoc"),  # __import__ of its first argument
        ("joblib.externals.loky.backend.popen_loky_posix", "Popen"),  # runs a process
    ]],
    # -- a name an allowlisted class family imports from elsewhere is what it imports
    ("family-reexport", g.stack_global_call("torch.nn.modules.linear_cross_entropy_options", "NamedTuple")),
]


@pytest.mark.parametrize("name", ["Client", "Listener", "Thread"])
def test_sklearn_callback_reexports_are_not_family_safe(name: str) -> None:
    # sklearn.callback._transport.Client is multiprocessing.connection.Client: it connects when built
    module = "sklearn.callback._progressbar" if name == "Thread" else "sklearn.callback._transport"
    assert classify(module, name) is Safety.UNKNOWN
    assert scan_bytes(g.stack_global_call(module, name, ("10.0.0.1", 4444)), "model.pkl").verdict is not Verdict.CLEAN


@pytest.mark.parametrize("data", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_attack_is_malicious(data: bytes, scan_cli: Callable[[bytes, str], Scanned]) -> None:
    assert_caught(data, "model.pkl", MAL, scan_cli)


@pytest.mark.parametrize(("module", "name"), [
    # exact allowlisted pairs stay safe though a longer spelling of them walks a denied family
    ("torch._C", "_VariableFunctionsClass"), ("torch._C._nn", "gelu"), ("torch.nn.functional", "relu"),
    ("torch._utils", "_rebuild_tensor_v2"), ("numpy.core.multiarray", "_reconstruct"),
    ("torch.fx._symbolic_trace", "Tracer"), ("collections", "OrderedDict"),
])
def test_allowlisted_pairs_stay_safe(module: str, name: str) -> None:
    assert classify(module, name) is Safety.SAFE


def test_torch_state_dict_stays_clean() -> None:
    assert scan_bytes(g.torch_state_dict_pickle(), "data.pkl").verdict is Verdict.CLEAN


@pytest.mark.parametrize(("module", "name"), [
    # library classes real checkpoints pickle, not allowlisted: unknown (suspicious), not malicious
    ("torch.ao.quantization.observer", "MinMaxObserver"), ("torch.optim.adamw", "AdamW"),
    ("torch.distributions.normal", "Normal"), ("torch.utils.hooks", "RemovableHandle"),
])
def test_library_classes_that_reach_nothing_stay_unknown(module: str, name: str) -> None:
    assert classify(module, name) is Safety.UNKNOWN


# ---- custom Python code: a payload hidden as computed constants, or a sink reached by name -----------
PY_CASES: list[tuple[str, str]] = [
    ("getattr-builtins-concat", "getattr(__builtins__, 'ex' + 'ec')(\"print('pwned')\")"),
    ("getattr-builtins-literal", "import builtins\ngetattr(builtins, 'exec')(\"print('pwned')\")"),
    ("builtins-dict-key", "__builtins__.__dict__['ex' 'ec'](\"print('pwned')\")"),
    ("vars-builtins-key", "vars(__builtins__)['exec'](\"print('pwned')\")"),
    ("globals-builtins-key", "globals()['__builtins__']['exec'](\"print('pwned')\")"),
    ("dunder-import-concat", "__import__('o' + 's').system('echo pwned')"),
    ("import-module-chr", "import importlib\nimportlib.import_module(chr(111) + chr(115)).system('echo pwned')"),
    ("getattr-os-split", "import os\ngetattr(os, 'sys' + 'tem')('echo pwned')"),
    ("exec-reversed", "exec(\")'denwp'(tnirp\"[::-1])"),
    ("exec-chr-join", "exec(''.join(map(chr, [112, 114, 105, 110, 116, 40, 49, 41])))"),
    ("exec-comprehension", "exec(''.join([chr(c) for c in [112, 114, 105, 110, 116, 40, 49, 41]]))"),
    ("eval-format", "eval('{}{}'.format('pri', 'nt(1)'))"),
    ("system-concat", "import os\nos.system('ec' + 'ho pwned')"),
    ("class-body-exec-runs-process", "class Config:\n    exec(\"import os; os.system('echo pwned')\")"),
    ("atexit-hands-over-system", "import atexit, os\natexit.register(os.system, 'echo pwned')"),
    ("subclasses-escape", "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen']"),
    ("setattr-builtin-to-exec", "import builtins\nsetattr(builtins, 'print', exec)\nprint('import os')"),
]


@pytest.mark.parametrize("code", [c[1] for c in PY_CASES], ids=[c[0] for c in PY_CASES])
def test_hidden_python_payload_is_malicious(code: str, scan_cli: Callable[[bytes, str], Scanned]) -> None:
    assert_caught(code.encode(), "modeling_evil.py", MAL, scan_cli)


@pytest.mark.parametrize("code", [
    "rows = items[1:-1]\nlast = items[::-1]",  # slices fold, but go to no sink
    "for sub in Base.__subclasses__():\n    REGISTRY[sub.__name__] = sub",  # a registry, not an escape
    "import importlib\ndef load(name):\n    return importlib.import_module('.' + name, 'mypkg')",
    "NAME = 'model' + '_v2'\nPATH = 'weights/' + NAME + '.bin'",
    "def f(module, suffix):\n    return getattr(module, 'forward_' + suffix)",
], ids=["slices", "subclass-registry", "relative-import", "constant-names", "getattr-computed-on-object"])
def test_ordinary_code_is_not_called_obfuscated(code: str) -> None:
    result = scan_bytes(code.encode(), "modeling_ok.py")
    assert "MG-S304" not in {f.rule for f in result.findings}, result.findings
    assert result.verdict is not Verdict.MALICIOUS


# ---- YAML configs: Python object tags run under a full or unsafe loader --------------------------------
YAML_CASES: list[tuple[str, bytes]] = [
    ("apply", b"model: !!python/object/apply:os.system ['echo pwned']\n"),
    ("new", b"x: !!python/object/new:subprocess.Popen [['echo', 'pwned']]\n"),
    ("name", b"a: !!python/name:os.system\n"),
    ("module", b"a: !!python/module:os\n"),
    ("tag-directive", b"%TAG !p! tag:yaml.org,2002:python/object/apply:\n---\nx: !p!os.system ['echo pwned']\n"),
    ("secondary-handle-renamed",
     b"%TAG !! tag:yaml.org,2002:python/object/apply:\n---\nx: !!os.system ['echo pwned']\n"),
    ("verbatim-tag", b"x: !<tag:yaml.org,2002:python/object/apply:os.system> ['echo pwned']\n"),
    ("percent-escaped", b"x: !!python/object/apply:os%2Esystem ['echo pwned']\n"),
    ("before-a-parse-error", b"x: !!python/object/apply:os.system ['echo pwned']\n---\n: : : [\n"),
]


@pytest.mark.parametrize("data", [c[1] for c in YAML_CASES], ids=[c[0] for c in YAML_CASES])
def test_yaml_python_tag_is_malicious(data: bytes, scan_cli: Callable[[bytes, str], Scanned]) -> None:
    assert_caught(data, "config.yaml", MAL, scan_cli)
    assert "MG-S530" in {f.rule for f in scan_bytes(data, "hparams.txt").findings}  # any name a script loads


def test_yaml_tag_on_an_unknown_callable_is_suspicious() -> None:
    result = scan_bytes(b"x: !!python/object/apply:mylib.build ['a']\n", "config.yaml")
    assert {f.rule for f in result.findings} == {"MG-S531"} and result.verdict is Verdict.SUSPICIOUS


def test_yaml_tags_in_text_over_the_limit_are_not_passed() -> None:
    from modelguard.scan import Limits

    data = b"lr: 0.1\n" * 64 + b"x: !!python/object/apply:os.system [id]\n"
    result = scan_bytes(data, "config.yaml", limits=Limits(max_text_bytes=256))
    assert {f.rule for f in result.findings} == {"MG-S531"}, result.findings
    assert scan_bytes(b"lr: 0.1\n" * 64, "config.yaml", limits=Limits(max_text_bytes=256)).verdict is Verdict.CLEAN


@pytest.mark.parametrize("data", [
    b"shape: !!python/tuple [3, 224, 224]\nlr: 0.1\n",  # PyYAML's plain data tags
    b"x: !!python/object/apply:collections.OrderedDict [[[a, 1]]]\n",  # an allowlisted constructor
    b"lr: 0.1\nbatch: 32\n",
    b"hello\n!!\nworld\n!<\n",  # a vocabulary with the tag characters as tokens
], ids=["tuple", "ordered-dict", "plain", "vocabulary"])
def test_ordinary_yaml_and_text_stay_clean(data: bytes) -> None:
    assert scan_bytes(data, "config.yaml").verdict is Verdict.CLEAN


# ---- custom Python code: a process started by a module-local function the import itself runs -----------
_SYSTEM = "import os\n"
IMPORT_RUN_CASES: list[tuple[str, str]] = [
    ("function-called-at-top", _SYSTEM + "def setup():\n    os.system('echo pwned')\nsetup()\n"),
    ("call-chain", _SYSTEM + "def a():\n    os.system('echo pwned')\ndef b():\n    a()\nb()\n"),
    ("class-instantiated-at-top",
     _SYSTEM + "class A:\n    def __init__(self):\n        os.system('echo pwned')\nA()\n"),
    ("method-through-self", _SYSTEM + "class A:\n    def __init__(self):\n        self.go()\n"
                                      "    def go(self):\n        os.system('echo pwned')\nA()\n"),
    ("decorator", _SYSTEM + "def reg(f):\n    os.system('echo pwned')\n    return f\n@reg\ndef g():\n    pass\n"),
    ("decorator-factory", _SYSTEM + "def reg(name):\n    def inner(f):\n        os.system('echo ' + name)\n"
                                    "        return f\n    return inner\n@reg('x')\ndef g():\n    pass\n"),
    ("metaclass", _SYSTEM + "class M(type):\n    def __new__(m, n, b, d):\n        os.system('echo pwned')\n"
                            "        return super().__new__(m, n, b, d)\nclass C(metaclass=M):\n    pass\n"),
    ("init-subclass", _SYSTEM + "class B:\n    def __init_subclass__(cls):\n        os.system('echo pwned')\n"
                                "class C(B):\n    pass\n"),
    ("module-getattr", _SYSTEM + "def __getattr__(name):\n    os.system('echo ' + name)\n"),
]


@pytest.mark.parametrize("code", [c[1] for c in IMPORT_RUN_CASES], ids=[c[0] for c in IMPORT_RUN_CASES])
def test_process_run_by_the_import_is_malicious(code: str, scan_cli: Callable[[bytes, str], Scanned]) -> None:
    assert_caught(code.encode(), "modeling_evil.py", MAL, scan_cli)
    assert "MG-S315" in {f.rule for f in scan_bytes(code.encode(), "modeling_evil.py").findings}


@pytest.mark.parametrize("code", [
    "import subprocess\ndef build_kernel():\n    subprocess.run(['nvcc', 'k.cu'])\n",
    "import subprocess\nclass K:\n    def __init__(self):\n        subprocess.run(['nvcc'])\n",
], ids=["function-never-called", "class-never-instantiated"])
def test_process_in_code_the_import_does_not_run_stays_suspicious(code: str) -> None:
    result = scan_bytes(code.encode(), "modeling_ok.py")
    assert "MG-S315" not in {f.rule for f in result.findings} and result.verdict is Verdict.SUSPICIOUS
