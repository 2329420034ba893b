"""Custom Python code shipped with a model: a static AST review, never an import or an exec.

Owns the findings for ``*.py`` files (top level or inside archives): the presence of remote
code itself (MG-S301, which the policy can allow per file hash) and, separately, the
constructs model code has no business with: process execution, dynamic code, import and
builtins tampering, network, file writes, unsafe deserialization and obfuscated payloads,
each reported with its line number.

A process or connection started by module-level code runs the moment a loader imports the
file (MG-S315, malicious); the same call inside a function is reported as suspicious, since a
few real models compile kernels that way.

A payload hidden from a reader is malicious wherever it sits (MG-S304): decoded data passed to
a code sink, a constant spelled as a computation (``'ex' + 'ec'``, ``''.join(map(chr, ...))``,
:mod:`modelguard.scan.pycode_fold`) passed to one, a code-running builtin reached by a string key
or ``getattr``, and the ``().__class__.__base__.__subclasses__()`` climb. Code passed to ``exec``
at import time is itself import-time code, and a process-running callable handed to another call
at import time (``atexit.register(os.system, ...)``) runs too (MG-S315).

Names are resolved through the file's own imports (``import subprocess as sp``,
``from os import system``, ``__import__("os")``), so aliasing does not hide a call. Plain
model code (torch, ``os.path``, ``logging``, ``math``, reading configs) produces only MG-S301.
Must not compile, import or execute the file.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from modelguard.models import Finding, Severity
from modelguard.report.rules import finding
from modelguard.scan.base import Outcome, ScanContext, Source
from modelguard.scan.pycode_fold import from_literal_to_object, hidden_constant
from modelguard.scan.pycode_tables import (
    B64 as _B64,
)
from modelguard.scan.pycode_tables import (
    BUILTINS as _BUILTINS,
)
from modelguard.scan.pycode_tables import (
    CODE_BUILTINS as _CODE_BUILTINS,
)
from modelguard.scan.pycode_tables import (
    CODE_CONSTRUCTORS as _CODE_CONSTRUCTORS,
)
from modelguard.scan.pycode_tables import (
    DANGEROUS_ATTRS as _DANGEROUS_ATTRS,
)
from modelguard.scan.pycode_tables import (
    DANGEROUS_KEYS as _DANGEROUS_KEYS,
)
from modelguard.scan.pycode_tables import (
    DECODERS as _DECODERS,
)
from modelguard.scan.pycode_tables import (
    ESCAPE_ATTRS as _ESCAPE_ATTRS,
)
from modelguard.scan.pycode_tables import (
    HEX as _HEX,
)
from modelguard.scan.pycode_tables import (
    MODULES_WRITES as _MODULES_WRITES,
)
from modelguard.scan.pycode_tables import (
    NATIVE_MODULES as _NATIVE_MODULES,
)
from modelguard.scan.pycode_tables import (
    SENSITIVE_MODULES as _SENSITIVE_MODULES,
)
from modelguard.scan.pycode_tables import (
    SINKS as _SINKS,
)
from modelguard.scan.pycode_tables import (
    WRITE_METHODS as _WRITE_METHODS,
)
from modelguard.scan.pycode_tables import (
    call_args,
    deferred_nodes,
    import_time_nodes,
    is_namespace,
    kw_is,
    opens_for_write,
)
from modelguard.scan.pycode_tables import (
    lookup as _lookup,
)
from modelguard.scan.pycode_tables import (
    module_aliases as _module_aliases,
)
from modelguard.scan.pycode_tables import (
    relative as _relative,
)

_MIN_BLOB = 256
_MAX_PER_RULE = 25
_MAX_DETAIL = 200


def scan(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """Review one Python file statically."""
    data = source.read_all(ctx.limits.max_text_bytes)
    return Outcome("python", review(data, source.name if ctx.depth else ""))


def review(data: bytes, member: str = "") -> list[Finding]:
    """Findings for Python source ``data``; ``member`` prefixes locations of nested files."""
    def at(line: int | None) -> str:
        if line is None:
            return member
        return f"{member}:line {line}" if member else f"line {line}"

    out = [finding("MG-S301", "custom Python code: a loader with trust_remote_code runs it", location=member)]
    try:
        tree = ast.parse(data, filename=member or "<model code>")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        line = getattr(e, "lineno", None)
        out.append(finding("MG-S310", f"does not parse as Python: {type(e).__name__}: {getattr(e, 'msg', e)}",
                           location=at(line)))
        return out
    deferred = deferred_nodes(tree)
    deferred -= import_time_nodes(tree, deferred)  # function bodies the import itself runs
    reviewer = _Reviewer(tree, deferred=deferred)
    try:
        raw = list(reviewer.hits())
    except RecursionError:
        out.append(finding("MG-S310", "nested too deeply to review", location=at(None)))
        return out
    # File writes inside functions are what saving a model does (save_vocabulary, save_pretrained):
    # low. At module level they run on import, and keep the rule's severity.
    deferred_lines = {n.lineno for n in ast.walk(tree) if id(n) in deferred and isinstance(n, ast.expr | ast.stmt)}
    low = reviewer.low | {(line, "MG-S307") for line in deferred_lines}
    # One finding per rule and line; the longest message names the most specific thing.
    best: dict[tuple[int, str], str] = {}
    for line, rule, message in raw:
        if len(message) > len(best.get((line, rule), "")):
            best[(line, rule)] = message
    source_lines = data.decode("utf-8", errors="replace").splitlines()
    counts: dict[str, int] = {}
    for (line, rule), message in sorted(best.items()):
        counts[rule] = counts.get(rule, 0) + 1
        if counts[rule] <= _MAX_PER_RULE:
            text = source_lines[line - 1].strip() if 0 < line <= len(source_lines) else ""
            out.append(finding(rule, message, location=at(line), detail=text[:_MAX_DETAIL],
                               severity=Severity.LOW if (line, rule) in low else None))
    for rule, n in sorted(counts.items()):
        if n > _MAX_PER_RULE:
            out.append(finding(rule, f"{n - _MAX_PER_RULE} more of the same", location=at(None)))
    return out


class _Reviewer:
    def __init__(self, tree: ast.Module, depth: int = 0, deferred: set[int] | None = None) -> None:
        self.tree = tree
        self.depth = depth
        self.deferred = deferred_nodes(tree) if deferred is None else deferred
        self.aliases: dict[str, str] = {}
        self.tainted: set[str] = set()
        self.star_modules: list[str] = []
        self.low: set[tuple[int, str]] = set()
        """(line, rule) of constructs judged at their call to be of low danger (see _call)"""
        self.judged: set[int] = set()
        """ids of call targets judged at the call, which the reference check then skips"""
        self.imported = depth == 0
        """this code runs when the module is imported (top level, or passed to exec at top level)"""
        self.module_aliases = _module_aliases(tree)
        self.stored: dict[int, ast.expr] = {id(t): n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                                            for t in n.targets}

    def hits(self) -> Iterator[tuple[int, str, str]]:
        nodes = list(ast.walk(self.tree))
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                yield from self._imports(node)
        # Two passes so `a = b64decode(x); b = a; exec(b)` taints b before the sink is seen (only when
        # the file names a decoder at all: most model files do not, and the passes walk every value).
        used = {n.id if isinstance(n, ast.Name) else n.attr for n in nodes if isinstance(n, ast.Name | ast.Attribute)}
        for _ in range(2 if used & _DECODER_LEAVES else 0):
            for node in nodes:
                if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)) and node.value:
                    if self._carries_decoded(node.value):
                        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                        for t in targets:
                            self.tainted.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
        deferred = self.deferred
        for node in nodes:
            if isinstance(node, (ast.Name, ast.Attribute)):
                yield from self._reference(node)
            elif isinstance(node, ast.Subscript):
                yield from self._subscript(node)
            elif isinstance(node, ast.Call):
                yield from self._call(node)
                if id(node) not in deferred:
                    yield from self._on_import(node)
            elif isinstance(node, ast.Constant):
                yield from self._blob(node)

    def _on_import(self, node: ast.Call) -> Iterator[tuple[int, str, str]]:
        """A process or connection started by module-level code runs the moment the loader imports it."""
        if not self.imported:
            return
        func = self.resolve(node.func)
        hit = _lookup(func) if func else None
        if hit is not None and hit[0] in ("MG-S302", "MG-S306"):
            yield node.lineno, "MG-S315", f"{func} runs as soon as the module is imported ({hit[1]})"
        # atexit.register(os.system, ...), Thread(target=os.system): handed over on import, run by the callee
        for arg in call_args(node):
            name = self.resolve(arg) if isinstance(arg, (ast.Name, ast.Attribute)) else None
            passed = _lookup(name) if name else None
            if passed is not None and passed[0] in ("MG-S302", "MG-S306"):
                yield node.lineno, "MG-S315", f"hands {name} to {func or 'a call'} as soon as the module is imported"

    def _imports(self, node: ast.Import | ast.ImportFrom) -> Iterator[tuple[int, str, str]]:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    self.aliases[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    self.aliases[top] = top
                yield from self._match(a.name, node.lineno, "imports")
                if a.name.split(".")[0] in _NATIVE_MODULES:
                    yield node.lineno, "MG-S314", f"imports {a.name} (loads native code)"
            return
        if node.level:  # relative import: the repository's own modules
            return
        module = node.module or ""
        if module.split(".")[0] in _NATIVE_MODULES:
            yield node.lineno, "MG-S314", f"imports from {module} (loads native code)"
        for a in node.names:
            full = f"{module}.{a.name}"
            if a.name == "*":
                hit = _lookup(module)
                if hit is not None:
                    yield node.lineno, hit[0], f"star-imports {module}, which {hit[1]}"
                self.star_modules.append(module)
                continue
            self.aliases[a.asname or a.name] = full
            yield from self._match(full, node.lineno, "imports")

    def _match(self, name: str, line: int, verb: str) -> Iterator[tuple[int, str, str]]:
        hit = _lookup(name)
        if hit is not None:
            if hit[0] == "MG-S307" and verb == "imports":
                self.low.add((line, "MG-S307"))  # importing a file helper writes nothing; its calls are judged
            yield line, hit[0], f"{verb} {name} ({hit[1]})"

    def resolve(self, node: ast.expr) -> str | None:
        """The dotted name an expression refers to, through this file's imports."""
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return self.aliases[node.id]
            if node.id in _BUILTINS or node.id == "__builtins__":
                return node.id
            for module in self.star_modules:  # `from os import *` then `system(...)`
                if _lookup(f"{module}.{node.id}") is not None:
                    return f"{module}.{node.id}"
            return None
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = self.resolve(node.func)
            arg = node.args[0].value
            if func in ("__import__", "importlib.import_module") and isinstance(arg, str):
                return arg
        if isinstance(node, ast.Subscript):  # sys.modules["os"]
            base = self.resolve(node.value)
            key = node.slice
            if base == "sys.modules" and isinstance(key, ast.Constant) and isinstance(key.value, str):
                return key.value
        return None

    def _reference(self, node: ast.Name | ast.Attribute) -> Iterator[tuple[int, str, str]]:
        if isinstance(node, ast.Attribute) and node.attr in _ESCAPE_ATTRS:
            # ().__class__.__base__.__subclasses__(), f.__globals__ ...: reaching any module from any object
            yield node.lineno, "MG-S305", f"walks Python internals through .{node.attr}"
            if node.attr == "__subclasses__" and from_literal_to_object(node.value):
                # a registry lists Base.__subclasses__(); only a sandbox escape climbs from a literal to object
                yield node.lineno, "MG-S304", "climbs from a literal to object.__subclasses__() (a sandbox escape)"
        name = self.resolve(node)
        if name is None or id(node) in self.judged:
            return
        if name in ("torch.load", "numpy.load"):
            return  # judged at the call, where weights_only / allow_pickle are visible
        if name == "sys.modules" or (name.startswith("sys.modules.") and name[12:] not in _MODULES_WRITES):
            return  # reading sys.modules is ordinary; writing it is judged below and at subscripts
        yield from self._match(name, node.lineno, "uses")

    def _subscript(self, node: ast.Subscript) -> Iterator[tuple[int, str, str]]:
        key = node.slice
        if isinstance(node.ctx, (ast.Store, ast.Del)) and self.resolve(node.value) == "sys.modules":
            value = self.stored.get(id(node))
            if value is not None and self._is_module_alias(value):
                self.low.add((node.lineno, "MG-S305"))
                yield node.lineno, "MG-S305", "registers an already imported module under another name in sys.modules"
            else:
                yield node.lineno, "MG-S305", "replaces an entry of sys.modules"
        elif isinstance(key, ast.Constant) and key.value in _DANGEROUS_KEYS:
            # globals()["__builtins__"], vars(os)["system"], __dict__["eval"] ...
            yield node.lineno, "MG-S305", f"reaches {key.value!r} by subscript"
            if key.value != "__builtins__":  # the function itself, looked up by name: a hidden call
                yield node.lineno, "MG-S304", f"reaches {key.value} by a string key (a hidden call)"
        elif hidden_constant(key) and is_namespace(node.value):
            yield node.lineno, "MG-S304", "looks up a key spelled as a computation (a hidden name)"

    def _embedded(self, node: ast.Call) -> Iterator[tuple[int, str, str]]:
        """Code passed to exec/eval/compile as a literal is reviewed too, at the caller's line."""
        arg = node.args[0] if node.args else None
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, (str, bytes))) or self.depth >= 3:
            return
        try:
            inner = ast.parse(arg.value)
        except (SyntaxError, ValueError, RecursionError):
            return
        reviewer = _Reviewer(inner, self.depth + 1)
        reviewer.imported = self.imported and id(node) not in self.deferred
        for _, rule, message in reviewer.hits():
            yield node.lineno, rule, f"{message}, in code passed to {self.resolve(node.func)}"

    def _call(self, node: ast.Call) -> Iterator[tuple[int, str, str]]:
        func = self.resolve(node.func)
        line = node.lineno
        if func in ("importlib.import_module", "sys.modules.setdefault", "sys.modules.__setitem__"):
            self.judged.add(id(node.func))
            yield from self._judged_call(node, func)
        if func in ("exec", "eval", "compile"):
            yield from self._embedded(node)
        if kw_is(node, "trust_remote_code", True):
            yield line, "MG-S303", "loads another repository's code with trust_remote_code=True"
        if func in _CODE_CONSTRUCTORS:
            yield line, "MG-S304", f"builds a code object with {func}"
        if func in _SINKS and any(self._carries_decoded(a) for a in call_args(node)):
            yield line, "MG-S304", f"passes decoded data to {func}"
        if (func in _SINKS or func == "breakpoint" or ((func and _lookup(func)) or ("",))[0] == "MG-S302") and \
                any(hidden_constant(a) for a in call_args(node)):
            yield line, "MG-S304", f"passes {func} a constant spelled as a computation (a hidden payload)"
        if func == "torch.load" and not kw_is(node, "weights_only", True):
            if any(k.arg == "weights_only" and not isinstance(k.value, ast.Constant) for k in node.keywords):
                self.low.add((line, "MG-S308"))  # computed by the caller (transformers passes its own flag)
                yield line, "MG-S308", "torch.load with weights_only computed at run time (unpickles when false)"
            else:
                yield line, "MG-S308", "torch.load without weights_only=True unpickles arbitrary objects"
        elif func == "numpy.load" and kw_is(node, "allow_pickle", True):
            yield line, "MG-S308", "numpy.load with allow_pickle=True unpickles object arrays"
        elif func == "yaml.load" and not any(k.arg == "Loader" and "Safe" in ast.unparse(k.value)
                                             for k in node.keywords):
            yield line, "MG-S308", "yaml.load without a SafeLoader constructs arbitrary objects"
        elif func in ("open", "io.open", "codecs.open", "os.fdopen") and opens_for_write(node):
            yield line, "MG-S307", f"{func} for writing"
        elif func in ("setattr", "delattr") and node.args:
            target = self.resolve(node.args[0])
            if target in ("builtins", "__builtins__") and any(self.resolve(a) in _CODE_BUILTINS
                                                               for a in node.args[2:]):
                yield line, "MG-S304", f"{func} puts a code-running builtin under another builtin's name"
            if target is not None and target not in _BUILTINS:
                if target.rsplit(".", 1)[-1][:1].isupper() and target.split(".")[0] not in _SENSITIVE_MODULES:
                    self.low.add((line, "MG-S305"))  # patching a library class, not a module or builtins
                    yield line, "MG-S305", f"{func} on class {target}"
                else:
                    yield line, "MG-S305", f"{func} on module {target}"
        elif func == "getattr" and len(node.args) >= 2:
            target = self.resolve(node.args[0])
            attr = node.args[1]
            if target is not None and target.split(".")[0] in _SENSITIVE_MODULES | {"__builtins__"} and \
                    hidden_constant(attr):
                yield line, "MG-S304", f"getattr on {target} with a name spelled as a computation (a hidden call)"
            if target in ("__builtins__", "builtins"):
                yield line, "MG-S305", "getattr on builtins"
                if isinstance(attr, ast.Constant) and attr.value in _CODE_BUILTINS:
                    yield line, "MG-S304", f"reaches {attr.value} through getattr on builtins (a hidden call)"
            elif isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                if target is not None:
                    yield from self._match(f"{target}.{attr.value}", line, "uses")
                if attr.value in _DANGEROUS_ATTRS:
                    yield line, "MG-S305", f"reaches {attr.value!r} through getattr"
            elif target is not None and target.split(".")[0] in _SENSITIVE_MODULES:
                yield line, "MG-S305", f"getattr on {target} with a computed name"
        if isinstance(node.func, ast.Attribute) and func is None and node.func.attr in _WRITE_METHODS:
            yield line, "MG-S307", f"calls .{node.func.attr}()"

    def _judged_call(self, node: ast.Call, func: str) -> Iterator[tuple[int, str, str]]:
        """import_module and sys.modules writes, judged by their arguments."""
        line, args = node.lineno, node.args
        if func == "importlib.import_module":
            name = args[0] if args else None
            package = args[1] if len(args) > 1 else next((k.value for k in node.keywords if k.arg == "package"), None)
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and not name.value.startswith("."):
                yield from self._match(name.value, line, "imports")  # a static import, spelled as a call
            elif _relative(name) and isinstance(package, ast.Constant) and isinstance(package.value, str):
                self.low.add((line, "MG-S303"))  # a lazy import of the package's own submodules
                yield line, "MG-S303", f"imports a submodule of {package.value} whose name is computed at run time"
            else:
                yield line, "MG-S303", "importlib.import_module of a name computed at run time"
            return
        value = args[1] if len(args) > 1 else None
        if value is not None and self._is_module_alias(value):
            self.low.add((line, "MG-S305"))
            yield line, "MG-S305", "registers an already imported module under another name in sys.modules"
        else:
            yield line, "MG-S305", f"writes sys.modules through {func.rsplit('.', 1)[-1]}"

    def _is_module_alias(self, expr: ast.expr) -> bool:
        """``sys.modules[...]`` itself, or a name only ever assigned from it: a module already imported."""
        if isinstance(expr, ast.Subscript):
            return self.resolve(expr.value) == "sys.modules"
        return isinstance(expr, ast.Name) and expr.id in self.module_aliases

    def _carries_decoded(self, expr: ast.expr) -> bool:
        for n in ast.walk(expr):
            if isinstance(n, ast.Call) and self.resolve(n.func) in _DECODERS:
                return True
            if isinstance(n, ast.Name) and n.id in self.tainted:
                return True
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "decode":
                # "...".decode("base64") / codecs-style rot13 on a str-like value
                if any(isinstance(a, ast.Constant) and str(a.value).lower() in ("base64", "hex", "rot13", "zlib")
                       for a in n.args):
                    return True
        return False

    def _blob(self, node: ast.Constant) -> Iterator[tuple[int, str, str]]:
        value = node.value
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if not isinstance(value, str) or len(value) < _MIN_BLOB:
            return
        compact = "".join(value.split())
        if len(compact) < _MIN_BLOB or len(compact) < 0.9 * len(value):
            return
        if _HEX.fullmatch(value) and len(set(compact.lower())) > 8:
            yield node.lineno, "MG-S309", f"hex literal of {len(compact)} characters"
        elif (_B64.fullmatch(value) and len(set(compact)) > 16 and any(c.isdigit() for c in compact)
              and any(c.isupper() for c in compact) and any(c.islower() for c in compact)):
            yield node.lineno, "MG-S309", f"base64-like literal of {len(compact)} characters"


_DECODER_LEAVES = frozenset({d.rsplit(".", 1)[-1] for d in _DECODERS} | {"decode"})
