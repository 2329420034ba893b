"""``modelguard fetch``: parses flags, calls :func:`modelguard.api.fetch` (or, with ``--dry-run``,
:func:`modelguard.api.plan_fetch`), renders the report."""

from __future__ import annotations

import sys

import click

from modelguard.cli._common import emit
from modelguard.models import parse_fail_on
from modelguard.spec import filenames


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--lockfile", default=filenames.LOCKFILE, show_default=True, type=click.Path(dir_okay=False),
              help="The lockfile whose models to fetch.")
@click.option("--manifest", default=None, type=click.Path(dir_okay=False),
              help="The manifest holding the policy (default: modelguard.toml next to the lockfile).")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="Verified cache root (default: $MODELGUARD_HOME, else $XDG_CACHE_HOME/modelguard, "
                   "else ~/.cache/modelguard).")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the report to FILE.")
@click.option("--fail-on", "fail_on", default=None, metavar="SEVERITY",
              help="Lowest severity that refuses a file (default: the policy's fail-on).")
@click.option("--mirror", "mirror_url", default=None, metavar="oci://HOST[:PORT]/NAMESPACE",
              help="Fetch from this OCI mirror first (default: the manifest's [mirror] url).")
@click.option("--no-hub", is_flag=True, help="Never contact the Hub: every byte comes from the mirror.")
@click.option("--plain-http", is_flag=True, help="Talk HTTP to the mirror (loopback and dev registries).")
@click.option("--dry-run", is_flag=True, help="Say what would be downloaded and how much; download nothing.")
@click.option("--frozen", is_flag=True,
              help="Act on the lockfile alone: never re-lock, no manifest freshness check; the policy is --policy "
                   "FILE, else the manifest's.")
@click.option("--policy", "policy_path", default=None, type=click.Path(dir_okay=False),
              help="With --frozen: the policy file this machine enforces (shown in the report).")
@click.option("--max-workers", type=click.IntRange(1, 64), default=None, metavar="N",
              help="Connections at once (default: $MODELGUARD_MAX_WORKERS, else [fetch] max-workers, else 8).")
@click.pass_context
def fetch(ctx: click.Context, names: tuple[str, ...], lockfile: str, manifest: str | None, cache_dir: str | None,
          fmt: str, output: str | None, fail_on: str | None, mirror_url: str | None, no_hub: bool, plain_http: bool,
          dry_run: bool, frozen: bool, policy_path: str | None, max_workers: int | None) -> int:
    """Download, verify, scan and admit every locked model (or the NAMEs given); refuse what fails, per file."""
    from modelguard import api
    from modelguard.report.text import model_lines

    obj = ctx.obj or {}
    if dry_run:
        from modelguard.cli._views import render_plan

        plan = api.plan_fetch(lockfile, names, manifest=manifest, cache_dir=cache_dir, frozen=frozen,
                              policy=policy_path, mirror=mirror_url, endpoint=obj.get("endpoint"))
        text = render_plan(plan, fmt)
        if output:
            from modelguard.store.atomic import replace_file

            replace_file(output, text)
        else:
            sys.stdout.write(text)
        return 0
    report = api.fetch(lockfile, cache_dir=cache_dir, endpoint=obj.get("endpoint"), token=obj.get("token"),
                       manifest=manifest, fail_on=parse_fail_on(fail_on),
                       progress=sys.stderr.isatty() and not obj.get("quiet"), mirror=mirror_url, no_hub=no_hub,
                       plain_http=plain_http, names=names, frozen=frozen, policy=policy_path, max_workers=max_workers)
    code = emit(report, fmt, output, verbose=bool(obj.get("verbose")))
    if fmt == "text" and not obj.get("quiet"):
        for line in model_lines(report.models):
            click.echo(line, err=bool(output))
    return code
