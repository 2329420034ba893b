"""How the pickle denylist is derived: what each importable callable can reach.

A pickle runs code by importing a callable and calling it (REDUCE, NEWOBJ, OBJ, INST), by
building an instance (``__new__``/``__init__``) and installing its state (``__setstate__``,
``__setattr__``), or by filling it (``__setitem__``, ``append``, ``extend``, ``add``). So an
import is dangerous when one of those entry points can *reach a primitive*: a function of the
interpreter or a native module that

* runs a process (``posix.system``, ``posix.fork``, ``_posixsubprocess.fork_exec`` ...),
* runs, compiles or builds code (``exec``, ``eval``, ``compile``, ``types.FunctionType`` ...),
* imports by name (``__import__``, ``_imp``),
* opens, writes or maps files (``open``, ``_io.FileIO``, ``posix.open``, ``posix.remove``, ``mmap`` ...),
* talks to the network (``_socket``, ``_ssl``),
* loads native code (``_ctypes``),
* deserializes code-carrying data (``_pickle.loads``, ``marshal.loads``),
* reaches into interpreter state (``sys.settrace``, ``gc.get_referrers``, ``signal.signal``,
  ``_thread.start_new_thread``, ``atexit.register`` ...),
* or rewrites a process-wide registry (``sys.modules``, ``sys.meta_path``, copyreg's dispatch and
  extension tables, ``os.environ``).

:data:`PRIMITIVES` lists them, by category; it is the only hand-written part, and it names what
danger *is*, not which helpers happen to be dangerous. Everything else is derived by
:func:`derive` from source: every ``.py`` file of the standard library (and of the third-party
packages given, e.g. torch and numpy) is parsed (never imported), and for each module-level
function, class and method the names it references are resolved through the module's imports,
its own definitions, ``self``/``cls`` and base classes. A callable is dangerous when it
references a primitive or a dangerous callable (a fixpoint over the whole reference graph, across
modules); a class is dangerous when one of the entry points above is; every name of a module whose
import-time code (top-level statements and class bodies) reaches a primitive is dangerous, since
``find_class`` imports the module first. ``dataclasses._create_fn`` (``exec``),
``typing._eval_type`` (``eval`` of a forward reference), ``copyreg.add_extension`` (rewrites
the pickle registry), ``pydoc.pipepager`` (``subprocess``) and ``timeit.Timer`` (``compile``) come
out of the derivation without being named anywhere.

The analysis over-approximates what a *named* reference can do (a reference counts even when it
is never called) and cannot see dynamic dispatch (``obj.method()`` on a value of unknown type,
``getattr(x, name)``). That is the right direction for a denylist: it only ever turns an unknown
import (MG-S102, suspicious) into a dangerous one (MG-S101, malicious); what passes is decided by
the allowlist alone. The derived set is committed as :mod:`modelguard.scan.pickle.reach_table`
(regenerate with ``python -m modelguard.scan.pickle.reach``; ``tests/scan/test_pickle_reach.py``
checks the committed table against a fresh derivation). Scans never run this module: it reads
source files, which a scan must not depend on.
"""

from __future__ import annotations

import ast
import builtins
import os
import sys
import sysconfig
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# ---- what danger is ---------------------------------------------------------------------------------
_PROCESS = """posix.system posix.execv posix.execve posix.fork posix.forkpty posix.posix_spawn posix.posix_spawnp
    posix.kill posix.killpg posix.popen nt.system nt.execv nt.execve nt.spawnv nt.spawnve nt.startfile nt.kill
    os.system os.execl os.execle os.execlp os.execlpe os.execv os.execve os.execvp os.execvpe os.spawnl os.spawnle
    os.spawnlp os.spawnlpe os.spawnv os.spawnve os.spawnvp os.spawnvpe os.fork os.forkpty os.posix_spawn
    os.posix_spawnp os.kill os.killpg os.popen os.startfile _posixsubprocess _winapi.CreateProcess"""
