"""TorchScript source in a ``torch.jit.save`` archive (``<archive>/code/**/*.py``).

``torch.jit.load`` compiles these files with the TorchScript compiler and runs them in the
TorchScript interpreter: no Python import, no builtins, no modules beyond ``torch`` and its
operators. So their presence is not "custom Python code" (MG-S301); every archive has them.
What TorchScript can still do is call operators that touch the file system: ``aten::from_file``
(maps a file into a tensor; ``shared=True`` writes back to it) and ``aten::save`` (writes a
file). Where such a call sits decides when it runs:

* in ``__setstate__``, or in a function or method ``__setstate__`` calls (transitively, within the
  file), it runs while ``torch.jit.load`` restores the module: MG-S316, critical, malicious;
* anywhere else (``forward``, a hook) it runs when the model is used: MG-S317, high.

The rest of the Python review still applies, so source that names process execution, dynamic
code or unsafe loaders is reported as in any ``*.py`` file (such code does not compile as
TorchScript, and a file that claims to be TorchScript but carries it is not what torch writes).

Must not compile, import or execute the code.
"""

from __future__ import annotations

import ast

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.scan import pycode
from modelguard.scan.base import ScanContext, Source

_FILE_OPS = {"from_file": "maps a file into a tensor (and writes it back when shared)", "save": "writes a file"}
"""TorchScript operators (``torch.X`` / ``ops.aten.X``) that read or write files"""
_OP_ROOTS = frozenset({"torch", "ops", "aten"})
_LOAD_TIME = "__setstate__"


def review(ctx: ScanContext, source: Source) -> list[Finding]:
    """Findings for one TorchScript source member."""
    data = source.read_all(ctx.limits.max_text_bytes)
    out = [f for f in pycode.review(data, source.name) if f.rule != "MG-S301"]
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return out  # pycode already reported MG-S310
    functions = _functions(tree)
    at_load = _reached_from(functions, [name for name in functions if name.rsplit(".", 1)[-1] == _LOAD_TIME])
    reported: set[int] = set()
    for name, node in sorted(functions.items(), key=lambda item: item[0] not in at_load):
        for call, op in _file_ops(node):
            if id(call) in reported:
                continue  # a nested function's call, already reported under the outer one
            reported.add(id(call))
            where = f"{source.name}:line {call.lineno}"
            if name in at_load:
                out.append(finding("MG-S316", f"TorchScript {name} {_FILE_OPS[op]} (aten::{op}) while torch.jit.load "
                                   "restores the module", location=where))
            else:
                out.append(finding("MG-S317", f"TorchScript {name} {_FILE_OPS[op]} (aten::{op}) when it runs",
                                   location=where))
    return out


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every function and method of the file by qualified name (``Class.method``)."""
    out: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                walk(stmt.body, f"{prefix}{stmt.name}.")
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out[f"{prefix}{stmt.name}"] = stmt
                walk(stmt.body, f"{prefix}{stmt.name}.")

    walk(tree.body, "")
    return out


def _reached_from(functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef], roots: list[str]) -> set[str]:
    """The functions ``roots`` can call, by name (``self.m(...)``, ``f(...)``), within this file."""
    by_leaf: dict[str, list[str]] = {}
    for name in functions:
        by_leaf.setdefault(name.rsplit(".", 1)[-1], []).append(name)
    seen, todo = set(roots), list(roots)
    while todo:
        for node in ast.walk(functions[todo.pop()]):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            leaf = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            for callee in by_leaf.get(leaf or "", []):
                if callee not in seen:
                    seen.add(callee)
                    todo.append(callee)
    return seen


def _file_ops(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[ast.Call, str]]:
    found = []
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _FILE_OPS:
            root = node.func.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in _OP_ROOTS:
                found.append((node, node.func.attr))
    return found
