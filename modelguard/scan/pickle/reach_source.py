"""One module's references, read from its source for :mod:`modelguard.scan.pickle.reach`.

Owns the AST walk that records, for every module-level function, class and method of a module
file, the qualified names it references (through the module's imports, its own definitions,
``self``/``cls``, ``super()`` and base classes), which modules and names its import-time code
calls, and writes into the process-wide registries. Parses, never imports or runs the source.
"""

from __future__ import annotations

import ast
import builtins
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

# Process-wide registries: writing one changes what the interpreter or pickle itself does next
# (which module an import returns, what an EXT opcode imports, how a type is reduced).
REGISTRIES = frozenset("""sys.modules sys.path sys.meta_path sys.path_hooks sys.path_importer_cache
    copyreg.dispatch_table copyreg._extension_registry copyreg._inverted_registry copyreg._extension_cache
    builtins.__dict__ os.environ""".split())
_MUTATORS = frozenset("__setitem__ __delitem__ update setdefault pop popitem clear append insert extend remove".split())

_OPENERS = frozenset({"builtins.open", "io.open", "_io.open", "codecs.open", "tokenize.open"})


def reads_only(call: ast.Call) -> bool:
    """Whether an ``open`` call's mode is a constant without ``w``, ``a``, ``x`` or ``+``."""
    mode: ast.expr | None = call.args[1] if len(call.args) > 1 else None
    for k in call.keywords:
        if k.arg == "mode":
            mode = k.value
        elif k.arg is None:
            return False  # **kwargs may carry a mode
    if mode is None:
        return len(call.args) <= 1 or not isinstance(call.args[1], ast.Starred)
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and not set(mode.value) & set("wax+")


@dataclass
class Module:
    name: str
    is_package: bool
    aliases: dict[str, str] = field(default_factory=dict)
    """local name -> qualified name, from imports and from this module's own definitions"""
    functions: dict[str, set[str]] = field(default_factory=dict)
    """qualified callable (function, method, class) -> qualified names it references"""
    classes: dict[str, list[str]] = field(default_factory=dict)
    """qualified class -> qualified base classes"""
    import_time: set[str] = field(default_factory=set)
    """qualified names *called* by code that runs when the module is imported (top level, class bodies)"""
    library: str = ""
    """the third-party package this module belongs to ("" for the standard library)"""



def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.name.split(".")
    base = parts if module.is_package else parts[:-1]
    base = base[: len(base) - node.level + 1] if node.level > 1 else base
    return ".".join([*base, node.module] if node.module else base)


