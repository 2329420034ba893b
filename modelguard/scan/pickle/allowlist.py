"""Which pickle imports are safe, which are dangerous, which are safe only in checked calls, and which are unknown.

Owns the tables that classify a pickle global ``(module, name)``; library classes reviewed one
by one live in :mod:`modelguard.scan.pickle.packs`, which :func:`classify` consults. The allowlist
decides the verdict: anything not on it is at least *suspicious*. The denylist only upgrades an unknown
import to *malicious*; it is never the reason something passes (deny-lists are bypassed every
few months, an allowlist fails closed).

The denylist has two parts. :data:`DANGEROUS_MODULES` and the tables after it name, by
category, the *primitives* (process, code, import machinery, file and network I/O, native code,
deserializers, interpreter state) as module families and names, including third-party packages
whose source modelguard does not read. Every other standard-library callable is judged by what
it can *reach*: :mod:`modelguard.scan.pickle.reach` derives, from the source, every function,
class and method whose code can get to a primitive (``dataclasses._create_fn`` -> ``exec``,
``typing.get_type_hints`` -> ``eval``, ``copyreg.add_extension`` -> the extension registry),
and :mod:`modelguard.scan.pickle.reach_table` holds the result; the libraries every pickle loader
imports (torch, numpy, joblib) are derived the same way into :mod:`modelguard.scan.pickle.reach_libs`.

*Guarded* imports (:data:`GUARDED_GLOBALS`) are dangerous callables with one use whose effect
the analyser can see in full: ``getattr(<import>, "<static name>")`` is just another import, and
``torch.fx``'s ``reduce_graph_module`` runs the graph code stored next to it in the pickle. The
machine checks each call of them; any other use is reported as dangerous.

Pure data and lookups; no I/O, never imports the modules it names.
"""

from __future__ import annotations

import _compat_pickle
import functools
from collections.abc import Iterable
from enum import Enum

from modelguard.scan.pickle import packs


class Safety(Enum):
    """How an import is classified."""

    SAFE = "safe"
    UNKNOWN = "unknown"
    DANGEROUS = "dangerous"
    GUARDED = "guarded"
    """dangerous unless every call of it is one the analyser checks (see :data:`GUARDED_GLOBALS`)"""


def _pairs(module: str, names: str) -> set[tuple[str, str]]:
    return {(module, n) for n in names.split()}