# compile() is not here: a code object runs only through exec/eval or a function built from it, which
# are. (A pickle importing compile itself is still refused by the allowlist's hand entries.)
_CODE = "builtins.exec builtins.eval builtins.breakpoint types.FunctionType types.CodeType types.LambdaType"
_IMPORT = "builtins.__import__ _imp"
_FILES = """builtins.open _io.open _io.FileIO _io.open_code io.open io.FileIO io.open_code os.open posix.open
    os.remove posix.remove os.unlink posix.unlink os.rmdir posix.rmdir os.rename posix.rename os.replace
    posix.replace os.chmod posix.chmod os.chown posix.chown os.link posix.link os.symlink posix.symlink
    os.truncate posix.truncate os.mkdir posix.mkdir os.mkfifo posix.mkfifo os.mknod posix.mknod os.fdopen
    nt.open nt.remove nt.unlink nt.rename nt.replace nt.mkdir mmap.mmap"""
_NETWORK = "_socket _ssl"
_NATIVE = "_ctypes"
_DESERIALIZE = "_pickle.loads _pickle.load _pickle.Unpickler marshal.loads marshal.load"
_INTERPRETER = """sys.settrace sys.setprofile sys.addaudithook gc.get_referrers
    gc.get_referents gc.get_objects signal.signal _signal.signal _thread.start_new_thread _thread.start_new
    _thread.interrupt_main atexit.register os.putenv posix.putenv os.chdir posix.chdir"""
# Process-wide registries: writing one changes what the interpreter or pickle itself does next
# (which module an import returns, what an EXT opcode imports, how a type is reduced).
REGISTRIES = frozenset("""sys.modules sys.path sys.meta_path sys.path_hooks sys.path_importer_cache
    copyreg.dispatch_table copyreg._extension_registry copyreg._inverted_registry copyreg._extension_cache
    builtins.__dict__ os.environ""".split())
_MUTATORS = frozenset("__setitem__ __delitem__ update setdefault pop popitem clear append insert extend remove".split())
_REGISTRY_WRITES = " ".join(f"{r}.<write>" for r in REGISTRIES)

PRIMITIVES: dict[str, str] = {
    name: what
    for names, what in (
        (_PROCESS, "runs a process"), (_CODE, "runs or builds code"), (_IMPORT, "imports by name"),
        (_FILES, "opens, changes or maps files"), (_NETWORK, "opens network connections"),
        (_NATIVE, "loads native code"), (_DESERIALIZE, "deserializes code-carrying data"),
        (_INTERPRETER, "reaches into interpreter state"), (_REGISTRY_WRITES, "rewrites a process-wide registry"),
    )
    for name in names.split()
}
"""qualified name -> what it does; a name matches itself and everything under it"""

ENTRY_POINTS = ("__init__", "__new__", "__setstate__", "__setattr__", "__setitem__", "append", "extend", "add",
                "__init_subclass__", "__class_getitem__", "__set_name__")
"""the methods a pickle runs on a class it imports: building, filling and installing state"""


_OPENERS = frozenset({"builtins.open", "io.open", "_io.open", "codecs.open", "tokenize.open"})


def _reads_only(call: ast.Call) -> bool:
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


