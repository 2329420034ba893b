"""``modelguard fetch``: parses flags, calls :func:`modelguard.flows.fetch.fetch`, renders the report."""

from __future__ import annotations

import sys

import click

from modelguard.cli._common import emit, parse_fail_on


@click.command()
@click.option("--lockfile", default="modelguard.lock", show_default=True,
              type=click.Path(dir_okay=False, readable=False),
              help="The lockfile whose models to fetch.")
@click.option("--manifest", default=None, type=click.Path(dir_okay=False, readable=False),
              help="The manifest holding the policy (default: modelguard.toml next to the lockfile).")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="Verified cache root (default: $MODELGUARD_HOME, else $XDG_CACHE_HOME/modelguard, "
                   "else ~/.cache/modelguard).")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, readable=False), help="Write the report to FILE.")
@click.option("--fail-on", "fail_on", default=None, metavar="SEVERITY",
              help="Lowest severity that refuses a file (default: the policy's fail-on).")
@click.pass_context
def fetch(ctx: click.Context, lockfile: str, manifest: str | None, cache_dir: str | None, fmt: str,
          output: str | None, fail_on: str | None) -> int:
    """Download, verify, scan and admit every locked model; refuse what fails, per file."""
    from modelguard.flows.fetch import fetch as run_fetch
    from modelguard.flows.fetch import fetch_exit_code

    obj = ctx.obj or {}
    report = run_fetch(
        lockfile, cache_dir=cache_dir, endpoint=obj.get("endpoint"), token=obj.get("token"),
        manifest_path=manifest, fail_on=parse_fail_on(fail_on) if fail_on is not None else None,
        progress=sys.stderr.isatty() and not obj.get("quiet"),
    )
    code = fetch_exit_code(report)
    # A model that got no verdict (Hub down, gated) must not read as "FAILED" (refused on its merits).
    emit(report, fmt, output, verbose=bool(obj.get("verbose")), verdict="NO VERDICT" if code == 3 else None)
    if fmt == "text" and not obj.get("quiet"):
        for line in model_lines(report.extra.get("models")):
            click.echo(line, err=bool(output))
    return code


def model_lines(models: object) -> list[str]:
    """One line per model: what happened to it and why."""
    lines = []
    for m in models if isinstance(models, list) else []:
        why = f"  ({m['reason']})" if m.get("reason") else ""
        lines.append(f"{m['status'].upper():<17} {m['name']}  {m['repo']}@{str(m['commit'])[:12]}{why}")
    return lines
