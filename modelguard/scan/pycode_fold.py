"""Payloads hidden as computed constants in custom Python code: the expressions that fold.

Owns :func:`hidden_constant` (and :func:`from_literal_to_object`, the sandbox-escape climb
``().__class__.__base__``): whether an expression is *built from literals only* by operations
whose result the author could have written down (``'ex' + 'ec'``, ``''.join(map(chr, [...]))``,
``")1(tnirp"[::-1]``, ``"{}".format("...")``, ``bytes.fromhex("...").decode()``), without being a
plain literal itself. Real model code passes code-running sinks (``exec``, ``eval``,
``__import__``, ``getattr`` on builtins, ``os.system``) either a literal or a value computed from
run-time data; a constant spelled as a computation exists to hide what it is from a reader, which
is what :mod:`modelguard.scan.pycode` reports as an obfuscated payload (MG-S304).

Static only: never evaluates anything (no ``ast.literal_eval`` of attacker strings either); it only
decides whether an expression *could* be evaluated from literals. Bounded by depth.
"""

from __future__ import annotations

import ast

_MAX_DEPTH = 24

_STR_METHODS = frozenset("join format replace decode encode lower upper strip lstrip rstrip swapcase title "
                         "capitalize casefold zfill center ljust rjust translate removeprefix removesuffix".split())
"""methods of str/bytes whose result depends only on the receiver and the arguments"""
_PURE_CALLS = frozenset("chr ord str bytes bytearray list tuple reversed sorted map int hex oct bin".split())
"""builtins that turn literals into literals (``map(chr, [...])`` included: ``chr`` is a pure name)"""
_PURE_CLASS_METHODS = frozenset({("bytes", "fromhex"), ("bytearray", "fromhex"), ("str", "join")})


def hidden_constant(expr: ast.expr) -> bool:
    """Whether ``expr`` folds to a constant from literals and is not itself a literal."""
    if _is_literal(expr):
        return False
    return _folds(expr, 0)


def _is_literal(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) or (
        isinstance(expr, (ast.Tuple, ast.List)) and all(isinstance(e, ast.Constant) for e in expr.elts))


def _folds(expr: ast.expr, depth: int) -> bool:
    if depth > _MAX_DEPTH:
        return False
    d = depth + 1
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, (ast.Tuple, ast.List, ast.Set)):
        return all(_folds(e, d) for e in expr.elts)
    if isinstance(expr, ast.BinOp):
        return _folds(expr.left, d) and _folds(expr.right, d)
    if isinstance(expr, ast.UnaryOp):  # the -1 of [::-1]
        return _folds(expr.operand, d)
    if isinstance(expr, ast.JoinedStr):
        return all(_folds(v, d) for v in expr.values)
    if isinstance(expr, ast.FormattedValue):
        return _folds(expr.value, d)
    if isinstance(expr, ast.Subscript):  # "..."[::-1], "..."[3:9]
        return _folds(expr.value, d) and _folds(expr.slice, d)
    if isinstance(expr, ast.Slice):
        return all(p is None or _folds(p, d) for p in (expr.lower, expr.upper, expr.step))
    if isinstance(expr, (ast.ListComp, ast.GeneratorExp)):
        return _comprehension_folds(expr, d)
    if isinstance(expr, ast.Call):
        return _call_folds(expr, d)
    return False


def _call_folds(call: ast.Call, depth: int) -> bool:
    args = [*call.args, *(k.value for k in call.keywords)]
    if not all((isinstance(a, ast.Name) and a.id in _PURE_CALLS) or _folds(a, depth) for a in args):
        return False
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in _PURE_CALLS
    if isinstance(func, ast.Attribute):
        if isinstance(func.value, ast.Name) and (func.value.id, func.attr) in _PURE_CLASS_METHODS:
            return True
        return func.attr in _STR_METHODS and _folds(func.value, depth)
    return False


def _comprehension_folds(expr: ast.ListComp | ast.GeneratorExp, depth: int) -> bool:
    """``[chr(c) for c in [112, 114]]``: the element uses only the loop names and literals."""
    names = set()
    for gen in expr.generators:
        if gen.ifs or not isinstance(gen.target, ast.Name) or not _folds(gen.iter, depth):
            return False
        names.add(gen.target.id)
    return _folds_with(expr.elt, names, depth)


def _folds_with(expr: ast.expr, names: set[str], depth: int) -> bool:
    if isinstance(expr, ast.Name):
        return expr.id in names
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in _PURE_CALLS:
        return all(_folds_with(a, names, depth + 1) for a in expr.args) and not expr.keywords
    if isinstance(expr, ast.BinOp):
        return _folds_with(expr.left, names, depth + 1) and _folds_with(expr.right, names, depth + 1)
    return _folds(expr, depth + 1)


def from_literal_to_object(expr: ast.expr) -> bool:
    """``().__class__.__base__``, ``"".__class__.__mro__[1]``: a chain from a literal up to ``object``."""
    climbed = False
    while True:
        if isinstance(expr, ast.Subscript):
            expr = expr.value
        elif isinstance(expr, ast.Attribute) and expr.attr in ("__class__", "__base__", "__bases__", "__mro__"):
            climbed, expr = climbed or expr.attr != "__class__", expr.value
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "type":
            expr = expr.args[0] if expr.args else expr
            if isinstance(expr, ast.Call):
                return False
        else:
            return climbed and isinstance(expr, (ast.Constant, ast.Tuple, ast.List, ast.Dict, ast.Set))