def primitive(name: str) -> str | None:
    """What the primitive ``name`` (or the primitive it lies under) does, or None."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        hit = PRIMITIVES.get(".".join(parts[:i]))
        if hit is not None:
            return hit
    return None


# ---- one module's references ------------------------------------------------------------------------
@dataclass
class _Module:
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



def _absolute(module: _Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.name.split(".")
    base = parts if module.is_package else parts[:-1]
    base = base[: len(base) - node.level + 1] if node.level > 1 else base
    return ".".join([*base, node.module] if node.module else base)


class _Collector(ast.NodeVisitor):
    """Walks one module, recording definitions, imports and the references of each callable."""

    def __init__(self, module: _Module) -> None:
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
        if _is_private(node.attr):
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
        if self.resolve(node.func) in _OPENERS and _reads_only(node):
            # open(path) / open(path, "rb"): reading a file (linecache, tokenize, mimetypes) changes
            # nothing; a write mode, or a mode computed at run time, is a primitive.
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                self.visit(arg)
            return
        if isinstance(node.func, ast.Name) and node.func.id in ("isinstance", "issubclass") and node.args:
            self.visit(node.args[0])  # a type tested against is not a value used
            return
        self.generic_visit(node)

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


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _module_of(path: str, root: str, prefix: str) -> tuple[str, bool]:
    rel = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
    is_package = rel.endswith("__init__")
    name = rel[: -len(".__init__")] if is_package else rel
    return (f"{prefix}.{name}" if prefix else name).strip("."), is_package


def _parse(path: str, root: str, prefix: str) -> _Module | None:
    name, is_package = _module_of(path, root, prefix)
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), filename=path)
    except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    module = _Module(name, is_package)
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


# ---- the fixpoint --------------------------------------------------------------------------------------
@dataclass
class Derivation:
    dangerous: dict[str, dict[str, str]]
    """qualified name of a function, class or method -> {what it can do -> a primitive it reaches}"""
    modules: dict[str, dict[str, str]]
    """modules whose import-time code runs a process or connects out -> the same"""


_ACTS_OUTSIDE = frozenset({"runs a process", "opens network connections"})


def _method(cls: str, classes: dict[str, list[str]], functions: dict[str, set[str]], name: str,
            depth: int = 0) -> str | None:
    """The qualified method ``name`` of ``cls``, looked up through its bases (known ones only)."""
    if depth > 20:
        return None
    own = f"{cls}.{name}"
    if own in functions:
        return own
    for base in classes.get(cls, []):
        found = _method(base, classes, functions, name, depth + 1)
        if found is not None:
            return found
    return None


def derive(sources: Iterable[tuple[str, str]]) -> Derivation:
    """Derive the dangerous callables of every module under the given (root folder, package prefix)."""
    modules = [m for root, prefix in sources for m in _walk(root, prefix)]
    functions: dict[str, set[str]] = {}
    classes: dict[str, list[str]] = {}
    import_time: dict[str, set[str]] = {}
    aliases: dict[str, str] = {}
    for m in modules:
        functions.update(m.functions)
        classes.update(m.classes)
        import_time[m.name] = m.import_time
        # what find_class(module, name) returns for a name the module imported from elsewhere
        aliases.update({f"{m.name}.{local}": target for local, target in m.aliases.items()
                        if target != f"{m.name}.{local}"})
    edges: dict[str, set[str]] = defaultdict(set)
    for func, refs in functions.items():
        edges[func] |= {_target(ref, classes, functions) for ref in refs}
    for cls in classes:
        for entry in ENTRY_POINTS:
            method = _method(cls, classes, functions, entry)
            if method is not None:
                edges[cls].add(method)
    for alias, target in aliases.items():
        edges[alias].add(_target(target, classes, functions))
    for func in functions:  # "<module>.<private>._m" -> every method _m of the module's classes
        owner, _, leaf = func.rpartition(".")
        if _is_private(leaf) and owner in classes:
            module = next((m.name for m in modules if owner.startswith(m.name + ".")), "")
            edges[f"{module}.<private>.{leaf}"].add(func)
    reach = _fixpoint(edges)
    known = functions.keys() | classes.keys() | aliases.keys()
    dangerous = {k: v for k, v in reach.items() if k in known}
    # Import-time code of the standard library is not attacker-chosen: it registers, compiles
    # patterns and builds tables. What counts is a module whose import acts on the outside world
    # (antigravity opens a browser): a top-level call that runs a process or connects out.
    imports: dict[str, dict[str, str]] = {}
    for module, called in import_time.items():
        for target in called:
            found = dict(reach.get(_target(target, classes, functions), {}))
            what = primitive(target)
            if what is not None:
                found[what] = target
            outside = {k: v for k, v in found.items() if k in _ACTS_OUTSIDE}
            if outside:
                imports.setdefault(module, {}).update(outside)
    return Derivation(dangerous, imports)


def _target(ref: str, classes: dict[str, list[str]], functions: dict[str, set[str]]) -> str:
    """A reference as a node of the graph: ``C.<super>.m`` becomes the base's method, a method
    reached through a subclass becomes the defining class's method."""
    if ".<super>." in ref:
        cls, _, method = ref.partition(".<super>.")
        for base in classes.get(cls, []):
            found = _method(base, classes, functions, method.split(".")[0])
            if found is not None:
                return found
        return ref
    owner, _, method = ref.rpartition(".")
    if owner in classes and ref not in functions:
        found = _method(owner, classes, functions, method)
        if found is not None:
            return found
    return ref


