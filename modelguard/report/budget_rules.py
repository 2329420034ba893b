"""The rules of the budgets every untrusted input is held to (issue 14; :mod:`modelguard.spec.limits`).

Part of the one table in :mod:`modelguard.report.rules` (which lists them in ``_ALL``); kept here so
that table stays under the house's module size. ``MG-H130``..``MG-H142``: what the Hub, a mirror or
the verified cache sent was larger, deeper, slower or stranger than any real one (or modelguard
itself failed on one model). ``MG-L020``..``MG-L025``: the files in the user's repository. Each help
text names the ``MODELGUARD_LIMIT_*`` variable that raises the budget. Pure data; no I/O.
"""

from __future__ import annotations

from modelguard.errors import IntegrityError, SignatureError
from modelguard.models import Severity, Verdict
from modelguard.report.rule import Rule
from modelguard.report.rule import raises as _raises

_C, _H, _M = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM
_SUS, _UNS = Verdict.SUSPICIOUS, Verdict.UNSCANNABLE

BUDGET_RULES: list[Rule] = [
    # MG-H130..H149: budgets -- every input bounded (modelguard.spec.limits; MODELGUARD_LIMIT_* raises one)
    *_raises(IntegrityError, [
    Rule("MG-H130", _H, _SUS, "Hub answer larger than its budget",
         "An API answer of the Hub or a mirror ran past the metadata budget (an endless or padded body). "
         "Nothing from it was used; check --endpoint, or raise MODELGUARD_LIMIT_ANSWER_BYTES for a huge repo."),
    Rule("MG-H131", _H, _SUS, "File listing has too many pages",
         "The tree listing kept linking to further pages past the page budget: a loop or a hostile server. "
         "Nothing was locked; check --endpoint, or raise MODELGUARD_LIMIT_PAGES."),
    Rule("MG-H132", _H, _SUS, "Repo lists more files than the budget",
         "The Hub (or the lockfile) lists more files for one repo than any real model has. Nothing was used; "
         "check the repo, or raise MODELGUARD_LIMIT_FILES if it really holds that many."),
    Rule("MG-H133", _H, _SUS, "Hub answer nested too deeply",
         "An API answer nests arrays or objects deeper than any real answer (a parser stack attack). It was "
         "not parsed; check --endpoint."),
    Rule("MG-H134", _H, _UNS, "Transfer stalled or too slow",
         "A request got no byte for the read timeout, or its average rate fell below the minimum over a window, "
         "on every try. No verdict for this model; the others proceed. Check the network or the mirror, or tune "
         "MODELGUARD_LIMIT_MIN_RATE / RATE_WINDOW / READ_TIMEOUT."),
    Rule("MG-H135", _H, _UNS, "Transfer deadline passed",
         "One answer or one file took longer than its overall deadline on every try. No verdict for this model; "
         "raise MODELGUARD_LIMIT_FILE_DEADLINE (or ANSWER_DEADLINE) for a very slow link."),
    Rule("MG-H136", _H, _SUS, "File name too long for a filesystem",
         "A segment of the file's path is longer than 255 bytes, which no common filesystem stores; the Hub "
         "cache could not hold it. Refused at lock; exclude the file in modelguard.toml."),
    Rule("MG-H137", _H, _SUS, "File path too long",
         "The file's path (in the repo, or under the verified cache) is longer than a path may be. Refused; "
         "exclude the file, or use a shorter --cache-dir."),
    Rule("MG-H138", _H, _SUS, "Two file names one filesystem folds together",
         "Two paths differ only by letter case or Unicode normalisation, so on macOS and Windows one file would "
         "replace the other. Refused at lock; exclude one of them in modelguard.toml."),
    Rule("MG-H139", _C, _SUS, "Hub answer contains the token",
         "The server sent back the token modelguard authenticated with (in a file name, a link, a header). Nothing "
         "from the answer was used or written; revoke the token and check --endpoint: it is not the Hub."),
    Rule("MG-H140", _H, _UNS, "Admission record over budget",
         "The snapshot's admission record is larger or nested deeper than any record modelguard writes, so it "
         "was not read and the snapshot counts as not admitted. Run `modelguard fetch` to re-admit it."),
    Rule("MG-H141", _M, _UNS, "Audit log line over budget",
         "A line of audit.log is longer or nested deeper than any record modelguard writes; it is reported, "
         "not parsed. Someone else wrote to the log: investigate."),
    Rule("MG-H142", _H, _UNS, "Internal error while fetching this model",
         "modelguard failed on this model because of a bug (traceback on stderr); the other models of the run "
         "were still fetched and reported. Nothing was admitted for it. Please report the traceback."),
    ]),

    # MG-L020..L029: budgets of the files in the user's repository (modelguard.spec.limits)
    *_raises(IntegrityError, [
    Rule("MG-L020", _H, _UNS, "Lockfile, manifest or policy larger than its budget",
         "The file, or one of its lines, is larger than any modelguard writes or a person would. It was not "
         "parsed; restore it, or raise MODELGUARD_LIMIT_LOCK_BYTES / CONFIG_BYTES / LINE_BYTES."),
    Rule("MG-L021", _H, _UNS, "Lockfile, manifest or policy nested too deeply",
         "Arrays, inline tables or dotted keys nest deeper than any modelguard file needs (a parser stack "
         "attack). It was not parsed; restore the file from version control."),
    Rule("MG-L022", _H, _UNS, "Too many models or files",
         "The manifest or lockfile lists more models, or one model more files, than the budget. Restore the "
         "file, or raise MODELGUARD_LIMIT_MODELS / FILES."),
    Rule("MG-L023", _C, _SUS, "Secret in a file about to be written",
         "The lockfile, a record or a report would have held the Hub token or a provider key (echoed by a "
         "server as a file name, for instance). Nothing was written; revoke the secret and check --endpoint."),
    Rule("MG-L024", _H, _SUS, "Write through a symlink refused",
         "The file to write is a symlink that leads outside the project folder (or dangles there), so the write "
         "would land somewhere nobody reviewed. Remove the link, or write to the real path."),
    Rule("MG-L025", _H, _UNS, "Signature envelope over budget",
         "modelguard.lock.sig or model.sig is larger or nested deeper than any signature; it was not parsed and "
         "counts as malformed. Restore it, or re-sign.", error=SignatureError),
    ]),
]