# ---- the allowlist: (module, name) pairs that real model files import -------------------------
SAFE_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    # Python containers and scalars. Instantiating them runs no user-controlled code.
    _pairs("builtins", "set frozenset bytearray bytes slice complex range list dict tuple bool int float str object")
    | _pairs("collections", "OrderedDict defaultdict Counter deque")
    | _pairs("datetime", "datetime date time timedelta timezone")
    | _pairs("decimal", "Decimal")
    | _pairs("fractions", "Fraction")
    | _pairs("uuid", "UUID")
    | _pairs("pathlib", "PosixPath WindowsPath PurePosixPath PureWindowsPath Path")
    # hyper-parameters in fairseq / Lightning checkpoints: Namespace(**kw) only sets attributes
    | _pairs("argparse", "Namespace")
    | _pairs("typing", "Any")
    # math constants and pure functions (fx graph code imports inf and nan; hyper-parameters)
    | _pairs("math", "inf nan pi e tau sqrt exp expm1 log log1p log2 log10 pow floor ceil trunc fabs sin cos tan "
                     "asin acos atan atan2 sinh cosh tanh erf erfc gamma lgamma isnan isinf isfinite prod fsum gcd "
                     "isclose copysign hypot")
    # Lightning hparams containers (dict subclasses)
    | _pairs("pytorch_lightning.utilities.parsing", "AttributeDict")
    | _pairs("lightning_fabric.utilities.data", "AttributeDict")
    | _pairs("lightning.fabric.utilities.data", "AttributeDict")
    # pandas frames and series kept next to models (feature names, label encoders)
    | _pairs("pandas", "DataFrame Series Index MultiIndex RangeIndex DatetimeIndex TimedeltaIndex PeriodIndex "
                       "CategoricalIndex IntervalIndex Categorical CategoricalDtype StringDtype Timestamp Timedelta "
                       "Period Interval DatetimeTZDtype PeriodDtype IntervalDtype SparseDtype BooleanDtype Int8Dtype "
                       "Int16Dtype Int32Dtype Int64Dtype UInt8Dtype UInt16Dtype UInt32Dtype UInt64Dtype Float32Dtype "
                       "Float64Dtype NaT NA")
    | _pairs("pandas.core.indexes.base", "_new_Index")
    | _pairs("pandas._libs.internals", "_unpickle_block")
    | _pairs("pandas.core.internals.blocks", "new_block")
    | _pairs("pandas._libs.tslibs.timestamps", "_unpickle_timestamp")
    | _pairs("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle")
    | _pairs("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked")
    # gradient-boosting models: __setstate__ hands the library its own serialised model (no code)
    | _pairs("xgboost.core", "Booster")
    | _pairs("lightgbm.basic", "Booster")
    # functools.partial(func, *args): building one stores func and args and calls nothing (func must
    # only be callable, a type-slot test). Calling the partial later is a call of func with those
    # arguments, which the machine models as exactly that. _functools is where the class lives.
    | _pairs("functools", "partial")
    | _pairs("_functools", "partial")
    # copyreg helpers the pickler itself emits: they call __new__/__init__ of a class that is
    # itself an import of the same pickle, so it is classified on its own.
    | _pairs("copyreg", "_reconstructor __newobj__ __newobj_ex__")
    # Python 3 writes py2-compatible bytes (protocol < 3) as _codecs.encode(text, "latin1").
    | _pairs("_codecs", "encode")
    # PyTorch tensors, parameters and storages (torch.save, torch 1.x and 2.x). NOT
    # torch.storage._load_from_bytes: it calls torch.load on embedded bytes (nested unpickling).
    | _pairs(
        "torch._utils",
        "_rebuild_tensor _rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_parameter _rebuild_parameter_with_state "
        "_rebuild_sparse_tensor _rebuild_sparse_csr_tensor _rebuild_device_tensor_from_numpy "
        "_rebuild_meta_tensor_no_storage _rebuild_wrapper_subclass _rebuild_qtensor _rebuild_nested_tensor "
        "_rebuild_device_tensor_from_cpu_tensor",
    )
    | _pairs("torch._tensor", "_rebuild_from_type_v2")
    | _pairs("torch.nn.parameter", "Parameter UninitializedParameter UninitializedBuffer Buffer")
    | _pairs("torch.storage", "UntypedStorage TypedStorage _TypedStorage")
    | _pairs(
        "torch",
        "Size Tensor device dtype layout memory_format finfo iinfo "
        "UntypedStorage TypedStorage ByteStorage CharStorage ShortStorage IntStorage LongStorage HalfStorage "
        "FloatStorage DoubleStorage BoolStorage BFloat16Storage ComplexFloatStorage ComplexDoubleStorage "
        "QUInt8Storage QInt8Storage QInt32Storage QUInt4x2Storage QUInt2x4Storage "
        # dtypes, layouts, memory formats and qschemes are pickled by name
        "float32 float float64 double float16 half bfloat16 complex32 complex64 cfloat complex128 cdouble "
        "uint8 uint16 uint32 uint64 int8 int16 short int32 int int64 long bool quint8 qint8 qint32 quint4x2 "
        "float8_e4m3fn float8_e5m2 float8_e4m3fnuz float8_e5m2fnuz "
        "strided sparse_coo sparse_csr sparse_csc sparse_bsr sparse_bsc _mkldnn "
        "contiguous_format channels_last channels_last_3d preserve_format "
        "per_tensor_affine per_channel_affine per_tensor_symmetric per_channel_symmetric",
    )
    | _pairs("torch.serialization", "_get_layout")
    # torch.<op> (torch.tanh kept as an activation) pickles as getattr(torch._C._VariableFunctionsClass,
    # "<op>"): the class holds the op bindings and cannot be instantiated; the ops are judged by
    # name through the guarded getattr (torch_ops.VARIABLE_FUNCTIONS).
    | _pairs("torch._C", "_VariableFunctionsClass")
    # torch.fx GraphModule pickles: the tracer class reduce_graph_module instantiates (its __init__
    # records which modules to auto-wrap) re-traces the stored code, which the machine reviews.
    | _pairs("torch.fx._symbolic_trace", "Tracer")
    # torch.distributed.checkpoint .metadata: dataclasses restored from __dict__ (TensorProperties
    # and _StorageInfo define __setstate__/__getstate__ that only assign fields and map an enum to a
    # memory format; MetadataIndex.__init__ builds a torch.Size); _MEM_FORMAT_ENCODING is an Enum.
    | _pairs("torch.distributed.checkpoint.metadata", "Metadata TensorStorageMetadata TensorProperties "
                                                      "ChunkStorageMetadata BytesStorageMetadata MetadataIndex "
                                                      "StorageMeta _MEM_FORMAT_ENCODING")
    | _pairs("torch.distributed.checkpoint.filesystem", "_StorageInfo")
    # TorchScript archives (debug_pkl, traced_inputs.pkl): identity functions that tag a list's
    # static type for the C++ unpickler. Exact pairs: the rest of torch.jit stays dangerous.
    | _pairs("torch.jit._pickle", "build_intlist build_tensorlist build_doublelist build_boollist "
                                  "build_tensor_from_id restore_type_tag")
    | _pairs("torch.torch_version", "TorchVersion")
    | _pairs("torch.nn.backends.thnn", "_get_thnn_function_backend")  # whole-model pickles of torch <= 0.4
    # NumPy arrays, dtypes and scalars (pickle.dumps of ndarray, np.save object arrays).
    | _pairs("numpy", "ndarray dtype matrix bool_ float16 float32 float64 int8 int16 int32 int64 uint8 "
                      "uint16 uint32 uint64 complex64 complex128 str_ bytes_ void datetime64 timedelta64")
    # ufuncs stored as parameters (FunctionTransformer(np.log1p)): pure element-wise maths
    | _pairs("numpy", "log log1p log2 log10 exp expm1 exp2 sqrt cbrt square abs absolute negative reciprocal "
                      "sign sin cos tan arcsin arccos arctan sinh cosh tanh arctanh floor ceil rint trunc add "
                      "subtract multiply divide true_divide floor_divide power maximum minimum fmax fmin isnan")
    | _pairs("numpy.core.multiarray", "_reconstruct scalar")
    | _pairs("numpy._core.multiarray", "_reconstruct scalar")
    | _pairs("numpy.core.numeric", "_frombuffer")
    | _pairs("numpy._core.numeric", "_frombuffer")
    | _pairs("numpy.matrixlib.defmatrix", "matrix")
    | _pairs("numpy.ma.core", "MaskedArray _mareconstruct")
    | _pairs("numpy.ma", "MaskedArray")
    | _pairs("numpy.random", "__RandomState_ctor")
    | _pairs("numpy.random._pickle", "__randomstate_ctor __bit_generator_ctor __generator_ctor")
    | _pairs("numpy.random.mtrand", "RandomState")
    | _pairs("numpy.random._mt19937", "MT19937")
    | _pairs("numpy.random._pcg64", "PCG64 PCG64DXSM")
    | _pairs("numpy.random._philox", "Philox")
    | _pairs("numpy.random._sfc64", "SFC64")
    | _pairs("numpy.random._generator", "Generator")
    | _pairs("numpy.random.bit_generator", "SeedSequence __pyx_unpickle_SeedSequence")
    # joblib array wrappers: data classes whose payload the joblib unpickler reads from the
    # stream (NumpyArrayWrapper) or from a side file next to the pickle (joblib <= 0.9).
    | _pairs("joblib.numpy_pickle", "NumpyArrayWrapper NDArrayWrapper ZNDArrayWrapper")
    | _pairs("joblib.numpy_pickle_compat", "NDArrayWrapper ZNDArrayWrapper")
    | _pairs("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper NDArrayWrapper ZNDArrayWrapper")
    # scikit-learn's Cython trees and metrics restore themselves through newObj(cls) = cls.__new__(cls)
    | _pairs("sklearn.neighbors._kd_tree", "newObj")
    | _pairs("sklearn.neighbors._ball_tree", "newObj")
    | _pairs("sklearn.metrics._dist_metrics", "newObj")
    # SciPy sparse matrices (scikit-learn vectorisers keep them).
    | _pairs("scipy.sparse._csr", "csr_matrix csr_array")
    | _pairs("scipy.sparse._csc", "csc_matrix csc_array")
    | _pairs("scipy.sparse._coo", "coo_matrix coo_array")
    | _pairs("scipy.sparse.csr", "csr_matrix")
    | _pairs("scipy.sparse.csc", "csc_matrix")
    | _pairs("scipy.sparse.coo", "coo_matrix")
    # training_args.bin (transformers >= 4.38 with accelerate): a dataclass, and accelerate's
    # state holder; neither defines __setstate__/__reduce__, so unpickling only fills __dict__.
    | _pairs("transformers.trainer_pt_utils", "AcceleratorConfig")
    | _pairs("accelerate.state", "PartialState")
)

