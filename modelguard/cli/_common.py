"""Shared CLI plumbing: the report options, the global options a command reads, and writing a report."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from modelguard.models import Report
from modelguard.report.text import FORMATS, render

if TYPE_CHECKING:
    from modelguard.report.anchors import Anchors

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["FORMATS", "emit", "globals_of", "output_option", "progress", "report_options"]

STDOUT = "-"
"""``-o -``: write to standard output, as most tools read it."""


def output_option(func: F) -> F:
    """``-o/--output FILE`` (``-`` is standard output)."""
    return click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True), metavar="FILE",
                        help="Write the report to FILE, atomically ('-': standard output, the default).")(func)


def format_option(formats: tuple[str, ...] = FORMATS) -> Callable[[F], F]:
    """``-f/--format``."""
    return click.option("--format", "-f", "fmt", type=click.Choice(formats), default="text", show_default=True,
                        help="Report format.")


def report_options(func: F) -> F:
    """-f/--format, -o/--output and --fail-on, shared by the commands that write a report."""
    func = click.option(
        "--fail-on",
        "fail_on",
        default=None,
        metavar="SEVERITY",
        help="Lowest severity that fails: info|low|medium|high|critical (default: the policy's fail-on, "
        "else medium).",
    )(func)
    func = click.option("--sarif-category", "sarif_category", default="", metavar="NAME",
                        help="SARIF run category (automationDetails.id; default: modelguard/<command>). "
                        "upload-sarif keeps it, so two runs of one command in a workflow need two names.")(func)
    func = output_option(func)
    return format_option()(func)


def globals_of(ctx: click.Context | None = None) -> dict[str, Any]:
    """The global options (``--endpoint``, ``--token``, ``-q``, ``-v``, ``--no-progress``) as given anywhere."""
    ctx = ctx or click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, dict) else {}


def progress(ctx: click.Context | None = None) -> bool:
    """Whether this run shows progress bars (see :func:`modelguard.cli.progress_enabled`)."""
    from modelguard.cli import progress_enabled

    return progress_enabled(globals_of(ctx))


def emit(report: Report, fmt: str, output: str | None, *, anchors: Anchors | None = None,
         category: str = "") -> int:
    """Render the report to --output (atomically) or stdout; return its exit code.

    The global ``-q`` trims the text report to what fails and the summary and ``-v`` lists every
    file; JSON and SARIF always carry everything. With a report written to a file, the summary
    line still goes to standard error, so a CI log says what happened.
    """
    from modelguard.report.redact import redact

    opts = globals_of()
    # Paths and messages quote lockfiles and servers; a secret one of them holds is not printed.
    text = redact(render(report, fmt, verbose=bool(opts.get("verbose")), quiet=bool(opts.get("quiet")),
                         anchors=anchors, category=category))
    if output and output != STDOUT:
        from modelguard.store.atomic import replace_file

        replace_file(output, text)
        if fmt != "text":
            sys.stderr.write(render(report, "text").splitlines()[-1] + "\n")
    else:
        sys.stdout.write(text)
    return int(report.exit_code)
