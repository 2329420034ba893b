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

Three refinements (red-team round three): a method inherited and not overridden is listed under
the subclass too (``pathlib.PosixPath.write_text``: a pickle names it through either class); the
process-wide registries themselves are entries (a pickle that imports ``copyreg._inverted_registry``
writes it with SETITEM, then ``EXT`` imports what it put there); and the libraries every pickle
loader imports (:data:`LIBRARIES`: torch, numpy, joblib) are derived in the same run, into
:mod:`modelguard.scan.pickle.reach_libs`. For them the import-time rule is off (importing torch
is what every checkpoint does) and the few standard-library helpers in :data:`LIBRARY_OPAQUE`
do not pass their reach on to library callers (followed, ``inspect.signature`` would make every
``nn.Module`` method reach ``eval``).
"""

from __future__ import annotations

import os
import sys
import sysconfig
import textwrap
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from modelguard.scan.pickle.reach_source import LIBRARY_SKIPPED_DIRS, REGISTRIES, is_private, walk

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


LIBRARIES = ("torch", "numpy", "joblib")
"""third-party packages derived like the standard library: the ones every pickle loader imports
(``torch.load``, ``numpy.load``, ``joblib.load``), so every pickle loaded by them can import any of
their callables. Their derived entries go to :mod:`modelguard.scan.pickle.reach_libs`."""


LIBRARY_OPAQUE = frozenset("""collections.namedtuple typing.NamedTuple typing.NamedTupleMeta.__new__
    dataclasses.dataclass dataclasses.field dataclasses.fields dataclasses.replace dataclasses.asdict
    dataclasses.astuple inspect.signature inspect.Signature.from_callable inspect.get_annotations
    inspect.getmodule inspect.getfile inspect.getsourcefile inspect.stack inspect.currentframe
    weakref.finalize functools.singledispatch functools.singledispatchmethod functools.wraps
    functools.update_wrapper typing.get_type_hints
    platform.machine platform.system platform.uname platform.processor platform.python_version
    sysconfig.get_config_var sysconfig.get_paths sysconfig.get_path tempfile.gettempdir
    logging.getLogger logging.basicConfig warnings.warn warnings.catch_warnings""".split())
"""Standard-library callables whose reach is not passed on to *library* callers. Each runs code,
touches state or inspects objects only in a way fixed by the library that calls it: a class
factory whose generated code has validated identifiers (``namedtuple``, ``dataclass``), an
introspection helper that evaluates annotation strings only when asked to (``inspect.signature``),
a cleanup hook, a ``ctypes`` value type, a platform query, a logger. Followed, they make nearly every
torch callable "dangerous" (``nn.Module.__setattr__`` -> ``inspect.signature`` -> ``eval``), which
would say nothing about the gadgets a pickle can use. Cutting them only keeps a library callable
*unknown* (suspicious), never clean; the callables themselves keep their own standard-library
entries (or family denial) when a pickle imports them."""


_NATIVE_LOADERS = ("ctypes.CDLL", "ctypes.PyDLL", "ctypes.cdll", "ctypes.pydll", "ctypes.LibraryLoader",
                   "ctypes.CFUNCTYPE", "ctypes.PYFUNCTYPE", "ctypes.util", "ctypes.memmove", "ctypes.memset",
                   "ctypes.string_at", "ctypes.wstring_at", "ctypes.cast")


def _opaque(target: str) -> bool:
    """Whether a library's reference to ``target`` does not pass reach on (see :data:`LIBRARY_OPAQUE`):
    also every ``ctypes`` value type and helper (``pointer``, ``Structure``, ``c_int``), which build and
    read C values; loading a library, calling through a pointer or copying memory is kept."""
    if target in LIBRARY_OPAQUE:
        return True
    return target.startswith("ctypes.") and not target.startswith(_NATIVE_LOADERS)


def derive(sources: Iterable[tuple[str, str]]) -> Derivation:
    """Derive the dangerous callables of every module under the given (root folder, package prefix).

    A source with a package prefix is a library: its test suites are skipped but its ``testing``
    helpers walked, and its import-time code is not judged (every checkpoint imports torch and
    numpy; their import-time set-up, which loads native libraries, is the library's, not the file's).
    """
    modules = [m for root, prefix in sources
               for m in (walk(root, prefix, LIBRARY_SKIPPED_DIRS) if prefix else walk(root, prefix))]
    libraries = tuple(f"{prefix}" for _, prefix in sources if prefix)
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
        targets = {_target(ref, classes, functions) for ref in refs}
        if any(func.startswith(lib + ".") for lib in libraries):
            targets = {t for t in targets if not _opaque(t)}
        edges[func] |= targets
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
    dangerous.update(_inherited(classes, functions, reach))
    # Import-time code of the standard library is not attacker-chosen: it registers, compiles
    # patterns and builds tables. What counts is a module whose import acts on the outside world
    # (antigravity opens a browser): a top-level call that runs a process or connects out.
    imports: dict[str, dict[str, str]] = {}
    for module, called in import_time.items():
        if any(module == lib or module.startswith(lib + ".") for lib in libraries):
            continue
        for target in called:
            found = dict(reach.get(_target(target, classes, functions), {}))
            what = primitive(target)
            if what is not None:
                found[what] = target
            outside = {k: v for k, v in found.items() if k in _ACTS_OUTSIDE}
            if outside:
                imports.setdefault(module, {}).update(outside)
    return Derivation(dangerous, imports)


def _inherited(classes: dict[str, list[str]], functions: dict[str, set[str]],
               reach: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """``Sub.m`` for every dangerous method ``m`` a class inherits and does not override: a pickle
    names the method through the subclass (``pathlib.PosixPath.write_text``) as easily as through
    the class that defines it."""
    own: dict[str, set[str]] = defaultdict(set)
    for func in functions:
        owner, _, leaf = func.rpartition(".")
        if owner in classes:
            own[owner].add(leaf)
    found: dict[str, dict[str, str]] = {}
    for cls in classes:
        names: set[str] = set()
        pending, seen = list(classes[cls]), {cls}
        while pending:
            base = pending.pop()
            if base not in seen:
                seen.add(base)
                names |= own.get(base, set())
                pending += classes.get(base, [])
        for name in sorted(names - own.get(cls, set())):
            method = _method(cls, classes, functions, name)
            if method is not None and method in reach:
                found[f"{cls}.{name}"] = reach[method]
    return found


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


def _in_library(name: str) -> bool:
    return any(name == lib or name.startswith(lib + ".") for lib in LIBRARIES)


def _covered(name: str) -> bool:
    from modelguard.scan.pickle.allowlist import DANGEROUS_MODULES

    parts = name.split(".")
    return any(".".join(parts[: i + 1]) in DANGEROUS_MODULES for i in range(len(parts)))


def _grouped(table: dict[str, str], name: str, doc: str) -> list[str]:
    """``name`` as primitive -> the names that reach it, wrapped: one line per entry would make
    the module thousands of lines of repetition."""
    by_primitive: dict[str, list[str]] = defaultdict(list)
    for key, found in sorted(table.items()):
        if not _covered(key):
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


_NAMES_DOC = "qualified name of a primitive, or of a function, class or method that can reach one -> the primitive"


def table_source(d: Derivation) -> str:
    """The text of :mod:`modelguard.scan.pickle.reach_table` for derivation ``d``: every derived
    standard-library entry that the hand-written module families of the allowlist do not already cover."""
    version = ".".join(map(str, sys.version_info[:3]))
    # A primitive reaches itself: a pickle importing one directly is as dangerous as a helper that calls it.
    names = {k: _worst(v) for k, v in d.dangerous.items() if not _in_library(k)}
    modules = {k: _worst(v) for k, v in d.modules.items() if not _in_library(k)}
    for name in PRIMITIVES:
        if name.endswith(".<write>"):
            continue
        if "." in name:
            names.setdefault(name, name)
        else:
            modules.setdefault(name, name)
    # A process-wide registry imported as an object is written by SETITEM or BUILD as directly as
    # by a helper (copyreg._inverted_registry, then EXT imports what the pickle put there).
    for registry in REGISTRIES:
        names.setdefault(registry, f"{registry}.<write>")
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
        *_grouped(names, "REACHES", _NAMES_DOC),
        *_grouped(modules, "MODULE_REACHES", "modules every name of which is dangerous: primitive modules "
                  "(``_socket``), and modules whose\nimport-time code runs a process or connects out (``antigravity``) "
                  "-> the primitive"),
    ]
    return "\n".join(lines)


def library_table_source(d: Derivation, versions: dict[str, str]) -> str:
    """The text of :mod:`modelguard.scan.pickle.reach_libs`: the derived entries of :data:`LIBRARIES`."""
    names = {k: _worst(v) for k, v in d.dangerous.items() if _in_library(k)}
    shown = ", ".join(f"{k} {v}" for k, v in versions.items())
    lines = [
        f'"""Generated by ``python -m modelguard.scan.pickle.reach`` from {shown}.',
        "",
        "Do not edit: regenerate. The callables of the libraries every pickle loader imports that can reach a",
        "primitive, derived exactly as the standard library's (:mod:`modelguard.scan.pickle.reach`); read by",
        ":func:`modelguard.scan.pickle.allowlist.reaches` only for an import under one of these libraries.",
        '"""',
        "",
        f"DERIVED_FROM: dict[str, str] = {versions!r}",
        "",
        *_grouped(names, "REACHES", _NAMES_DOC),
    ]
    return "\n".join(lines)


def library_roots() -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(source folder, package) of each installed library in :data:`LIBRARIES`, and their versions."""
    import importlib.metadata
    import importlib.util

    roots, versions = [], {}
    for lib in LIBRARIES:
        spec = importlib.util.find_spec(lib)  # locates the package; does not import it
        if spec is None or spec.origin is None:
            raise SystemExit(f"{lib} is not installed: the library table needs every one of {LIBRARIES}")
        roots.append((os.path.dirname(spec.origin), lib))
        versions[lib] = importlib.metadata.version(lib)
    return roots, versions


def main() -> None:  # pragma: no cover - the generator, run by hand
    here = os.path.dirname(os.path.abspath(__file__))
    roots, versions = library_roots()
    d = derive([(stdlib_root(), ""), *roots])
    for name, text in (("reach_table.py", table_source(d)), ("reach_libs.py", library_table_source(d, versions))):
        with open(os.path.join(here, name), "w", encoding="utf-8") as f:
            f.write(text)
        print(os.path.join(here, name))


if __name__ == "__main__":  # pragma: no cover
    main()