# Module families whose *classes* are safe to instantiate from a pickle: object.__new__ plus a
# __setstate__ that only stores attributes. Only CamelCase names (optionally with one leading
# underscore) that contain no dot qualify; functions (lower case) in these packages are still
# "unknown".
SAFE_CLASS_PACKAGES: tuple[str, ...] = (
    "torch.nn.modules.",  # nn.Module subclasses in whole-model checkpoints
    "sklearn.",  # estimators: BaseEstimator.__setstate__ only updates __dict__
    "tokenizers.",
    "scipy.sparse.",
    # training_args.bin (torch.save of TrainingArguments): dataclasses and enums restored by
    # __new__ + __dict__ update; their __post_init__ reads config JSON at most.
    "transformers.training_args.",
    "transformers.training_args_seq2seq.",
    "transformers.trainer_utils.",
    "transformers.debug_utils.",
    "transformers.utils.generic.",  # ExplicitEnum, PaddingStrategy, TensorType
    "accelerate.utils.dataclasses.",
    "pandas.core.",  # not pandas.io: ExcelWriter, HDFStore and friends open files when built
    "pandas.arrays.",
    "omegaconf.",  # Hydra/Lightning configs: nodes and containers restored from their __dict__
    "xgboost.sklearn.",
    "lightgbm.sklearn.",
    # TorchScript class types (data.pkl of torch.jit.save archives): the C++ unpickler builds them
    # from the archive's own code/ (reviewed separately, see torchscript_code); Python's pickle
    # cannot import a module named __torch__, so nothing runs there either.
    "__torch__.",
)
# ...except these subpackages, which fetch data, run tests or vendor a pickle loader.
UNSAFE_SUBPACKAGES: tuple[str, ...] = (
    "sklearn.datasets", "sklearn.externals", "sklearn.utils._testing", "sklearn.utils._show_versions",
    "pandas.core.computation", "pandas.core.window",
    # scikit-learn >= 1.9 progress callbacks: the module imports multiprocessing.connection's Client and
    # Listener (a connection opened when built) and threading.Thread under CamelCase names
    "sklearn.callback",
)


