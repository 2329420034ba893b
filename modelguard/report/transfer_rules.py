"""The rules of big-model transfers and of deploying from the lock alone (issue 15).

Part of the one table in :mod:`modelguard.report.rules` (which lists them in ``_ALL``); kept here so
that table stays under the house's module size. ``MG-H150``..``MG-H159``: parallel and resumed
downloads (:mod:`modelguard.hub.ranged`, :mod:`modelguard.store.partial`). ``MG-L040``..``MG-L049``:
``fetch --frozen`` / ``verify --frozen`` (:mod:`modelguard.flows.frozen`). Pure data; no I/O.
"""

from __future__ import annotations

from modelguard.errors import IntegrityError, StaleLockError
from modelguard.models import Severity, Verdict
from modelguard.report.rule import Rule
from modelguard.report.rule import raises as _raises

_H, _L, _I = Severity.HIGH, Severity.LOW, Severity.INFO
_SUS = Verdict.SUSPICIOUS

TRANSFER_RULES: list[Rule] = [
    *_raises(IntegrityError, [
    Rule("MG-H150", _I, _SUS, "Server ignored a Range request; file downloaded again from byte 0",
         "Asked for the rest of a file (to resume it, or one piece of it in parallel), the server sent the "
         "whole file with 200. modelguard threw the partial bytes away and downloaded the file once from the "
         "start, checked as always; a CDN that honours Range saves that time."),
    Rule("MG-H151", _I, _SUS, "Partial download from an earlier run discarded",
         "A download resumed from bytes an interrupted run left in quarantine did not hash to the lock, so "
         "those bytes were thrown away and the file downloaded again from byte 0 (and checked). Something "
         "changed the partial file between runs: look at who writes to the cache."),
    Rule("MG-H152", _H, _SUS, "Range answered with other bytes than asked",
         "A Range request was answered with 206 for another range or total size than asked (Content-Range), "
         "or with an encoded body. Nothing from the answer was used and the file is refused; check the CDN or "
         "proxy between modelguard and the Hub."),
    ]),
    *_raises(StaleLockError, [
    Rule("MG-L040", _L, _SUS, "Policy enforced is not the one the lock was made under",
         "With --frozen the policy comes from --policy FILE or the manifest, and its hash differs from the "
         "lock's policy-sha256: this machine checks models under other rules than the ones they were locked "
         "and reviewed under. Expected after a revocation was added; set fail-on = \"low\" to refuse it."),
    Rule("MG-L041", _I, _SUS, "Lock is stale for the manifest; --frozen used the lock as it is",
         "The manifest beside the lockfile asks for other models than the lock pins. --frozen never re-locks: "
         "it fetched and checked exactly what the lock pins. Run `modelguard lock` where the manifest changes."),
    ]),
]