class _Collector(ast.NodeVisitor):
    """Walks one module, recording definitions, imports and the references of each callable."""

    def __init__(self, module: Module) -> None:
        self.m = module
        self.scope: list[str] = []  # qualified names of the enclosing class/function definitions
        self.current: set[str] = set()  # references of the callable being walked (a sink at top level)
        self.locals: list[dict[str, str | None]] = []
        """per enclosing function: local name -> what an import inside the function bound it to (None: a plain
        local value of unknown type)"""
        self.classes: list[str] = []

    def _qualify(self, name: str) -> str:
        return f"{self.m.name}.{'.'.join([*self.scope, name])}"

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.asname:
                self._bind(a.asname, a.name)
            else:
                self._bind(a.name.split(".")[0], a.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _absolute(self.m, node)
        for a in node.names:
            if a.name != "*":
                self._bind(a.asname or a.name, f"{base}.{a.name}")

    def _bind(self, local: str, target: str) -> None:
        if self.locals:
            self.locals[-1][local] = target
        elif not self.scope:
            self.m.aliases[local] = target

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for d in node.decorator_list:
            self.visit(d)
        for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
            self.visit(default)
        qualified = self._qualify(node.name)
        if not self.scope:
            self.m.aliases[node.name] = qualified
        outer, self.current = self.current, self.m.functions.setdefault(qualified, set())
        args = node.args
        params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
        params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        self.scope.append(node.name)
        self.locals.append(dict.fromkeys(params))
        for stmt in node.body:
            self.visit(stmt)
        self.locals.pop()
        self.scope.pop()
        self.current = outer
        self.current.add(qualified)  # defining a nested function references it (closures get called)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        qualified = self._qualify(node.name)
        if not self.scope:
            self.m.aliases[node.name] = qualified
        bases = []
        for b in node.bases:
            resolved = self.resolve(b)
            if resolved is not None:
                bases.append(resolved)
            self.visit(b)
        for d in node.decorator_list:
            self.visit(d)
        self.m.classes[qualified] = bases
        self.scope.append(node.name)
        self.classes.append(qualified)
        for stmt in node.body:
            self.visit(stmt)  # the class body runs where the class statement runs
        self.classes.pop()
        self.scope.pop()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store) and self.locals:
            self.locals[-1].setdefault(node.id, None)
            return
        resolved = self.resolve(node)
        if resolved is not None:
            self.current.add(resolved)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        resolved = self.resolve(node)
        if resolved is not None:
            self.current.add(resolved)
            return
        if is_private(node.attr):
            # x._m on a value of unknown type: a private method is called by the module that defines
            # it, so this is any method _m of this module's classes (typing._eval_type's t._evaluate).
            self.current.add(f"{self.m.name}.<private>.{node.attr}")
        self.visit(node.value)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if not isinstance(node.ctx, ast.Load):
            self._write(node.value)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if not self.locals:
            # Import-time code: what it calls runs when find_class imports the module. (What it
            # merely names, or registers, is judged where it is called.)
            called = self.resolve(node.func)
            if called is not None:
                self.m.import_time.add(called)
        if isinstance(node.func, ast.Attribute) and node.func.attr in _MUTATORS:
            self._write(node.func.value)
        if self.resolve(node.func) in _OPENERS and reads_only(node):
            # open(path) / open(path, "rb"): reading a file (linecache, tokenize, mimetypes) changes
            # nothing; a write mode, or a mode computed at run time, is a primitive.
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                self.visit(arg)
            return
        if isinstance(node.func, ast.Name) and node.func.id in ("isinstance", "issubclass") and node.args:
            self.visit(node.args[0])  # a type tested against is not a value used
            return
        if self._fixed_stdlib_call(node):
            return
        self.generic_visit(node)

    def _fixed_stdlib_call(self, node: ast.Call) -> bool:
        """A library's call of a standard-library callable with literal arguments only
        (``CDLL("libnvidia-ml.so.1")``, ``subprocess.run(["nvidia-smi"])``): what it does is fixed by
        the library, so no pickle can choose it; it is not a reference that passes reach on."""
        if not self.m.library or not node.args + [k.value for k in node.keywords]:
            return False
        called = self.resolve(node.func)
        if called is None or called.split(".")[0] == self.m.library or called.startswith("builtins."):
            return False  # builtins (exec("x = 1")) are primitives in their own right: kept
        return all(_literal(a) for a in [*node.args, *(k.value for k in node.keywords)]) and \
            all(k.arg is not None for k in node.keywords)

    def visit_arg(self, node: ast.arg) -> None:
        return  # annotations name types, they do not use them

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)

    def _write(self, target: ast.expr) -> None:
        resolved = self.resolve(target)
        if resolved in REGISTRIES:
            self.current.add(f"{resolved}.<write>")

    def resolve(self, node: ast.expr) -> str | None:
        """The qualified name ``node`` refers to, or None (a local value of unknown type)."""
        if isinstance(node, ast.Name):
            for scope in reversed(self.locals):
                if node.id in scope and node.id not in ("self", "cls"):
                    return scope[node.id]
            if node.id in ("self", "cls") and self.classes:
                return self.classes[-1]
            if node.id in self.m.aliases:
                return self.m.aliases[node.id]
            if node.id in _BUILTIN_NAMES:
                return f"builtins.{node.id}"
            return None
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base is not None else None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super" and self.classes:
            return f"{self.classes[-1]}.<super>"
        return None


_BUILTIN_NAMES = frozenset(dir(builtins))


def _literal(node: ast.expr) -> bool:
    """A constant, or a tuple/list of constants: an argument the source fixes."""
    if isinstance(node, ast.Constant):
        return True
    return isinstance(node, (ast.Tuple, ast.List)) and all(_literal(e) for e in node.elts)


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _module_of(path: str, root: str, prefix: str) -> tuple[str, bool]:
    rel = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
    is_package = rel.endswith("__init__")
    name = rel[: -len(".__init__")] if is_package else rel
    return (f"{prefix}.{name}" if prefix else name).strip("."), is_package


def parse_module(path: str, root: str, prefix: str) -> Module | None:
    name, is_package = _module_of(path, root, prefix)
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), filename=path)
    except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    module = Module(name, is_package, library=prefix.split(".")[0])
    collector = _Collector(module)
    # Definitions first, so a function may refer to one defined below it; module-level variables
    # too, so a write to a registry the module keeps (copyreg._extension_registry) is seen.
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            module.aliases[stmt.name] = f"{name}.{stmt.name}"
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            for target in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
                if isinstance(target, ast.Name):
                    module.aliases.setdefault(target.id, f"{name}.{target.id}")
    for stmt in tree.body:
        if isinstance(stmt, ast.If) and _is_main_guard(stmt.test):
            collector.locals.append({})  # runs as a script only, never on import: like a function body
            collector.visit(stmt)
            collector.locals.pop()
            continue
        collector.visit(stmt)
    return module


def _is_main_guard(test: ast.expr) -> bool:
    """Whether ``test`` is ``__name__ == "__main__"`` (a block that runs only as a script)."""
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators))


_SKIPPED_DIRS = frozenset({"site-packages", "__pycache__", "test", "tests", "idle_test", "testing", "_testing"})
"""the standard library's test suites: the denylist covers them by family (``test``, ``unittest``)"""
LIBRARY_SKIPPED_DIRS = frozenset({"__pycache__", "test", "tests"})
"""a library's own test suites; its ``testing`` helpers (``torch._numpy.testing``) are walked: they are
importable, and no family entry covers every one of them"""


def walk(root: str, prefix: str, skipped: frozenset[str] = _SKIPPED_DIRS) -> Iterator[Module]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in skipped and not d.startswith("."))
        for f in sorted(files):
            if f.endswith(".py"):
                module = parse_module(os.path.join(folder, f), root, prefix)
                if module is not None:
                    yield module