# ---- the denylist: imports that are known to run code, touch files or the network -------------
# A module in here, or any submodule of it, makes an import dangerous; so does an attribute chain
# that walks through one of these names (``torch`` / ``serialization.os.system``).
DANGEROUS_MODULES: frozenset[str] = frozenset(
    # process execution
    "os posix nt subprocess pty commands popen2 spawn multiprocessing concurrent _posixsubprocess "
    # code execution, import machinery, interpreters that run strings
    "code codeop runpy importlib imp pkgutil zipimport compileall py_compile "
    "pdb bdb trace profile cProfile timeit doctest idlelib lib2to3 ast dis inspect "
    # nested unpickling / deserialisers of code
    "pickle _pickle cPickle pickletools shelve marshal dill cloudpickle "
    # file system and network I/O
    "shutil tempfile glob fileinput io _io socket ssl http urllib urllib2 urllib3 requests httpx "
    "ftplib smtplib poplib imaplib nntplib telnetlib socketserver xmlrpc webbrowser asyncio selectors "
    "mmap sqlite3 dbm tarfile zipfile "
    # native code, interpreter state, signals, threads
    "ctypes _ctypes cffi sys signal threading _thread gc resource faulthandler atexit sysconfig "
    "site distutils setuptools pip venv ensurepip "
    "torch._C torch.jit torch.hub torch.utils.cpp_extension torch.fx torch.package torch._dynamo "
    "torch._inductor numpy.testing numpy.f2py numpy.distutils numpy.ctypeslib "
    # torch helpers that shell out, run test-harness commands or call remote procedures (not the rest
    # of torch.distributed: DTensor checkpoints pickle its placement classes)
    "torch.utils.collect_env torch.utils.bottleneck torch.testing torch.distributed.rpc "
    # helpers known to run shell commands or import by name (picklescan/modelscan bypass advisories)
    "pydoc platform mailcap _osx_support _aix_support logging.config test unittest.mock "
    "psutil pexpect paramiko fabric invoke plumbum sh aiohttp huggingface_hub "
    "transformers.dynamic_module_utils _winapi msvcrt winreg win32api win32com "
    # the interpreter's private names for denied modules (importlib._bootstrap is frozen as
    # _frozen_importlib), the C halves of denied ones, and interpreters that run source strings
    # (subinterpreters, the test C-API, the 3.13 REPL); Python versions newer than the one the
    # derived table was read from ship some of them, so they are named here
    "_frozen_importlib _frozen_importlib_external _bootstrap _bootstrap_external _sqlite3 _dbm _gdbm "
    "_interpreters _xxsubinterpreters _interpchannels _xxinterpchannels _interpqueues _testcapi "
    "_testinternalcapi _testmultiphase _testsinglephase _pyrepl _remote_debugging _lsprof _tracemalloc "
    "annotationlib".split()
)

