"""Scanner for files that are pickle streams (plain pickles, joblib files, numpy ``ndarray.dump``).

Owns the engine entry points :func:`scan` and :func:`probe`; the analysis itself is
:mod:`modelguard.scan.pickle.vm`, the allowlist :mod:`modelguard.scan.pickle.allowlist`.
Never unpickles: fickling only renders a decompiled payload into the detail of a malicious
finding, and never changes a verdict.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import io
import warnings

from modelguard.models import Finding, Verdict
from modelguard.report.rules import finding
from modelguard.scan.base import BytesSource, MalformedError, Outcome, ScanContext, ScanLimitError, Source
from modelguard.scan.pickle.collector import Collector
from modelguard.scan.pickle.reader import Reader
from modelguard.scan.pickle.values import GlobalRef
from modelguard.scan.pickle.vm import Machine, PickleAnalysis, analyze_stream

__all__ = ["GlobalRef", "PickleAnalysis", "analyze_stream", "loads_findings", "prefix_findings", "probe", "scan"]

PROBE_BYTES = 4 << 20
"""how much of a text-looking file :func:`probe` parses before calling it a pickle"""
DETAIL_MAX_INPUT = 256 << 10
"""fickling takes seconds on larger streams; beyond this the finding has no decompiled view"""
DETAIL_MAX_CHARS = 4000
TRAILING_SCAN_MAX = 64 << 20
"""data after the last pickle up to this size is scanned as a file of its own (polyglots)"""


def scan(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """Analyse every pickle in ``source``; format ``joblib`` when it carries joblib array wrappers."""
    with source.open() as f:
        analysis = analyze_stream(ctx, f, location=source.name)
    findings = analysis.findings
    trailing = source.size - analysis.end
    if analysis.complete and 0 < trailing <= TRAILING_SCAN_MAX and ctx.nested_scanner is not None:
        with source.open() as f:
            f.seek(analysis.end)
            rest = BytesSource(f.read(trailing), f"{source.name}@offset {analysis.end}")
        try:
            inner = ctx.nested(rest)
        except ScanLimitError as e:
            findings.append(finding("MG-S003", str(e), location=e.location or rest.name))
        else:
            # Only what would make the file malicious: the trailing bytes are already reported
            # (MG-S105), and junk that is "no known format" must not hide that finding's verdict.
            findings.extend(x for x in inner.findings if x.verdict is Verdict.MALICIOUS)
    if any(x.verdict is Verdict.MALICIOUS for x in findings) and source.size <= DETAIL_MAX_INPUT:
        findings = _with_decompiled_detail(source, findings)
    return Outcome("joblib" if analysis.is_joblib else "pickle", findings)


def probe(source: Source) -> bool:
    """Whether ``pickle.load`` would accept the start of ``source`` (protocol 0/1 look like text).

    Parses at most :data:`PROBE_BYTES` of the first pickle and stops at the first invalid
    opcode. A stream still valid when the budget runs out counts as a pickle (fail closed:
    a giant STRING line must not turn a payload into "text").
    """
    ctx = ScanContext()
    with source.open() as f:
        reader = Reader(f, 0, PROBE_BYTES, source.name)
        try:
            Machine(Collector(ctx, source.name), reader, joblib=False).run()
        except MalformedError:
            return False
        except ScanLimitError:
            return True
    return True


# What pickle.load reports from the start of a file of another format. A complete pickle (it
# reached STOP) counts fully; a broken one only when it called something before breaking,
# since pickle.load has run those calls by the time it raises (nullifAI-style streams).
_PREFIX_RULES = frozenset({"MG-S101", "MG-S102", "MG-S103", "MG-S104", "MG-S106", "MG-S107", "MG-S108"})
_PREFIX_RULES_BROKEN = frozenset({"MG-S101", "MG-S103", "MG-S107"})


def loads_findings(ctx: ScanContext, source: Source, *, limit: int = PROBE_BYTES,
                   report_limits: bool = False) -> list[Finding]:
    """What unpickling the bytes of ``source`` would do (modelled, never run), for bytes a loader
    unpickles when they look pickled (a PyTables attribute ending in ``.``): a complete pickle counts fully; a broken
    one only through the calls it made before breaking; bytes that are not a pickle count nothing.
    Bounded by ``limit`` bytes; with ``report_limits`` a pickle too large for it is MG-S003 (a
    PyTables row is unpickled whatever its size, so what was not analysed must not pass)."""
    with source.open() as f:
        analysis = analyze_stream(ctx, f, location=source.name, single=True, limit=limit)
    limited = [x for x in analysis.findings if x.rule == "MG-S003"] if report_limits else []
    if analysis.complete and analysis.stops:
        keep = _PREFIX_RULES
    elif analysis.calls:
        keep = _PREFIX_RULES_BROKEN
    else:
        return limited
    return [x for x in analysis.findings if x.rule in keep] + limited


def prefix_findings(ctx: ScanContext, source: Source) -> list[Finding]:
    """Findings for the pickle that ``pickle.load`` reads from the first byte of a file of
    another format (a tar whose member name is a protocol-0 pickle, a GGUF header that starts
    with a BINFLOAT, a ``model.py`` or text file holding a pickle without STOP).

    Bounded by :data:`PROBE_BYTES`; bytes that are not a pickle stop it at once.
    """
    note = " (the file also parses as a pickle from its first byte; pickle.load runs this)"
    return [dataclasses.replace(x, message=x.message + note) for x in loads_findings(ctx, source)]


def _with_decompiled_detail(source: Source, findings: list[Finding]) -> list[Finding]:
    """Attach fickling's decompiled view of the pickle to the first malicious finding."""
    detail = _decompile(source.read_all(DETAIL_MAX_INPUT))
    if not detail:
        return findings
    out = list(findings)
    for i, item in enumerate(out):
        if item.verdict is Verdict.MALICIOUS and not item.detail:
            out[i] = dataclasses.replace(item, detail=detail)
            break
    return out


def _decompile(data: bytes) -> str:
    sink = io.StringIO()
    try:
        from fickling.fickle import Pickled

        # fickling prints warnings about odd streams; they must not reach our output.
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = ast.unparse(Pickled.load(data).ast)
    # fickling raises many types on hostile input; the detail is cosmetic and never affects
    # the verdict, so any failure just means "no decompiled view".
    except Exception:
        return ""
    if len(text) > DETAIL_MAX_CHARS:
        text = text[:DETAIL_MAX_CHARS] + "\n..."
    return "decompiled by fickling (for reading only):\n" + text
