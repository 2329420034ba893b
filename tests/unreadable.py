"""Files nobody may read, for the "unreadable input" tests, whoever runs the suite (root included).

``chmod 000`` stops an ordinary user but not root, and CI containers often run as root: root
reads anything because it holds CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH. So :func:`as_user`
runs the command in a forked child that, when it is root, drops those two capabilities first
(``capset``, allowed to any process): permissions then apply to it as to a user, and the file
made unreadable with :func:`deny` fails with a real ``PermissionError`` from the kernel.
"""

from __future__ import annotations

import ctypes
import io
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_CAP_VERSION_3 = 0x20080522
_DAC_BYPASS = (1 << 1) | (1 << 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def deny(path: Path) -> None:
    """Make ``path`` unreadable (and unsearchable, for a folder) to its owner and everyone else."""
    path.chmod(0)


def _drop_dac_bypass() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _Header(_CAP_VERSION_3, 0), (_Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    data[0].effective &= ~_DAC_BYPASS
    data[0].permitted &= ~_DAC_BYPASS
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def as_user(call: Callable[[], int]) -> Ran:
    """Run ``call`` (a CLI run, or any call returning an exit code) where file permissions apply to it."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        try:
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            # pytest replaced sys.stdout/err with its capture: write to the pipes instead.
            sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), write_through=True)
            sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), write_through=True)
            if os.geteuid() == 0:
                _drop_dac_bypass()
            code = call()
        except BaseException:  # reported through the exit code; the parent asserts on it
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(out_w)
    os.close(err_w)
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.append(_drain(err_r)), daemon=True)
    reader.start()  # both pipes at once: a child filling one while the other is read would never finish
    out = _drain(out_r)
    reader.join()
    _, status = os.waitpid(pid, 0)
    return Ran(os.waitstatus_to_exitcode(status), out, errors[0] if errors else "")


def _drain(fd: int) -> str:
    chunks = []
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")