# Names that are dangerous whatever module they come from (``getattr`` chains, dunder access,
# exec-like functions).
DANGEROUS_NAMES: frozenset[str] = frozenset(
    "eval exec execfile __import__ getattr setattr delattr globals locals vars open input "
    "breakpoint help system popen spawn execv execve execvp execl fork startfile load loads "
    "load_module import_module __builtins__ __globals__ __code__ __subclasses__ __getattribute__ "
    "__reduce__ __reduce_ex__ __setstate__ __class__ __bases__ __mro__ __dict__ __closure__ "
    "_load_from_bytes _ufunc_reconstruct run_path run_module call_function apply reload unsafe_load "
    "full_load load_model read_pickle read_array get_class_from_dynamic_module "
    # hops from any object to a module, a loader or the wrapped original (builtin functions'
    # __self__ is their module; a module's __loader__ loads and runs code)
    "__self__ __func__ __wrapped__ __loader__ __spec__ __objclass__ __getattr__".split()
)

DANGEROUS_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    _pairs("operator", "attrgetter methodcaller itemgetter call")
    # the C implementations the pure-Python modules re-export, importable under their own names
    | _pairs("_operator", "attrgetter methodcaller itemgetter call")
    | _pairs("functools", "partialmethod reduce")
    | _pairs("_functools", "reduce")
    | _pairs("joblib", "load")
    | _pairs("joblib.numpy_pickle", "load")
    | _pairs("numpy", "load fromfile loadtxt genfromtxt memmap")
    | _pairs("torch", "load")
    | _pairs("torch.serialization", "load _load")
    | _pairs("torch.storage", "_load_from_bytes")
    | _pairs("builtins", "compile")
    | _pairs("types", "CodeType FunctionType MethodType ModuleType LambdaType")
)


