"""Shared CLI plumbing: report output and the report -> exit code rule."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from modelguard.errors import ExitCode, UsageError
from modelguard.models import Report, Severity

if TYPE_CHECKING:
    from modelguard.report.sarif import SarifAnchors

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("text", "json", "sarif")


def report_options(func: F) -> F:
    """--format, --output and --fail-on, shared by scan, verify and lint."""
    func = click.option(
        "--fail-on",
        "fail_on",
        default=None,
        metavar="SEVERITY",
        help="Lowest severity that fails: info|low|medium|high|critical (default: medium; for verify, "
        "the policy's fail-on).",
    )(func)
    func = click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the report to FILE.")(func)
    func = click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)(func)
    return func


def parse_fail_on(value: str | None, default: Severity = Severity.MEDIUM) -> Severity:
    if value is None:
        return default
    try:
        return Severity.parse(value)
    except ValueError as e:
        raise UsageError(f"--fail-on: {e}") from None


def write_atomic(path: str, text: str) -> None:
    """Write a report to ``path`` atomically (see :mod:`modelguard.store.atomic`)."""
    from modelguard.store.atomic import replace_file

    replace_file(path, text)


def render(report: Report, fmt: str, *, verbose: bool = False, quiet: bool = False,
           anchors: SarifAnchors | None = None, verdict: str | None = None) -> str:
    if fmt == "json":
        from modelguard.report.text import to_json

        return to_json(report)
    if fmt == "sarif":
        from modelguard.report.sarif import to_sarif

        return to_sarif(report, anchors=anchors)
    from modelguard.report.text import to_text

    return to_text(report, verbose=verbose, quiet=quiet, verdict=verdict)


def emit(
    report: Report, fmt: str, output: str | None, *, verbose: bool = False, anchors: SarifAnchors | None = None,
    verdict: str | None = None,
) -> int:
    """Render the report to --output (atomically) or stdout; return the exit code.

    The global ``-q`` (read from the click context, so every command gets it) trims the text
    report to what fails and the summary; JSON and SARIF always carry everything.
    """
    ctx = click.get_current_context(silent=True)
    quiet = bool(ctx and isinstance(ctx.obj, dict) and ctx.obj.get("quiet"))
    from modelguard.report.redact import redact

    # Paths and messages quote lockfiles and servers; a token one of them holds is not printed.
    text = redact(render(report, fmt, verbose=verbose, quiet=quiet, anchors=anchors, verdict=verdict))
    if output:
        write_atomic(output, text)
        if fmt != "text":
            from modelguard.report.text import to_text

            sys.stderr.write(to_text(report, verdict=verdict).splitlines()[-1] + "\n")
    else:
        sys.stdout.write(text)
    return int(exit_code(report))


def exit_code(report: Report) -> ExitCode:
    if report.checked == 0:
        return ExitCode.NO_VERDICT
    if report.failing():
        return ExitCode.REJECTED
    return ExitCode.OK
