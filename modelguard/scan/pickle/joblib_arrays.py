"""Where joblib's array payloads sit in a pickle stream, computed from the pickled wrapper.

joblib (>= 0.10) pickles each numpy array as a ``NumpyArrayWrapper`` instance and writes the
array bytes straight after the BUILD opcode that sets its state; ``joblib.load`` reads them in
its BUILD hook. Since joblib 1.2 one padding-length byte and that much padding align the data
to 16 bytes (only when the state carries ``numpy_array_alignment_bytes``). Object arrays are
a nested pickle instead. This module computes the layout exactly as joblib's
``NumpyArrayWrapper.read_array`` consumes it, from static values only; it never reads data.

Older joblib (<= 0.9) wrappers (``NDArrayWrapper``/``ZNDArrayWrapper``) name a side file that
joblib joins to the pickle's folder and loads with pickles allowed.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from modelguard.scan.base import MalformedError
from modelguard.scan.pickle.values import DictVal, GlobalRef, NotStatic, Obj, to_static

_PACKAGES = ("joblib.numpy_pickle", "sklearn.externals.joblib.numpy_pickle")
INLINE_WRAPPERS = frozenset(GlobalRef(p, "NumpyArrayWrapper") for p in _PACKAGES)
SIDE_FILE_WRAPPERS = frozenset(
    GlobalRef(p, n)
    for p in (*_PACKAGES, "joblib.numpy_pickle_compat")
    for n in ("NDArrayWrapper", "ZNDArrayWrapper")
)
WRAPPERS = INLINE_WRAPPERS | SIDE_FILE_WRAPPERS

_RECONSTRUCTORS = frozenset({GlobalRef("copyreg", "_reconstructor"), GlobalRef("copy_reg", "_reconstructor")})
_DTYPES = frozenset({GlobalRef("numpy", "dtype")})
_FLEXIBLE = frozenset("SUVa")
_CODE = re.compile(r"^[<>|=]?([a-zA-Z?]+)(\d*)$")
_DEFAULT_SIZES = {"?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 8, "L": 8, "q": 8, "Q": 8,
                  "e": 2, "f": 4, "d": 8, "g": 16, "F": 8, "D": 16, "G": 32, "O": 8}


def wrapper_class(value: object) -> GlobalRef | None:
    """The joblib wrapper class ``value`` is an instance of, if any."""
    if not isinstance(value, Obj) or value.kind not in ("call", "new"):
        return None
    cls = value.func
    if cls in _RECONSTRUCTORS and isinstance(value.args, tuple) and value.args:
        cls = value.args[0]
    return cls if isinstance(cls, GlobalRef) and cls in WRAPPERS else None


@dataclass(frozen=True)
class InlineArray:
    nbytes: int | None
    """bytes of raw array data; None for an object array (a nested pickle follows)"""
    padded: bool
    """a padding-length byte and that much padding come first"""


def _dtype_layout(dtype: object) -> tuple[bool, int]:
    """(has objects, item size) of a pickled ``numpy.dtype(code, align, copy)`` + BUILD state."""
    if not (isinstance(dtype, Obj) and dtype.func in _DTYPES and isinstance(dtype.args, tuple) and dtype.args):
        raise MalformedError("joblib array wrapper has no recognisable numpy dtype")
    code = dtype.args[0]
    state = dtype.state if isinstance(dtype.state, tuple) else ()
    if not isinstance(code, str) or not (m := _CODE.match(code)):
        raise MalformedError(f"joblib array wrapper has an unrecognised dtype {code!r}")
    kind, digits = m.group(1), m.group(2)
    flags = state[7] if len(state) > 7 and isinstance(state[7], int) else 0
    has_objects = kind == "O" or bool(flags & 1)
    elsize = state[5] if len(state) > 5 and isinstance(state[5], int) else -1
    # numpy's dtype __setstate__ takes elsize only for flexible kinds (bytes, str, void); a
    # fixed-size type keeps its own size whatever the state says, so that size is what joblib reads.
    if kind in _FLEXIBLE and elsize > 0:
        return has_objects, elsize
    if digits:
        size = int(digits) * (4 if kind == "U" else 1)
    elif kind in _DEFAULT_SIZES:
        size = _DEFAULT_SIZES[kind]
    else:
        raise MalformedError(f"joblib array wrapper dtype {code!r} has no item size")
    if elsize > 0 and elsize != size:
        # Which size numpy would use here is not certain: refuse to frame the stream on a guess.
        raise MalformedError(f"joblib array wrapper dtype {code!r} is {size} bytes, its state claims {elsize}")
    return has_objects, size


def inline_array(state: object) -> InlineArray:
    """How joblib reads the array after a ``NumpyArrayWrapper`` BUILD with ``state``."""
    if not isinstance(state, DictVal):
        raise MalformedError("joblib array wrapper state is not a dict")
    try:
        shape = to_static(state.get("shape"), globals_ok=False)
    except NotStatic:
        raise MalformedError("joblib array wrapper shape is not a tuple of integers") from None
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise MalformedError("joblib array wrapper shape is not a tuple of integers")
    has_objects, itemsize = _dtype_layout(state.get("dtype"))
    padded = state.get("numpy_array_alignment_bytes") is not None
    if has_objects:
        return InlineArray(None, False)
    count = 1
    for n in shape:
        count *= n
    return InlineArray(count * itemsize, padded)


def side_file_escapes(state: object) -> str | None:
    """The side-file name of an old-format wrapper when it leaves the pickle's folder."""
    if not isinstance(state, DictVal):
        return None
    name = state.get("filename")
    if not isinstance(name, str):
        return None
    normal = posixpath.normpath(name.replace("\\", "/"))
    if normal.startswith("/") or normal == ".." or normal.startswith("../") or re.match(r"^[a-zA-Z]:", name):
        return name
    return None
