"""``modelguard scan PATH...``"""

from __future__ import annotations

import click

from modelguard.cli._common import emit, report_options
from modelguard.models import Severity, parse_fail_on


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@report_options
@click.pass_context
def scan(ctx: click.Context, paths: tuple[str, ...], fmt: str, output: str | None, fail_on: str | None) -> int:
    """Scan model files or folders (recursively). Format is decided by content, never by name."""
    from modelguard.scan import scan_paths

    report = scan_paths(list(paths), fail_on=parse_fail_on(fail_on) or Severity.MEDIUM)
    return emit(report, fmt, output, verbose=bool(ctx.obj and ctx.obj.get("verbose")))
