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

import os
import sys
import sysconfig
import textwrap
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from modelguard.scan.pickle.reach_source import REGISTRIES, is_private, walk

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


def primitive(name: str) -> str | None:
    """What the primitive ``name`` (or the primitive it lies under) does, or None."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        hit = PRIMITIVES.get(".".join(parts[:i]))
        if hit is not None:
            return hit
    return None


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
    modules = [m for root, prefix in sources for m in walk(root, prefix)]
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
        if is_private(leaf) and owner in classes:
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
    def grouped(table: dict[str, str], name: str, doc: str) -> list[str]:
        """``name`` as primitive -> the names that reach it, wrapped: one line per entry would make
        the module a thousand lines of repetition."""
        by_primitive: dict[str, list[str]] = defaultdict(list)
        for key, found in sorted(table.items()):
            if not covered(key):
                by_primitive[found].append(key)
        out = [f"_{name}: dict[str, str] = {{"]
        for found, keys in sorted(by_primitive.items()):
            out.append(f'    "{found}": """')
            out += textwrap.wrap(" ".join(keys), 112, initial_indent="        ", subsequent_indent="        ",
                                 break_long_words=False, break_on_hyphens=False)
            out.append('    """,')
        comprehension = f"{{key: found for found, keys in _{name}.items() for key in keys.split()}}"
        out += ["}", f"{name}: dict[str, str] = {comprehension}", f'"""{doc}"""', ""]
        return out

    lines = [
        f'"""Generated by ``python -m modelguard.scan.pickle.reach`` from the standard library of Python {version}.',
        "",
        "Do not edit: regenerate. Every callable here can reach a primitive (see :mod:`modelguard.scan.pickle.reach`",
        "for the method); entries under a module family the allowlist already denies are left out. Grouped by the",
        "primitive they reach.",
        '"""',
        "",
        f'DERIVED_FROM = "{version}"',
        "",
        *grouped(names, "REACHES", "qualified name of a primitive, or of a function, class or method that can reach "
                 "one -> the primitive"),
        *grouped(modules, "MODULE_REACHES", "modules every name of which is dangerous: primitive modules "
                 "(``_socket``), and modules whose\nimport-time code runs a process or connects out (``antigravity``) "
                 "-> the primitive"),
    ]
    return "\n".join(lines)


def main() -> None:  # pragma: no cover - the generator, run by hand
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reach_table.py")
    with open(out, "w", encoding="utf-8") as f:
        f.write(table_source(derive([(stdlib_root(), "")])))
    print(out)


if __name__ == "__main__":  # pragma: no cover
    main()