def _fixpoint(edges: dict[str, set[str]]) -> dict[str, dict[str, str]]:
    """node -> {what it can do -> the primitive that does it}, for every node that reaches a primitive."""
    reverse: dict[str, set[str]] = defaultdict(set)
    reach: dict[str, dict[str, str]] = defaultdict(dict)
    work: list[tuple[str, str]] = []
    for node, targets in sorted(edges.items()):  # sorted: the same primitive is named on every run
        for t in sorted(targets):
            reverse[t].add(node)
            what = primitive(t)
            if what is not None and what not in reach[node]:
                reach[node][what] = t
                work.append((node, what))
    work.reverse()
    while work:
        node, what = work.pop()
        for caller in sorted(reverse.get(node, ())):
            if what not in reach[caller]:
                reach[caller][what] = reach[node][what]
                work.append((caller, what))
    return dict(reach)


_SKIPPED_DIRS = frozenset({"site-packages", "__pycache__", "test", "tests", "idle_test", "testing", "_testing"})
"""test suites: never imported by a model, and the denylist covers test helpers by family"""


def _walk(root: str, prefix: str) -> Iterator[_Module]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
        for f in sorted(files):
            if f.endswith(".py"):
                module = _parse(os.path.join(folder, f), root, prefix)
                if module is not None:
                    yield module


def stdlib_root() -> str:
    return sysconfig.get_paths()["stdlib"]


_ORDER = ("runs a process", "runs or builds code", "imports by name", "loads native code",
          "deserializes code-carrying data", "opens network connections", "opens, changes or maps files",
          "reaches into interpreter state", "rewrites a process-wide registry")


def _worst(found: dict[str, str]) -> str:
    """The primitive to name for a callable that reaches several: the most direct harm first."""
    what = min(found, key=_ORDER.index)
    return found[what]


def table_source(d: Derivation) -> str:
    """The text of :mod:`modelguard.scan.pickle.reach_table` for derivation ``d``: every derived
    entry that the hand-written module families of the allowlist do not already cover."""
    from modelguard.scan.pickle.allowlist import DANGEROUS_MODULES

    def covered(name: str) -> bool:
        parts = name.split(".")
        return any(".".join(parts[: i + 1]) in DANGEROUS_MODULES for i in range(len(parts)))

    version = ".".join(map(str, sys.version_info[:3]))
    # A primitive reaches itself: a pickle importing one directly is as dangerous as a helper that calls it.
    names = {k: _worst(v) for k, v in d.dangerous.items()}
    modules = {k: _worst(v) for k, v in d.modules.items()}
    for name in PRIMITIVES:
        if name.endswith(".<write>"):
            continue
        if "." in name:
            names.setdefault(name, name)
        else:
            modules.setdefault(name, name)
    lines = [
        f'"""Generated by ``python -m modelguard.scan.pickle.reach`` from the standard library of Python {version}.',
        "",
        "Do not edit: regenerate. Every callable here can reach a primitive (see :mod:`modelguard.scan.pickle.reach`",
        "for the method); entries under a module family the allowlist already denies are left out.",
        '"""',
        "",
        f'DERIVED_FROM = "{version}"',
        "",
        "REACHES: dict[str, str] = {",
        *(f'    "{k}": "{v}",' for k, v in sorted(names.items()) if not covered(k)),
        "}",
        '"""qualified name of a primitive, or of a function, class or method that can reach one -> the primitive"""',
        "",
        "MODULE_REACHES: dict[str, str] = {",
        *(f'    "{k}": "{v}",' for k, v in sorted(modules.items()) if not covered(k)),
        "}",
        '"""modules every name of which is dangerous: primitive modules (``_socket``), and modules whose',
        'import-time code runs a process or connects out (``antigravity``) -> the primitive"""',
        "",
    ]
    return "\n".join(lines)


def main() -> None:  # pragma: no cover - the generator, run by hand
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reach_table.py")
    with open(out, "w", encoding="utf-8") as f:
        f.write(table_source(derive([(stdlib_root(), "")])))
    print(out)


if __name__ == "__main__":  # pragma: no cover
    main()