GUARDED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    # getattr(obj, name[, default]): with an import and a literal name it is the import obj.name,
    # classified like any other; with anything else it reaches any attribute of any object.
    _pairs("builtins", "getattr")
    # reduce_graph_module(body, import_block) execs import_block + body["_code"] and re-traces the
    # module (running the code): safe exactly when that code is generated graph code.
    | _pairs("torch.fx.graph_module", "reduce_graph_module")
)


def normalise(module: str, name: str) -> tuple[str, str]:
    """The Python 3 name of a Python 2 import, as ``pickle`` maps it (``__builtin__`` -> ``builtins``)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        mapped: tuple[str, str] = _compat_pickle.NAME_MAPPING[(module, name)]
        return mapped
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _is_dangerous(module: str, name: str) -> bool:
    if (module, name) in SAFE_GLOBALS or _is_torch_op(module, name):
        return False  # an exact pair reviewed above beats a module-wide entry (torch._C ops)
    if (module, name) in DANGEROUS_GLOBALS:
        return True
    # ``os.path`` is dangerous because ``os`` is; ``numpy.random._pickle`` is not because ``_pickle`` is.
    segments = module.split(".")
    if any(".".join(segments[: i + 1]) in DANGEROUS_MODULES for i in range(len(segments))):
        return True
    # ``name`` may be a dotted attribute chain (protocol 4): every step counts.
    attrs = name.split(".")
    if any(a in DANGEROUS_NAMES for a in attrs):
        return True
    return _walks_into_denied(segments, attrs)


def _walks_into_denied(segments: list[str], attrs: list[str]) -> bool:
    """A chain that walks into a denied module as an attribute: of another module
    (``serialization.os.system``), or of the denied family's own parent (``numpy`` /
    ``f2py.compile``, ``torch`` / ``_C._jit_pass``: a package exposes its submodules as
    attributes); or that ends on a denied callable of a module it walked into
    (``functional.functools.reduce``)."""
    if len(attrs) < 2:
        return False
    path = [*segments, *attrs]
    leaf = len(path) - 1
    # every run of names that ends on an attribute walked through (not on the leaf)
    if any(".".join(path[i: j + 1]) in DANGEROUS_MODULES for j in range(len(segments), leaf) for i in range(j + 1)):
        return True
    return any((".".join(path[i:leaf]), path[leaf]) in DANGEROUS_GLOBALS for i in range(1, leaf))


def _is_torch_op(module: str, name: str) -> bool:
    """A tensor function a whole-model checkpoint keeps as an attribute (see :mod:`torch_ops`)."""
    if not module.startswith("torch"):
        return False
    from modelguard.scan.pickle import torch_ops

    if module == "torch.nn.functional":
        return name in torch_ops.FUNCTIONAL
    if module == "torch._C._nn":
        return name in torch_ops.NN_OPS
    if module == "torch" and "." not in name:
        return name in torch_ops.VARIABLE_FUNCTIONS  # torch.<op> named directly (fx graph code: torch.cat)
    if module == "torch._C" and name.startswith("_VariableFunctionsClass."):
        return name[len("_VariableFunctionsClass."):] in torch_ops.VARIABLE_FUNCTIONS
    return False


_LIBRARIES = ("torch", "numpy", "joblib")
"""the packages :mod:`modelguard.scan.pickle.reach_libs` was derived from (``reach.LIBRARIES``)"""


def reaches(module: str, name: str) -> str | None:
    """The primitive a standard-library or loader-library callable can reach, from the derived
    tables (None: none known)."""
    from modelguard.scan.pickle.reach_table import MODULE_REACHES, REACHES

    segments = module.split(".")
    found = next((MODULE_REACHES[m] for i in range(len(segments))
                  if (m := ".".join(segments[: i + 1])) in MODULE_REACHES), None)
    if found is not None:
        return found
    table = REACHES
    if segments[0] in _LIBRARIES:
        from modelguard.scan.pickle.reach_libs import REACHES as LIBRARY_REACHES

        table = LIBRARY_REACHES
    # an attribute chain is as dangerous as the first dangerous callable it walks through
    parts = f"{module}.{name}".split(".")
    for i in range(len(segments) + 1, len(parts) + 1):
        found = table.get(".".join(parts[:i]))
        if found is not None:
            return found
    return None


def _is_exactly_safe(module: str, name: str, extra: Iterable[tuple[str, str]]) -> bool:
    """An exact pair reviewed here or in a library pack (packs.py says why), or a torch op."""
    return ((module, name) in SAFE_GLOBALS or (module, name) in extra or (module, name) in packs.DEFAULT_GLOBALS
            or _is_torch_op(module, name))


def _is_family_safe(module: str, name: str) -> bool:
    """A class of a reviewed package family (:data:`SAFE_CLASS_PACKAGES`)."""
    # Classes only (CamelCase, private ones like sklearn's _BinMapper too); never functions or chains.
    if "." in name or name.startswith("__") or not name.lstrip("_")[:1].isupper():
        return False
    if any(module == p or module.startswith(p + ".") for p in UNSAFE_SUBPACKAGES):
        return False
    # every typed storage class (Float8_e5m2Storage ...); torch.cuda.* in legacy GPU checkpoints
    if module in ("torch", "torch.cuda") and name.endswith("Storage"):
        return True
    return any((module + ".").startswith(p) for p in SAFE_CLASS_PACKAGES)


@functools.lru_cache(maxsize=8192)
def classify(module: str, name: str, extra: frozenset[tuple[str, str]] = frozenset()) -> Safety:
    """Classify one import. ``extra`` holds (module, name) pairs a policy allows.

    Order: a guarded callable, then the primitives (an exact allowlisted pair beats a module
    family), then the exact allowlist, then what the derived tables say the callable can reach,
    then the allowlisted class families.
    """
    candidates = {(module, name), normalise(module, name)}
    if candidates & GUARDED_GLOBALS:
        return Safety.SAFE if (module, name) in extra else Safety.GUARDED
    if any(_is_dangerous(m, n) for m, n in candidates):
        # The policy can still allow an exact pair it has reviewed; nothing else overrides this.
        return Safety.SAFE if (module, name) in extra else Safety.DANGEROUS
    if any(_is_exactly_safe(m, n, extra) for m, n in candidates):
        return Safety.SAFE
    # Before the family rule: a family was reviewed for the classes it defines, not for what its
    # modules import from elsewhere (torch.nn.modules.<m>.NamedTuple is typing.NamedTuple).
    if any(reaches(m, n) is not None for m, n in candidates):
        return Safety.DANGEROUS
    if any(_is_family_safe(m, n) for m, n in candidates):
        return Safety.SAFE
    return Safety.UNKNOWN


def danger_note(module: str, name: str) -> str:
    """Why a dangerous import is dangerous when the derived table is the reason: ``; it reaches X``."""
    for m, n in sorted({(module, name), normalise(module, name)}):
        if not _is_dangerous(m, n):
            found = reaches(m, n)
            if found is not None:
                shown = f"a write to {found[:-len('.<write>')]}" if found.endswith(".<write>") else found
                return f"; it reaches {shown}"
    return ""
