"""TorchScript source in a ``torch.jit.save`` archive (``<archive>/code/**/*.py``).

``torch.jit.load`` compiles these files with the TorchScript compiler and runs them in the
TorchScript interpreter: no Python import, no builtins, no modules beyond ``torch`` and its
operators. So their presence is not "custom Python code" (MG-S301); every archive has them.
What TorchScript can still do is call operators that touch the file system: ``aten::from_file``
(maps a file into a tensor; ``shared=True`` writes back to it) and ``aten::save`` (writes a
file) are reported as MG-S307. The rest of the Python review still applies, so source that names
process execution, dynamic code or unsafe loaders is reported as in any ``*.py`` file (such
code does not compile as TorchScript, and a file that claims to be TorchScript but carries it
is not what torch writes).

Must not compile, import or execute the code.
"""

from __future__ import annotations

import ast

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.scan import pycode
from modelguard.scan.base import ScanContext, Source

_FILE_OPS = frozenset({"from_file", "save"})
"""TorchScript operators (``torch.X`` / ``ops.aten.X``) that read or write files"""
_OP_ROOTS = frozenset({"torch", "ops", "aten"})


def review(ctx: ScanContext, source: Source) -> list[Finding]:
    """Findings for one TorchScript source member."""
    data = source.read_all(ctx.limits.max_text_bytes)
    out = [f for f in pycode.review(data, source.name) if f.rule != "MG-S301"]
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return out  # pycode already reported MG-S310
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _FILE_OPS:
            root = node.func.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in _OP_ROOTS:
                out.append(finding("MG-S307", f"TorchScript calls the file operator {node.func.attr}",
                                   location=f"{source.name}:line {node.lineno}"))
    return out
