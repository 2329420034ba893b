"""``modelguard fetch``: parses flags, calls :func:`modelguard.api.fetch`, renders the report."""

from __future__ import annotations

import sys

import click

from modelguard.cli._common import emit
from modelguard.models import parse_fail_on
from modelguard.spec import filenames


@click.command()
@click.option("--lockfile", default=filenames.LOCKFILE, show_default=True,
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
@click.option("--mirror", "mirror_url", default=None, metavar="oci://HOST[:PORT]/NAMESPACE",
              help="Fetch from this OCI mirror first (default: the manifest's [mirror] url).")
@click.option("--no-hub", is_flag=True, help="Never contact the Hub: every byte comes from the mirror.")
@click.option("--plain-http", is_flag=True, help="Talk HTTP to the mirror (loopback and dev registries).")
@click.pass_context
def fetch(ctx: click.Context, lockfile: str, manifest: str | None, cache_dir: str | None, fmt: str,
          output: str | None, fail_on: str | None, mirror_url: str | None, no_hub: bool, plain_http: bool) -> int:
    """Download, verify, scan and admit every locked model; refuse what fails, per file."""
    from modelguard import api
    from modelguard.report.text import model_lines

    obj = ctx.obj or {}
    report = api.fetch(lockfile, cache_dir=cache_dir, endpoint=obj.get("endpoint"), token=obj.get("token"),
                       manifest=manifest, fail_on=parse_fail_on(fail_on),
                       progress=sys.stderr.isatty() and not obj.get("quiet"), mirror=mirror_url, no_hub=no_hub,
                       plain_http=plain_http)
    code = emit(report, fmt, output, verbose=bool(obj.get("verbose")))
    if fmt == "text" and not obj.get("quiet"):
        for line in model_lines(report.models):
            click.echo(line, err=bool(output))
    return code
