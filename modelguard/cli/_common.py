"""Shared CLI plumbing: the report options, reading ``--fail-on``, and writing a rendered report."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from modelguard.models import Report
from modelguard.report.text import FORMATS, render

if TYPE_CHECKING:
    from modelguard.report.sarif import SarifAnchors

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["FORMATS", "emit", "report_options"]


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


def emit(report: Report, fmt: str, output: str | None, *, verbose: bool = False,
         anchors: SarifAnchors | None = None) -> int:
    """Render the report to --output (atomically) or stdout; return its exit code.

    The global ``-q`` (read from the click context, so every command gets it) trims the text
    report to what fails and the summary; JSON and SARIF always carry everything.
    """
    ctx = click.get_current_context(silent=True)
    quiet = bool(ctx and isinstance(ctx.obj, dict) and ctx.obj.get("quiet"))
    from modelguard.report.redact import redact

    # Paths and messages quote lockfiles and servers; a token one of them holds is not printed.
    text = redact(render(report, fmt, verbose=verbose, quiet=quiet, anchors=anchors))
    if output:
        from modelguard.store.atomic import replace_file

        replace_file(output, text)
        if fmt != "text":
            sys.stderr.write(render(report, "text").splitlines()[-1] + "\n")
    else:
        sys.stdout.write(text)
    return int(report.exit_code)
