"""``modelguard fetch``: parses flags, calls :func:`modelguard.api.fetch`, renders the report."""

from __future__ import annotations

import click

from modelguard.cli._common import emit, globals_of, progress, report_options
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
@click.option("--mirror", "mirror_url", default=None, metavar="oci://HOST[:PORT]/NAMESPACE",
              help="Fetch from this OCI mirror first (default: the manifest's [mirror] url).")
@click.option("--no-hub", is_flag=True, help="Never contact the Hub: every byte comes from the mirror.")
@click.option("--plain-http", is_flag=True, help="Talk HTTP to the mirror (loopback and dev registries).")
@report_options
def fetch(lockfile: str, manifest: str | None, cache_dir: str | None, mirror_url: str | None, no_hub: bool,
          plain_http: bool, fmt: str, output: str | None, fail_on: str | None, sarif_category: str) -> int:
    """Download, verify, scan and admit every locked model; refuse what fails, per file.

    The text report lists the findings, then one line per model (admitted, or refused with the
    file and rule why), the policy and cache used, and a summary line.
    """
    from modelguard import api

    opts = globals_of()
    report = api.fetch(lockfile, cache_dir=cache_dir, endpoint=opts.get("endpoint"), token=opts.get("token"),
                       manifest=manifest, fail_on=fail_on, progress=progress(), mirror=mirror_url, no_hub=no_hub,
                       plain_http=plain_http)
    return emit(report, fmt, output, anchors=api.sarif_anchors(lockfile, manifest=manifest), category=sarif_category)
