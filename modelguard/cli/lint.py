"""``modelguard lint PATH...``: floating, deprecated, retired or unlocked provider model IDs in code."""

from __future__ import annotations

import click

from modelguard.cli._common import emit, report_options
from modelguard.models import Severity, parse_fail_on


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--lockfile", type=click.Path(dir_okay=False, readable=False), default=None,
              help="Lockfile whose provider models the code must use (default: ./modelguard.lock if present).")
@report_options
def lint(paths: tuple[str, ...], lockfile: str | None, fmt: str, output: str | None, fail_on: str | None,
         sarif_category: str) -> int:
    """Find provider model IDs in Python, JS/TS, YAML, JSON, TOML and .env files; no network."""
    from modelguard.providers.lint import lint_paths

    report = lint_paths(list(paths), lockfile=lockfile, fail_on=parse_fail_on(fail_on) or Severity.MEDIUM)
    return emit(report, fmt, output, category=sarif_category)
