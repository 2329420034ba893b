"""The Python code a pickled ``torch.fx.GraphModule`` runs when it is loaded.

``torch.save(graph_module)`` pickles ``reduce_graph_module(body, import_block)``. Loading it
``exec``s ``import_block + body["_code"]`` (so every module-level statement runs), then re-traces
the module with a tracer, which *calls* ``forward`` (so its body runs too). Graph code that torch
generated has a narrow shape: an import block of ``import torch``, ``from math import inf``,
``from <module> import <name> as <alias>`` for the functions the graph calls and
``NoneType = type(None)``, ``torch.fx._symbolic_trace.wrap("<name>")`` for wrapped functions, and
one ``def forward(self, ...)`` of assignments whose values are calls of torch ops, submodules
(``self.<name>(...)``), tensor methods and operators.

This module checks the stored code against that shape, never running it:

* every ``from M import N`` and every dotted reference through an imported module is an import,
  classified like a pickle global (dangerous: MG-S101; not on the allowlist: MG-S102);
* a module-level statement other than the generated ones, a builtin other than the pure ones
  generated code uses, a tensor method that reads or writes files, or any construct the custom-code
  review reports (process, network, dynamic code, import tricks, dunder walks, unsafe loaders) is
  MG-S109: it runs when the file is loaded;
* code built at load time instead of stored as text is the dangerous call it is (MG-S101); code that
  does not parse is MG-S110 (the file cannot be judged).

Must not compile, import or execute the code.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelguard.scan.pickle.values import DictVal, GlobalRef, Obj

if TYPE_CHECKING:
    from modelguard.scan.pickle.calls import CallModel

# Builtins generated graph code uses (shape arithmetic, containers, attribute reads by name).
_PURE_BUILTINS = frozenset("""getattr type len isinstance slice range tuple list dict set frozenset int float
    bool str complex min max abs sum round divmod pow zip enumerate iter next reversed sorted any all hash
    hasattr Ellipsis None True False NotImplemented""".split())
# Modules an import block may import whole (what fx's own code generator writes).
_MODULES = frozenset({"torch", "math", "operator", "builtins", "typing", "torch.fx._pytree", "torch.utils._pytree"})
# Module-level calls torch's code generator writes: registering a wrapped function by name.
_MODULE_CALLS = frozenset({"torch.fx._symbolic_trace.wrap", "torch.fx.wrap"})
# Method names that reach files or processes from a tensor, array or path (x.tofile(...)): a graph
# never calls them.
_IO_METHODS = frozenset("""tofile save load dump dumps loads _write_file from_file write write_text write_bytes
    read_text read_bytes open unlink remove rmdir rename replace chmod symlink_to touch mkdir system popen
    _share_filename_cpu_ _new_shared_filename_cpu _share_fd_cpu_ register_forward_hook register_hook""".split())
_CUSTOM_CODE_RULES = frozenset({"MG-S302", "MG-S303", "MG-S304", "MG-S305", "MG-S306", "MG-S307", "MG-S308",
                                "MG-S314", "MG-S315"})


@dataclass
class Review:
    """What the stored code would do: problems (each MG-S109), imports to classify, modules."""

    problems: list[str] = field(default_factory=list)
    imports: list[tuple[str, str]] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    """modules imported whole that fx's generator does not import"""


