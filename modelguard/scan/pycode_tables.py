"""The tables of the custom-code review, and the small AST predicates its checks share.

Owns the name tables :mod:`modelguard.scan.pycode` resolves every reference against (process,
native code, dynamic code, interpreter tampering, network, file writes, unsafe deserializers),
the smaller sets its checks use, and the pure predicates over parsed code its checks share (a
relative module name, names that only ever hold an already-imported module, a namespace table, the
nodes that do not run on import, a call's arguments and modes). No parsing or reading here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

# (qualified name, rule, what it does). An entry matches the name itself and, for modules,
# anything under it ("subprocess" matches "subprocess.run").
REFERENCES: dict[str, tuple[str, str]] = {}


def table(rule: str, what: str, names: str) -> None:
    for name in names.split():
        REFERENCES[name] = (rule, what)


table("MG-S302", "runs a process", """subprocess os.system os.popen os.popen2 os.popen3 os.popen4 os.execl os.execle
    os.execlp os.execlpe os.execv os.execve os.execvp os.execvpe os.spawnl os.spawnle os.spawnlp os.spawnlpe os.spawnv
    os.spawnve os.spawnvp os.spawnvpe os.posix_spawn os.posix_spawnp os.fork os.forkpty os.startfile os.kill
    pty commands popen2 pexpect sh plumbum platform.popen asyncio.create_subprocess_exec
    asyncio.create_subprocess_shell multiprocessing.Process""")
table("MG-S314", "loads native code", """ctypes.CDLL ctypes.cdll ctypes.PyDLL ctypes.pydll ctypes.pythonapi
    ctypes.WinDLL ctypes.windll ctypes.OleDLL ctypes.oledll ctypes.memmove ctypes.memset ctypes.string_at
    ctypes.cast ctypes.LibraryLoader _ctypes cffi.FFI""")
# Importing these is reported once, at the import; their ordinary types (c_int32 ...) are not.
NATIVE_MODULES = frozenset({"ctypes", "cffi"})
table("MG-S303", "runs dynamically built code", """eval exec compile execfile __import__ breakpoint
    importlib.import_module importlib.__import__ importlib.reload importlib.util.spec_from_file_location
    importlib.util.module_from_spec importlib.machinery.SourceFileLoader imp.load_source imp.load_module runpy
    code.interact code.InteractiveInterpreter code.InteractiveConsole""")
table("MG-S303", "runs code fetched from elsewhere", "torch.hub.load")
table("MG-S306", "downloads files", "torch.hub.load_state_dict_from_url torch.hub.download_url_to_file")
table("MG-S304", "builds code objects from data", "marshal.loads marshal.load")
# Referenced in isinstance() checks by ordinary code; only a call builds a code object.
CODE_CONSTRUCTORS = frozenset({"types.CodeType", "types.FunctionType", "types.LambdaType"})
table("MG-S305", "tampers with the interpreter", """__builtins__ builtins sys.modules sys.meta_path sys.path_hooks
    sys.path_importer_cache sys.settrace sys.setprofile sys.addaudithook sys._getframe site.addsitedir""")
table("MG-S306", "opens a network connection", """socket urllib.request urllib.urlopen urllib.urlretrieve urllib2
    urllib3 requests httpx aiohttp http.client httplib ftplib smtplib telnetlib poplib imaplib paramiko
    websocket websockets xmlrpc.client pycurl""")
table("MG-S307", "writes or deletes files", """os.remove os.unlink os.rmdir os.removedirs os.rename os.renames
    os.replace os.chmod os.chown os.lchown os.link os.symlink os.truncate os.open os.mkfifo os.mknod
    shutil.rmtree shutil.move shutil.copy shutil.copy2 shutil.copyfile shutil.copytree shutil.chown""")
table("MG-S308", "deserializes code-carrying data", """pickle.load pickle.loads pickle.Unpickler cPickle _pickle
    dill cloudpickle joblib.load shelve.open jsonpickle.decode pandas.read_pickle yaml.unsafe_load
    yaml.full_load torch.load numpy.load""")

DECODERS = frozenset("""base64.b64decode base64.b32decode base64.b16decode base64.b85decode base64.a85decode
    base64.decodebytes base64.decodestring base64.urlsafe_b64decode base64.standard_b64decode binascii.a2b_base64
    binascii.unhexlify binascii.a2b_hex zlib.decompress gzip.decompress bz2.decompress lzma.decompress codecs.decode
    bytes.fromhex bytearray.fromhex marshal.loads""".split())
SINKS = frozenset("""eval exec compile __import__ importlib.import_module marshal.loads pickle.loads pickle.load
    types.FunctionType types.CodeType os.system os.popen dill.loads cloudpickle.loads""".split())
BUILTINS = frozenset(
    "eval exec compile execfile __import__ breakpoint open getattr setattr delattr globals bytes bytearray".split())
CODE_BUILTINS = frozenset("eval exec compile execfile __import__ breakpoint".split())
"""the builtins that run or import code: reaching one by a string key or a getattr hides the call"""
WRITE_METHODS = frozenset("write_text write_bytes unlink rmdir chmod symlink_to hardlink_to touch".split())
MODULES_WRITES = frozenset("update pop popitem setdefault clear __setitem__ __delitem__".split())
ESCAPE_ATTRS = frozenset("__subclasses__ __globals__ __builtins__ f_globals f_locals f_back".split())
DANGEROUS_KEYS = frozenset("__builtins__ __import__ eval exec compile system popen".split())
SENSITIVE_MODULES = frozenset("os posix nt subprocess builtins sys pty ctypes socket shutil importlib".split())
DANGEROUS_ATTRS = frozenset("system popen spawn exec eval __import__ loads load_module".split())
B64 = re.compile(r"[A-Za-z0-9+/=_\-\s]+")
HEX = re.compile(r"(?:0x|\\x)?[0-9a-fA-F\s]+")


def lookup(name: str) -> tuple[str, str] | None:
    """(rule, what it does) for ``name`` or the closest enclosing name in :data:`REFERENCES`."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        hit = REFERENCES.get(".".join(parts[:i]))
        if hit is not None:
            return hit
    return None


