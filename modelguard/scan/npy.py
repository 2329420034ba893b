"""numpy ``.npy`` files: the header is checked, object arrays' pickles are analysed.

An ``.npy`` file is a magic string, a version, a length-prefixed header (a Python dict
literal: ``descr``, ``fortran_order``, ``shape``) and the array bytes. With an object dtype
the bytes are a pickle that ``numpy.load(allow_pickle=True)`` runs; that pickle goes to the
pickle scanner. Otherwise only the framing is checked: shape × itemsize against the bytes
present, without reading the data.

Must not: import numpy to parse untrusted headers, evaluate anything but a literal, or read
array data. (``.npz`` archives are zips and go through :mod:`modelguard.scan.zipscan`.)
"""

from __future__ import annotations

import ast
import io
import re
import struct
import tokenize

from modelguard.models import Finding, Format
from modelguard.report.rules import finding
from modelguard.scan.base import MalformedError, Outcome, ScanContext, Source
from modelguard.scan.streams import WindowSource, bounded, scan_nested

MAGIC = b"\x93NUMPY"
_MAX_HEADER = 65_536
"""numpy itself refuses headers over 10,000 bytes unless told otherwise"""

_TYPESTR = re.compile(r"^[<>|=]?([?bBhHiIlLqQpPefdgFDGbiufcmMOSUVa])(\d*)(\[\w+\])?$")
_FIXED = {"?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 8, "L": 8, "q": 8, "Q": 8,
          "p": 8, "P": 8, "e": 2, "f": 4, "d": 8, "g": 16, "F": 8, "D": 16, "G": 32}


class _ObjectDtype(Exception):
    pass


# Type names numpy.dtype() also accepts for the object dtype; numpy itself writes "|O".
_OBJECT_NAMES = frozenset({"object", "object_", "O"})


def itemsize(descr: object) -> int:
    """Bytes per element of a dtype description; raises _ObjectDtype for object fields."""
    if isinstance(descr, str) and descr.strip() in _OBJECT_NAMES:
        raise _ObjectDtype
    if isinstance(descr, tuple) and len(descr) == 2:
        # a sub-array dtype (base, shape), which numpy.lib.format.descr_to_dtype accepts too
        return itemsize(descr[0]) * _count(descr[1])
    if isinstance(descr, str):
        m = _TYPESTR.match(descr)
        if m is None:
            raise MalformedError(f"unknown dtype {descr!r}")
        kind, digits = m.group(1), m.group(2)
        if kind == "O":
            raise _ObjectDtype
        if digits:
            return int(digits) * (4 if kind == "U" else 1)
        if kind in _FIXED:
            return _FIXED[kind]
        raise MalformedError(f"dtype {descr!r} has no size")
    if isinstance(descr, list):
        total = 0
        for field in descr:
            if not isinstance(field, tuple) or len(field) not in (2, 3):
                raise MalformedError(f"bad structured dtype field {field!r}")
            count = 1
            if len(field) == 3:
                count = _count(field[2])
            total += itemsize(field[1]) * count
        return total
    raise MalformedError(f"bad dtype description {descr!r}")


def _count(shape: object) -> int:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                               for d in shape):
        raise MalformedError(f"bad shape {shape!r}")
    n = 1
    for d in shape:
        n *= d
    return n


def _without_py2_longs(text: str) -> str:
    """A version 1.0 header as numpy reads it: Python 2 wrote shapes with longs (``(10L,)``), and
    ``numpy.lib.format`` drops the ``L`` after a number token before evaluating the literal."""
    if "L" not in text:
        return text
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return text  # literal_eval reports the header as it is
    kept: list[tuple[int, str]] = []
    for tok in tokens:
        if tok.type == tokenize.NAME and tok.string == "L" and kept and kept[-1][0] == tokenize.NUMBER:
            continue
        kept.append((tok.type, tok.string))
    return str(tokenize.untokenize(kept))


def read_header(source: Source) -> tuple[dict[str, object], int]:
    """The header dict and the offset where array data starts."""
    with bounded(source) as f:
        pre = f.read(10)
        if len(pre) < 10 or not pre.startswith(MAGIC):
            raise MalformedError("not an .npy file or truncated header")
        major = pre[6]
        if major == 1:
            (hlen,) = struct.unpack("<H", pre[8:10])
            start = 10
        elif major in (2, 3):
            pre += f.read(2)
            if len(pre) < 12:
                raise MalformedError("truncated .npy header")
            (hlen,) = struct.unpack("<I", pre[8:12])
            start = 12
        else:
            raise MalformedError(f"unknown .npy format version {major}.{pre[7]}")
        if hlen > _MAX_HEADER:
            raise MalformedError(f".npy header claims {hlen} bytes (numpy refuses over 10000)")
        raw = f.read(hlen)
    if len(raw) < hlen:
        raise MalformedError(".npy header is truncated")
    text = raw.decode("utf-8" if major == 3 else "latin-1")
    try:
        header = ast.literal_eval(_without_py2_longs(text) if major == 1 else text)
    except (ValueError, SyntaxError, RecursionError, MemoryError, TypeError) as e:
        # literal_eval names the offending node by its memory address: say what it is instead
        why = re.sub(r"<ast\.(\w+) object at 0x[0-9a-f]+>", r"a \1 node", str(e))
        raise MalformedError(f".npy header is not a literal dict: {why}") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise MalformedError(".npy header must hold exactly descr, fortran_order and shape")
    if not isinstance(header["fortran_order"], bool):
        raise MalformedError(".npy fortran_order is not a bool")
    return header, start + hlen


def _trailing_newlines(source: Source, end: int) -> int:
    """How many newlines end the data right after a STOP opcode (at most 16)."""
    with bounded(source) as f:
        f.seek(max(0, end - 17))
        tail = f.read(17)
    kept = tail.rstrip(b"\n")
    return len(tail) - len(kept) if kept.endswith(b".") else 0


def scan(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    header, data_start = read_header(source)
    findings: list[Finding] = []
    rest = source.size - data_start
    try:
        size = itemsize(header["descr"])
    except _ObjectDtype:
        # numpy.load(allow_pickle=True) unpickles everything after the header.
        if rest <= 0:
            raise MalformedError("object array has no pickle data") from None
        # numpy.load unpickles once and reads no further; NumPy 1.x under Python 2 ended the
        # pickle with a newline, which is not a second payload.
        rest -= _trailing_newlines(source, data_start + rest)
        scan_nested(ctx, WindowSource(source, data_start, rest, f"{source.name}!<object array pickle>"), findings)
        return Outcome(Format.NUMPY.value, findings)
    except MalformedError as e:
        # numpy accepts dtype spellings this reader does not know; if one of them means
        # "object", numpy unpickles the data, so the data is scanned by content too.
        findings.append(finding("MG-S001", str(e), location=source.name))
        scan_nested(ctx, WindowSource(source, data_start, rest, f"{source.name}!<data of an unknown dtype>"),
                    findings)
        return Outcome(Format.NUMPY.value, findings)
    expected = _count(header["shape"]) * size
    if rest < expected:
        raise MalformedError(f"header promises {expected} bytes of array data, file holds {rest}")
    if rest > expected:
        extra = rest - expected
        findings.append(finding("MG-S206", f"{extra} bytes after the array data", location=source.name))
        scan_nested(ctx, WindowSource(source, data_start + expected, extra,
                                      f"{source.name}!<{extra} bytes after the array>"), findings)
    return Outcome(Format.NUMPY.value, findings)
