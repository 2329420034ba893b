"""What the pickle analyser collects while it walks a stream: findings, imports, counters.

Owns :class:`Collector`, shared by every pickle of one stream (including joblib's nested ones):
it classifies each import against the allowlist, de-duplicates findings and enforces the item
limit. No parsing here.
"""

from __future__ import annotations

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.scan.base import ScanContext, ScanLimitError
from modelguard.scan.pickle import allowlist, joblib_arrays
from modelguard.scan.pickle.values import GlobalRef, Guarded


class Collector:
    """Findings and imports shared by every pickle of one stream (including nested ones)."""

    def __init__(self, ctx: ScanContext, location: str) -> None:
        self.ctx = ctx
        self.location = location
        self.findings: list[Finding] = []
        self.globals: dict[tuple[str, str], GlobalRef | Guarded] = {}
        """(module, name) of every import, in order, -> the value an import of it pushes"""
        self.pids: list[object] = []
        self.is_joblib = False
        self.ops = 0
        self.items = 0
        self.max_items = ctx.limits.max_pickle_container_items
        self.calls = 0
        """REDUCE/NEWOBJ/OBJ/INST/BUILD calls walked: a stream that breaks after one has already run it"""
        self.guarded_seen = False
        """a guarded import was pushed: calls check their arguments for it (see calls.CallModel)"""
        self.extensions: dict[int, GlobalRef] = {}
        """EXT codes registered by copyreg.add_extension calls in this stream"""
        self._seen: set[tuple[str, str]] = set()

    def where(self, offset: int) -> str:
        return f"{self.location}@offset {offset}"

    def add(self, rule: str, message: str, offset: int, key: str | None = None) -> None:
        dedupe = (rule, key if key is not None else message)
        if dedupe in self._seen:
            return
        self._seen.add(dedupe)
        self.findings.append(finding(rule, message, location=self.where(offset)))

    def imported(self, ref: GlobalRef, offset: int, how: str) -> GlobalRef | Guarded:
        """Classify an import (once per stream) and return the value it pushes: the reference, or
        :class:`Guarded` for a callable that is safe only in the calls the machine checks."""
        key = (ref.module, ref.name)
        known = self.globals.get(key)
        if known is not None:
            return known  # classified at its first import; its finding (if any) is keyed by the import alone
        if ref in joblib_arrays.WRAPPERS:
            self.is_joblib = True
        verdict = allowlist.classify(ref.module, ref.name, self.ctx.extra_safe_globals)
        pushed: GlobalRef | Guarded = ref
        if verdict is allowlist.Safety.GUARDED:
            pushed, self.guarded_seen = Guarded(ref), True
        self.globals[key] = pushed
        if verdict is allowlist.Safety.DANGEROUS:
            self.dangerous(ref, how, offset)
        elif verdict is allowlist.Safety.UNKNOWN:
            self.add("MG-S102", f"imports {ref} ({how}), which is not on the allowlist", offset, key=str(ref))
        return pushed

    def dangerous(self, ref: GlobalRef, how: str, offset: int) -> None:
        """MG-S101 for ``ref`` (once per stream): imported outright, or a guarded import used unchecked."""
        note = allowlist.danger_note(ref.module, ref.name)
        self.add("MG-S101", f"imports {ref} ({how}), which can run code or touch files or the network{note}",
                 offset, key=str(ref))

    def count(self, n: int, offset: int) -> None:
        self.items += n
        if self.items > self.ctx.limits.max_pickle_container_items:
            raise self.too_many_items(offset)

    def too_many_items(self, offset: int) -> ScanLimitError:
        """The error for :attr:`items` over the limit (the opcode loop counts inline, then raises this)."""
        return ScanLimitError(f"pickle builds more than {self.ctx.limits.max_pickle_container_items} items",
                              self.where(offset))