def relative(name: ast.expr | None) -> bool:
    """A module name that starts with "." (a literal or an f-string whose first part is one)."""
    if isinstance(name, ast.Constant):
        return isinstance(name.value, str) and name.value.startswith(".")
    if isinstance(name, ast.JoinedStr) and name.values:
        first = name.values[0]
        return isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value.startswith(".")
    return False


def module_aliases(tree: ast.Module) -> set[str]:
    """Names assigned only from ``sys.modules[...]`` subscripts anywhere in the file."""
    from_modules: set[str] = set()
    other: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            alias = isinstance(node.value, ast.Subscript) and ast.unparse(node.value.value) == "sys.modules"
            for target in node.targets:
                if isinstance(target, ast.Name):
                    (from_modules if alias else other).add(target.id)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.For)) and \
                isinstance(node.target, ast.Name):
            other.add(node.target.id)
    return from_modules - other


def is_namespace(expr: ast.expr) -> bool:
    """``globals()``, ``vars(x)``, ``x.__dict__``, ``__builtins__``: a table of a module's functions by name."""
    if isinstance(expr, ast.Subscript):
        return is_namespace(expr.value)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        return expr.func.id in ("globals", "vars", "locals")
    return (isinstance(expr, ast.Attribute) and expr.attr == "__dict__") or \
        (isinstance(expr, ast.Name) and expr.id == "__builtins__")


def deferred_nodes(tree: ast.Module) -> set[int]:
    """Nodes that do not run on import: function and lambda bodies, ``if __name__ == "__main__":``.

    One walk: a node is deferred when it sits in such a body (nested ones included)."""
    out: set[int] = set()
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, deferred = stack.pop()
        if deferred:
            out.add(id(node))
        inner: list[ast.AST] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = list(node.body)
        elif isinstance(node, ast.Lambda):
            inner = [node.body]
        elif isinstance(node, ast.If) and is_main_guard(node.test):
            inner = list(node.body)
        ids = {id(n) for n in inner}
        for child in ast.iter_child_nodes(node):
            stack.append((child, deferred or id(child) in ids))
    return out


def is_main_guard(test: ast.expr) -> bool:
    text = ast.unparse(test) if isinstance(test, ast.Compare) else ""
    return "__main__" in text and "__name__" in text


def call_args(node: ast.Call) -> list[ast.expr]:
    return [*node.args, *(k.value for k in node.keywords)]


def kw_is(node: ast.Call, name: str, value: object) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is value for k in node.keywords)


def opens_for_write(node: ast.Call) -> bool:
    mode: ast.expr | None = node.args[1] if len(node.args) > 1 else None
    for k in node.keywords:
        if k.arg == "mode":
            mode = k.value
    if mode is None:
        return False
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return any(c in mode.value for c in "wax+")
    return True  # a computed mode cannot be shown to be read-only


def import_time_nodes(tree: ast.Module, deferred: set[int]) -> set[int]:
    """Nodes inside function bodies that run when the module is imported anyway: module-level
    functions called (directly, as a decorator or a decorator factory, or through ``self.m()``)
    from code that runs on import, the ``__init__``/``__new__`` of classes instantiated there, a
    metaclass's ``__new__``/``__init__`` and a base's ``__init_subclass__`` for classes defined
    there, and a module ``__getattr__`` (a loader's ``getattr(module, name)`` runs it). Module-local
    names only; what a function does with its arguments is not followed."""
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}

    def methods(cls: str, *names: str) -> list[ast.AST]:
        node = classes.get(cls)
        return [m for m in (node.body if node else []) if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                and m.name in names]

    ran: set[int] = set()
    pending: list[ast.AST] = [functions["__getattr__"]] if "__getattr__" in functions else []
    roots = [n for n in ast.walk(tree) if id(n) not in deferred]
    for node, owner in [(n, None) for n in roots] + [(n, None) for n in pending]:
        pending += _runs(node, functions, classes, methods, owner)
    done: set[int] = set()
    while pending:
        func = pending.pop()
        if id(func) in done:
            continue
        done.add(id(func))
        owner = next((c for c, n in classes.items() if func in n.body), None)
        for node in ast.walk(func):
            if node is not func:
                ran.add(id(node))
            pending += _runs(node, functions, classes, methods, owner)
    return ran


def _runs(node: ast.AST, functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef],
          classes: dict[str, ast.ClassDef], methods: Callable[..., list[ast.AST]], owner: str | None) -> list[ast.AST]:
    """The module-local functions that running ``node`` runs."""
    out: list[ast.AST] = []
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            if func.id in functions:
                target = functions[func.id]
                out.append(target)
                # a decorator factory: the decorator it returns is applied (and run) at once
                out += [n for n in target.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
            out += methods(func.id, "__init__", "__new__", "__post_init__")
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls") \
                and owner is not None:
            out += methods(owner, func.attr)
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        out += [functions[d.id] for d in node.decorator_list if isinstance(d, ast.Name) and d.id in functions]
    if isinstance(node, ast.ClassDef):
        for k in node.keywords:
            if k.arg == "metaclass" and isinstance(k.value, ast.Name):
                out += methods(k.value.id, "__new__", "__init__", "__prepare__")
        for base in node.bases:
            if isinstance(base, ast.Name):
                out += methods(base.id, "__init_subclass__")
    return out
