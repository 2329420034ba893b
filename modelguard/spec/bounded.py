"""Reading untrusted bytes within a budget: capped file reads and depth-checked JSON.

Every file modelguard reads that someone else may have written (lockfile, manifest, policy,
signatures, admission records, the audit log) and every JSON document (Hub answers included)
goes through here, so a size or a depth is checked before a parser allocates or recurses:

* :func:`read_capped` reads at most the budget (plus one byte to tell "more"), from a regular file
  only: ``/dev/zero`` or a FIFO named as a policy file is refused instead of read forever.
* :func:`nests_deeper` measures nesting in C-speed passes (no Python loop per byte of a 64 MiB
  answer), and :func:`load_json` refuses a document deeper than the budget before ``json.loads``,
  whose C scanner would otherwise recurse into ``RecursionError``.

Errors: :class:`~modelguard.spec.limits.OverBudget` for a budget, :class:`UnreadableError` (exit 3)
naming the file for permissions and I/O errors, :class:`UsageError` for a path that names no
regular file; a missing file raises ``FileNotFoundError`` for the
caller to word (a missing lockfile and a missing record mean different things). Decoding problems
(``json.JSONDecodeError``, ``UnicodeDecodeError``) are the caller's too.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from typing import Any

from modelguard.errors import UnreadableError, UsageError
from modelguard.spec import limits
from modelguard.spec.limits import Budget, OverBudget

READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
"""Opening for a bounded read: O_NONBLOCK so that opening a FIFO never waits for a writer (the caller
then refuses anything that is not a regular file, by ``fstat``)."""


def read_prefix(fd: int, limit: int) -> bytes:
    """At most ``limit`` bytes from ``fd``, read in 1 MiB pieces until the end or the limit."""
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_capped(path: str | os.PathLike[str], budget: Budget, cap: int, *, what: str = "",
                follow: bool = True) -> bytes:
    """The bytes of the regular file ``path``, or :class:`OverBudget` if it holds more than ``cap``.

    ``follow=False``: a symlink at ``path`` is refused like any non-regular file (``O_NOFOLLOW``), for
    files inside the verified cache, where a link is never something modelguard made.
    """
    name = what or os.fspath(path)
    try:
        fd = os.open(path, READ_FLAGS if follow else READ_FLAGS | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise
    except OSError as e:
        if not follow and e.errno == errno.ELOOP:
            raise UsageError(f"cannot read {name}: it is a symbolic link") from None
        raise UnreadableError(f"cannot read {name}: {e.strerror or e}; check its permissions") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"cannot read {name}: not a regular file (a device, a FIFO or a folder); "
                             "point to a file")
        if info.st_size > cap:
            raise OverBudget(budget, f"{name} ({info.st_size} bytes)")
        data = read_prefix(fd, cap + 1)  # one byte more than allowed tells a file that grew while read
    except OSError as e:
        raise UnreadableError(f"cannot read {name}: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if len(data) > cap:
        raise OverBudget(budget, f"{name} (more than {cap} bytes)")
    return data


# --- JSON nesting ----------------------------------------------------------------------------

_STRING = re.compile(rb'"[^"]*"')
_KEEP = b'"[]{}'
_DROP = bytes(b for b in range(256) if b not in _KEEP)
_PASSES = 8
_CHUNK = 32


def nests_deeper(data: bytes | str, limit: int) -> bool:
    """Whether JSON ``data`` nests arrays and objects more than ``limit`` levels deep.

    Every step is a C-speed pass over bytes (no regex match, let alone a Python step, per byte of
    a 64 MiB answer): escaped backslashes and quotes are dropped, then everything but quotes and
    brackets, then strings, then innermost ``[]``/``{}`` pairs a few times over (each pass lowers
    the depth by one at most, so the count can only err towards "deeper"). The brackets
    left are summed per chunk, and only a chunk that could pass the limit is walked one by one.
    Malformed text may be judged either way: a parser refuses it at its first error anyway.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    kept = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _DROP).replace(b'""', b"")
    brackets = _STRING.sub(b"", kept) if b'"' in kept else kept  # only strings holding brackets are left
    removed = 0
    while removed < _PASSES and brackets:
        # One level per pass, exactly: a pair is replaced by a mark first, so a pair that only becomes
        # adjacent once another is gone ("{[]}") waits for the next pass.
        marked = brackets.replace(b"[]", b"x").replace(b"{}", b"x")
        if len(marked) == len(brackets):
            break
        brackets, removed = marked.replace(b"x", b""), removed + 1
    depth, limit = 0, limit - removed
    if limit < 0:
        return True
    for start in range(0, len(brackets), _CHUNK):
        chunk = brackets[start:start + _CHUNK]
        opens = chunk.count(b"[") + chunk.count(b"{")
        if depth + opens <= limit:  # no prefix of this chunk can pass the limit
            depth += 2 * opens - len(chunk)
            continue
        for byte in chunk:
            depth += 1 if byte in (0x5B, 0x7B) else -1
            if depth > limit:
                return True
    return False


def load_json(data: bytes | str, budget: Budget = limits.BUDGETS.json_depth, *, what: str) -> Any:
    """``json.loads(data)`` once its nesting is known to be within the JSON depth budget.

    ``budget`` names the rule an over-deep document is reported under (the depth is always
    the ``JSON_DEPTH`` budget's); ``json.JSONDecodeError`` and ``UnicodeDecodeError`` pass through.
    """
    cap = limits.active().json_depth
    if nests_deeper(data, cap):
        raise OverBudget(_with_rule(budget), f"the nesting of {what}")
    return json.loads(data)


def _with_rule(budget: Budget) -> Budget:
    """The JSON depth budget, reported under ``budget``'s rule (a record's depth is a record problem)."""
    depth = limits.BUDGETS.json_depth
    if budget is depth:
        return depth
    return Budget(depth.name, depth.default, depth.unit, budget.rule, depth.about)
