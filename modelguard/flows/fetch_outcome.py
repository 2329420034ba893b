"""What happened to each ``repo@commit`` of a fetch: the outcome while it happens, how any failure
becomes that outcome (:func:`isolated`), and the report made of them all (:func:`fetch_report`).

One bad model never stops the others (issue 14): a refusal or a missing answer is the model's
verdict (exit 1 or 3), an ``OSError`` from the disk or the OS (a full disk, a name it cannot hold)
is no verdict for it, and any other exception is a bug in modelguard: the model is reported as an
internal error (MG-H142, exit 70 for the run, the traceback on stderr) once the others are done.
Only a usage error (the token, a flag) stops the run, as every model would fail alike.

Must not: swallow a failure without a finding, or show a secret in the traceback it logs.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from modelguard.errors import (
    ExitCode,
    ModelguardError,
    NotFoundError,
    NoVerdictError,
    RejectedError,
    UnreadableError,
    UsageError,
)
from modelguard.models import FetchOutcome, FileResult, Finding, ModelStatus, Report, Severity
from modelguard.report.redact import redact
from modelguard.report.rules import finding
from modelguard.spec import filenames
from modelguard.spec.types import Lockfile
from modelguard.store.cache import Layout
from modelguard.store.integrity import Group

_log = logging.getLogger("modelguard")


@dataclass
class GroupOutcome:
    """What happened to one ``repo@commit`` in this run, while it happens (each model of the group
    then gets a frozen :class:`~modelguard.models.FetchOutcome`)."""

    group: Group
    status: ModelStatus = ModelStatus.REFUSED
    results: dict[str, FileResult] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    exit_code: ExitCode = ExitCode.OK
    reason: str = ""

    def refuse(self, reason: str) -> None:
        self.status, self.exit_code, self.reason = ModelStatus.REFUSED, ExitCode.REJECTED, reason


def default_rule(e: ModelguardError) -> str:
    if e.rule:
        return e.rule
    if isinstance(e, UnreadableError):
        return "MG-H106"
    if isinstance(e, NotFoundError):
        return "MG-H006"
    if isinstance(e, RejectedError):
        return "MG-H001"
    return "MG-H107"


def set_status(out: GroupOutcome, e: ModelguardError) -> None:
    if isinstance(e, NotFoundError):
        # The lock names a commit or file the Hub does not serve (any more): refuse, never guess.
        out.status, out.exit_code = ModelStatus.REFUSED, ExitCode.REJECTED
    elif isinstance(e, RejectedError):
        out.status, out.exit_code = ModelStatus.REFUSED, ExitCode.REJECTED
    elif isinstance(e, NoVerdictError):
        out.status, out.exit_code = ModelStatus.NO_VERDICT, e.exit_code
    else:
        out.status, out.exit_code = ModelStatus.ERROR, e.exit_code
    out.reason = f"{default_rule(e)} {e.message}"


def isolated(out: GroupOutcome, call: Callable[[], object]) -> None:
    """Run one model's fetch; whatever it raises becomes ``out`` (see the module docstring)."""
    group = out.group
    try:
        call()
    except ModelguardError as e:
        if isinstance(e, UsageError) and not isinstance(e, NotFoundError):
            raise  # the user's input (a token that cannot be sent, a flag): every model would fail alike
        set_status(out, e)
        out.findings.append(finding(default_rule(e), e.message))
    except OSError as e:
        error = UnreadableError(f"{group.repo}@{group.commit[:12]}: the disk or the OS refused "
                                f"({e.strerror or type(e).__name__}); nothing was admitted", rule="MG-H106")
        set_status(out, error)
        out.findings.append(finding("MG-H106", error.message))
    except Exception:
        _log.error("modelguard: internal error while fetching %s@%s (a bug; please report it):\n%s",
                   group.repo, group.commit[:12], redact(traceback.format_exc()).rstrip())
        out.status, out.exit_code = ModelStatus.ERROR, ExitCode.INTERNAL
        reason = "internal error (a bug) while fetching this model; the traceback is on stderr"
        out.reason = f"MG-H142 {reason}"
        out.findings.append(finding("MG-H142", f"{group.repo}@{group.commit[:12]}: {reason}"))


def fetch_report(outcomes: Sequence[GroupOutcome], fail_on: Severity, lockfile: Lockfile, layout: Layout) -> Report:
    files: list[FileResult] = []
    loose: list[Finding] = []
    models: list[FetchOutcome] = []
    checked = 0
    for o in outcomes:
        if o.status is ModelStatus.REFUSED and not o.results:
            checked += 1  # refused on the model as a whole (org policy, commit): a verdict was reached
        snapshot = layout.snapshot(o.group.repo, o.group.commit) if o.status.usable else None
        for m in o.group.models:
            own = [r for lf in m.files if (r := o.results.get(lf.path)) is not None]
            checked += len(own)
            mine = [replace(r, findings=tuple(f.at(model=m.name) for f in r.findings)) for r in own]
            files.extend(replace(r, path=f"{m.name}:{r.path}") for r in mine)
            line = lockfile.line_of(m.name)
            anchor = f"{filenames.LOCKFILE}:{line}" if line else ""
            about = [f.at(model=m.name, path=f.path or anchor) for f in o.findings]
            loose.extend(about)
            models.append(FetchOutcome(name=m.name, repo=m.repo, commit=m.commit, status=o.status,
                                       exit_code=o.exit_code, reason=o.reason, files=tuple(mine),
                                       findings=tuple(about), snapshot=snapshot))
    return Report(command="fetch", fail_on=fail_on, files=tuple(files), findings=tuple(loose),
                  checked=checked, models=tuple(models))