def review(source: str) -> Review | None:
    """Review ``import_block + code`` as ``exec`` would run it; None when it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    out = Review()
    aliases: dict[str, str] = {}
    for stmt in tree.body:
        _module_statement(stmt, aliases, out)
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    bound |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments)
              for a in [*n.posonlyargs, *n.args, *n.kwonlyargs, *filter(None, [n.vararg, n.kwarg])]}
    _References(aliases, bound - aliases.keys(), out).visit(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _IO_METHODS:
            out.problems.append(f"calls .{node.func.attr}() (line {node.lineno}), which reads or writes files")
    from modelguard.scan import pycode

    # fx writes "from builtins import getattr as getattr" for the attribute reads it generates: the pure
    # builtins are judged above, so the custom-code review sees the code without those lines.
    tree.body = [stmt for stmt in tree.body if not _imports_pure_builtins(stmt)]
    for found in pycode.review(ast.unparse(tree).encode("utf-8", "surrogatepass")):
        if found.rule in _CUSTOM_CODE_RULES:
            out.problems.append(f"{found.message} ({found.location} of the code as parsed)")
    return out


def _imports_pure_builtins(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.ImportFrom) and stmt.module == "builtins" and not stmt.level
            and all(a.name in _PURE_BUILTINS and a.asname in (None, a.name) for a in stmt.names))


def _module_statement(stmt: ast.stmt, aliases: dict[str, str], out: Review) -> None:
    """A statement the exec runs at load: only what fx generates."""
    if isinstance(stmt, ast.Import):
        for a in stmt.names:
            aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            if a.name not in _MODULES:
                out.modules.append(a.name)
        return
    if _imports_pure_builtins(stmt):
        return
    if isinstance(stmt, ast.ImportFrom) and not stmt.level and stmt.module:
        for a in stmt.names:
            if a.name == "*":
                out.problems.append(f"star-imports {stmt.module} (line {stmt.lineno})")
                continue
            aliases[a.asname or a.name] = f"{stmt.module}.{a.name}"
            out.imports.append((stmt.module, a.name))
        return
    if isinstance(stmt, ast.FunctionDef) and not stmt.decorator_list:
        return  # its body is walked with everything else
    if isinstance(stmt, ast.Assign) and ast.unparse(stmt.value) == "type(None)":
        return  # NoneType = type(None)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
        return  # a docstring
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and _is_wrap(stmt.value):
        return
    out.problems.append(f"runs {type(stmt).__name__} at module level when loaded (line {stmt.lineno}): "
                        f"{ast.unparse(stmt)[:80]!r}")


def _is_wrap(call: ast.Call) -> bool:
    return (ast.unparse(call.func) in _MODULE_CALLS and len(call.args) == 1 and not call.keywords
            and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str))


class _References(ast.NodeVisitor):
    """Every name the code looks up, as a whole dotted chain: a local (a tensor, ``self``: its
    attributes are methods and fields), a pure builtin, or an import (classified)."""

    def __init__(self, aliases: dict[str, str], local: set[str], out: Review) -> None:
        self.aliases, self.local, self.out = aliases, local, out

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain: list[str] = []
        base: ast.expr = node
        while isinstance(base, ast.Attribute):
            chain.insert(0, base.attr)
            base = base.value
        if isinstance(base, ast.Name):
            self._name(base, chain)
        else:
            self.visit(base)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._name(node, [])

    def _name(self, node: ast.Name, chain: list[str]) -> None:
        if node.id in self.local:
            return
        if node.id in self.aliases:
            module, _, name = ".".join([self.aliases[node.id], *chain]).rpartition(".")
            if module and (module, name) not in self.out.imports and (module, name) not in _FX_HELPERS:
                self.out.imports.append((module, name))
        elif node.id in _BUILTIN_NAMES and node.id not in _PURE_BUILTINS:
            self.out.problems.append(f"uses the builtin {node.id} (line {node.lineno})")


# pytree helpers the code generator calls for graphs with pytree inputs (flatten/unflatten by spec).
_FX_HELPERS = frozenset({("torch.fx._pytree", "tree_flatten_spec"), ("torch.utils._pytree", "tree_unflatten"),
                         ("torch.utils._pytree", "tree_flatten"), ("torch.utils._pytree", "TreeSpec"),
                         ("torch.utils._pytree", "LeafSpec")})


_BUILTIN_NAMES = frozenset(dir(__import__("builtins")))


def review_call(m: CallModel, args: object) -> None:
    """Check ``reduce_graph_module(body, import_block)`` as the machine meets it."""
    from modelguard.scan.pickle.calls import FX_REDUCE

    body, block = (args[0], args[1]) if isinstance(args, tuple) and len(args) == 2 else (None, None)
    code = (body.get("_code") or body.get("code")) if isinstance(body, DictVal) else None
    if not isinstance(code, str) or not isinstance(block, str):
        # what exec runs is computed at load time, not stored: the dangerous call it is
        m.col.dangerous(FX_REDUCE, "called with graph code built at load time, not stored as text", m.op_at)
        return
    m.check_state(Obj("call", FX_REDUCE), body, how=str(FX_REDUCE))  # body becomes the module's __dict__
    found = review(block + code)
    if found is None:
        m.col.add("MG-S110", "the graph module's code does not parse as Python for this interpreter", m.op_at)
        return
    for problem in found.problems:
        m.col.add("MG-S109", f"the graph module's code {problem}", m.op_at)
    for module in found.modules:
        m.col.add("MG-S102", f"the graph module's code imports module {module}, which is not on the allowlist",
                  m.op_at, key=f"module {module}")
    for module, name in found.imports:
        m.col.imported(GlobalRef(module, name), m.op_at, "named by the graph module's code")
