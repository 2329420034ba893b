"""Custom Python code shipped with a model: a static AST review, never an import or an exec.

Owns the findings for ``*.py`` files (top level or inside archives): the presence of remote
code itself (MG-S301, which the policy can allow per file hash) and, separately, the
constructs model code has no business with: process execution, dynamic code, import and
builtins tampering, network, file writes, unsafe deserialization and obfuscated payloads,
each reported with its line number.

A process or connection started by module-level code runs the moment a loader imports the
file (MG-S315, malicious); the same call inside a function is reported as suspicious, since a
few real models compile kernels that way.

Names are resolved through the file's own imports (``import subprocess as sp``,
``from os import system``, ``__import__("os")``), so aliasing does not hide a call. Plain
model code (torch, ``os.path``, ``logging``, ``math``, reading configs) produces only MG-S301.
Must not compile, import or execute the file.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.scan.base import Outcome, ScanContext, Source

# (qualified name, rule, what it does). An entry matches the name itself and, for modules,
# anything under it ("subprocess" matches "subprocess.run").
_REFERENCES: dict[str, tuple[str, str]] = {}


def _table(rule: str, what: str, names: str) -> None:
    for name in names.split():
        _REFERENCES[name] = (rule, what)


_table("MG-S302", "runs a process", """subprocess os.system os.popen os.popen2 os.popen3 os.popen4 os.execl os.execle
    os.execlp os.execlpe os.execv os.execve os.execvp os.execvpe os.spawnl os.spawnle os.spawnlp os.spawnlpe os.spawnv
    os.spawnve os.spawnvp os.spawnvpe os.posix_spawn os.posix_spawnp os.fork os.forkpty os.startfile os.kill
    pty commands popen2 pexpect sh plumbum platform.popen asyncio.create_subprocess_exec
    asyncio.create_subprocess_shell multiprocessing.Process""")
_table("MG-S314", "loads native code", """ctypes.CDLL ctypes.cdll ctypes.PyDLL ctypes.pydll ctypes.pythonapi
    ctypes.WinDLL ctypes.windll ctypes.OleDLL ctypes.oledll ctypes.memmove ctypes.memset ctypes.string_at
    ctypes.cast ctypes.LibraryLoader _ctypes cffi.FFI""")
# Importing these is reported once, at the import; their ordinary types (c_int32 ...) are not.
_NATIVE_MODULES = frozenset({"ctypes", "cffi"})
_table("MG-S303", "runs dynamically built code", """eval exec compile execfile __import__ importlib.import_module
    importlib.__import__ importlib.reload importlib.util.spec_from_file_location importlib.util.module_from_spec
    importlib.machinery.SourceFileLoader imp.load_source imp.load_module runpy code.interact
    code.InteractiveInterpreter code.InteractiveConsole""")
_table("MG-S303", "runs code fetched from elsewhere", "torch.hub.load")
_table("MG-S306", "downloads files", "torch.hub.load_state_dict_from_url torch.hub.download_url_to_file")
_table("MG-S304", "builds code objects from data", "marshal.loads marshal.load")
# Referenced in isinstance() checks by ordinary code; only a call builds a code object.
_CODE_CONSTRUCTORS = frozenset({"types.CodeType", "types.FunctionType", "types.LambdaType"})
_table("MG-S305", "tampers with the interpreter", """__builtins__ builtins sys.modules sys.meta_path sys.path_hooks
    sys.path_importer_cache sys.settrace sys.setprofile sys.addaudithook sys._getframe site.addsitedir""")
_table("MG-S306", "opens a network connection", """socket urllib.request urllib.urlopen urllib.urlretrieve urllib2
    urllib3 requests httpx aiohttp http.client httplib ftplib smtplib telnetlib poplib imaplib paramiko
    websocket websockets xmlrpc.client pycurl""")
_table("MG-S307", "writes or deletes files", """os.remove os.unlink os.rmdir os.removedirs os.rename os.renames
    os.replace os.chmod os.chown os.lchown os.link os.symlink os.truncate os.open os.mkfifo os.mknod
    shutil.rmtree shutil.move shutil.copy shutil.copy2 shutil.copyfile shutil.copytree shutil.chown""")
_table("MG-S308", "deserializes code-carrying data", """pickle.load pickle.loads pickle.Unpickler cPickle _pickle
    dill cloudpickle joblib.load shelve.open jsonpickle.decode pandas.read_pickle yaml.unsafe_load
    yaml.full_load torch.load numpy.load""")

_DECODERS = frozenset("""base64.b64decode base64.b32decode base64.b16decode base64.b85decode base64.a85decode
    base64.decodebytes base64.decodestring base64.urlsafe_b64decode base64.standard_b64decode binascii.a2b_base64
    binascii.unhexlify binascii.a2b_hex zlib.decompress gzip.decompress bz2.decompress lzma.decompress codecs.decode
    bytes.fromhex bytearray.fromhex marshal.loads""".split())
_SINKS = frozenset("""eval exec compile __import__ importlib.import_module marshal.loads pickle.loads pickle.load
    types.FunctionType types.CodeType os.system os.popen dill.loads cloudpickle.loads""".split())
_BUILTINS = frozenset(
    "eval exec compile execfile __import__ open getattr setattr delattr globals bytes bytearray".split())
_WRITE_METHODS = frozenset("write_text write_bytes unlink rmdir chmod symlink_to hardlink_to touch".split())
_MODULES_WRITES = frozenset("update pop popitem setdefault clear __setitem__ __delitem__".split())
_ESCAPE_ATTRS = frozenset("__subclasses__ __globals__ __builtins__ f_globals f_locals f_back".split())
_DANGEROUS_KEYS = frozenset("__builtins__ __import__ eval exec compile system popen".split())
_SENSITIVE_MODULES = frozenset("os posix nt subprocess builtins sys pty ctypes socket shutil importlib".split())
_DANGEROUS_ATTRS = frozenset("system popen spawn exec eval __import__ loads load_module".split())
_B64 = re.compile(r"[A-Za-z0-9+/=_\-\s]+")
_HEX = re.compile(r"(?:0x|\\x)?[0-9a-fA-F\s]+")
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
    try:
        raw = list(_Reviewer(tree).hits())
    except RecursionError:
        out.append(finding("MG-S310", "nested too deeply to review", location=at(None)))
        return out
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
            out.append(finding(rule, message, location=at(line), detail=text[:_MAX_DETAIL]))
    for rule, n in sorted(counts.items()):
        if n > _MAX_PER_RULE:
            out.append(finding(rule, f"{n - _MAX_PER_RULE} more of the same", location=at(None)))
    return out


class _Reviewer:
    def __init__(self, tree: ast.Module, depth: int = 0) -> None:
        self.tree = tree
        self.depth = depth
        self.aliases: dict[str, str] = {}
        self.tainted: set[str] = set()
        self.star_modules: list[str] = []

    def hits(self) -> Iterator[tuple[int, str, str]]:
        nodes = list(ast.walk(self.tree))
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                yield from self._imports(node)
        # Two passes so `a = b64decode(x); b = a; exec(b)` taints b before the sink is seen.
        for _ in range(2):
            for node in nodes:
                if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)) and node.value:
                    if self._carries_decoded(node.value):
                        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                        for t in targets:
                            self.tainted.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
        deferred = _deferred_nodes(self.tree)
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
        func = self.resolve(node.func)
        hit = _lookup(func) if func else None
        if hit is not None and hit[0] in ("MG-S302", "MG-S306") and self.depth == 0:
            yield node.lineno, "MG-S315", f"{func} runs as soon as the module is imported ({hit[1]})"

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
        name = self.resolve(node)
        if name is None:
            return
        if name in ("torch.load", "numpy.load"):
            return  # judged at the call, where weights_only / allow_pickle are visible
        if name == "sys.modules" or (name.startswith("sys.modules.") and name[12:] not in _MODULES_WRITES):
            return  # reading sys.modules is ordinary; writing it is judged below and at subscripts
        yield from self._match(name, node.lineno, "uses")

    def _subscript(self, node: ast.Subscript) -> Iterator[tuple[int, str, str]]:
        key = node.slice
        if isinstance(node.ctx, (ast.Store, ast.Del)) and self.resolve(node.value) == "sys.modules":
            yield node.lineno, "MG-S305", "replaces an entry of sys.modules"
        elif isinstance(key, ast.Constant) and key.value in _DANGEROUS_KEYS:
            # globals()["__builtins__"], vars(os)["system"], __dict__["eval"] ...
            yield node.lineno, "MG-S305", f"reaches {key.value!r} by subscript"

    def _embedded(self, node: ast.Call) -> Iterator[tuple[int, str, str]]:
        """Code passed to exec/eval/compile as a literal is reviewed too, at the caller's line."""
        arg = node.args[0] if node.args else None
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, (str, bytes))) or self.depth >= 3:
            return
        try:
            inner = ast.parse(arg.value)
        except (SyntaxError, ValueError, RecursionError):
            return
        for _, rule, message in _Reviewer(inner, self.depth + 1).hits():
            yield node.lineno, rule, f"{message}, in code passed to {self.resolve(node.func)}"

    def _call(self, node: ast.Call) -> Iterator[tuple[int, str, str]]:
        func = self.resolve(node.func)
        line = node.lineno
        if func in ("exec", "eval", "compile"):
            yield from self._embedded(node)
        if _kw_is(node, "trust_remote_code", True):
            yield line, "MG-S303", "loads another repository's code with trust_remote_code=True"
        if func in _CODE_CONSTRUCTORS:
            yield line, "MG-S304", f"builds a code object with {func}"
        if func in _SINKS and any(self._carries_decoded(a) for a in _call_args(node)):
            yield line, "MG-S304", f"passes decoded data to {func}"
        if func == "torch.load" and not _kw_is(node, "weights_only", True):
            yield line, "MG-S308", "torch.load without weights_only=True unpickles arbitrary objects"
        elif func == "numpy.load" and _kw_is(node, "allow_pickle", True):
            yield line, "MG-S308", "numpy.load with allow_pickle=True unpickles object arrays"
        elif func == "yaml.load" and not any(k.arg == "Loader" and "Safe" in ast.unparse(k.value)
                                             for k in node.keywords):
            yield line, "MG-S308", "yaml.load without a SafeLoader constructs arbitrary objects"
        elif func in ("open", "io.open", "codecs.open", "os.fdopen") and _opens_for_write(node):
            yield line, "MG-S307", f"{func} for writing"
        elif func in ("setattr", "delattr") and node.args:
            target = self.resolve(node.args[0])
            if target is not None and target not in _BUILTINS:
                yield line, "MG-S305", f"{func} on module {target}"
        elif func == "getattr" and len(node.args) >= 2:
            target = self.resolve(node.args[0])
            attr = node.args[1]
            if target in ("__builtins__", "builtins"):
                yield line, "MG-S305", "getattr on builtins"
            elif isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                if target is not None:
                    yield from self._match(f"{target}.{attr.value}", line, "uses")
                if attr.value in _DANGEROUS_ATTRS:
                    yield line, "MG-S305", f"reaches {attr.value!r} through getattr"
            elif target is not None and target.split(".")[0] in _SENSITIVE_MODULES:
                yield line, "MG-S305", f"getattr on {target} with a computed name"
        if isinstance(node.func, ast.Attribute) and func is None and node.func.attr in _WRITE_METHODS:
            yield line, "MG-S307", f"calls .{node.func.attr}()"

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


def _deferred_nodes(tree: ast.Module) -> set[int]:
    """Nodes that do not run on import: function and lambda bodies, ``if __name__ == "__main__":``."""
    out: set[int] = set()
    for node in ast.walk(tree):
        bodies: list[ast.AST] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            bodies = list(node.body)
        elif isinstance(node, ast.Lambda):
            bodies = [node.body]
        elif isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) and "__name__" in ast.unparse(node.test):
            bodies = list(node.body)
        for body in bodies:
            out.update(id(n) for n in ast.walk(body))
    return out


def _lookup(name: str) -> tuple[str, str] | None:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        hit = _REFERENCES.get(".".join(parts[:i]))
        if hit is not None:
            return hit
    return None


def _call_args(node: ast.Call) -> list[ast.expr]:
    return [*node.args, *(k.value for k in node.keywords)]


def _kw_is(node: ast.Call, name: str, value: object) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is value for k in node.keywords)


def _opens_for_write(node: ast.Call) -> bool:
    mode: ast.expr | None = node.args[1] if len(node.args) > 1 else None
    for k in node.keywords:
        if k.arg == "mode":
            mode = k.value
    if mode is None:
        return False
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return any(c in mode.value for c in "wax+")
    return True  # a computed mode cannot be shown to be read-only
