"""``modelguard fetch [NAME]...``: parses flags, calls :func:`modelguard.api.fetch` (or, with
``--dry-run``, :func:`modelguard.api.plan_fetch`), renders the report."""

from __future__ import annotations

import click

from modelguard.cli._common import emit, globals_of, progress, report_options
from modelguard.spec import filenames


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--lockfile", default=filenames.LOCKFILE, show_default=True,
              type=click.Path(dir_okay=False, readable=False),
              help="The lockfile whose models to fetch.")
@click.option("--manifest", default=None, type=click.Path(dir_okay=False, readable=False),
              help="The manifest holding the policy (default: modelguard.toml next to the lockfile).")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="Verified cache root (default: $MODELGUARD_HOME, else $XDG_CACHE_HOME/modelguard, "
                   "else ~/.cache/modelguard).")
@click.option("--mirror", "mirror_url", default=None, metavar="oci://HOST/NAMESPACE",
              help="Fetch from this OCI mirror first (default: the manifest's [mirror] url).")
@click.option("--no-hub", is_flag=True, help="Never contact the Hub: every byte comes from the mirror.")
@click.option("--plain-http", is_flag=True, help="Talk HTTP to the mirror (loopback and dev registries).")
@click.option("--dry-run", is_flag=True, help="Say what would be downloaded and how much; download nothing.")
@click.option("--frozen", is_flag=True,
              help="Act on the lockfile alone: never re-lock, no manifest freshness check; the policy is --policy "
                   "FILE, else the manifest's.")
@click.option("--policy", "policy_path", default=None, type=click.Path(dir_okay=False, readable=False),
              help="With --frozen: the policy file this machine enforces (shown in the report).")
@click.option("--max-workers", type=click.IntRange(1, 64), default=None, metavar="N",
              help="Connections at once (default: $MODELGUARD_MAX_WORKERS, else [fetch] max-workers, else 8).")
@report_options
def fetch(names: tuple[str, ...], lockfile: str, manifest: str | None, cache_dir: str | None, mirror_url: str | None,
          no_hub: bool, plain_http: bool, dry_run: bool, frozen: bool, policy_path: str | None,
          max_workers: int | None, fmt: str, output: str | None, fail_on: str | None, sarif_category: str) -> int:
    """Download, verify, scan and admit every locked model (or the NAMEs given); refuse what fails, per file.

    The text report lists the findings, then one line per model (admitted, or refused with the
    file and rule why), the policy and cache used, and a summary line. --dry-run says what would
    be downloaded (text or json) and changes nothing.
    """
    if not (dry_run or no_hub):
        from modelguard.hub.warm import warm_up

        warm_up()  # huggingface_hub and its HTTP client are made while the rest of modelguard is imported
    from modelguard import api

    opts = globals_of()
    if dry_run:
        from modelguard.cli._views import write_view

        plan = api.plan_fetch(lockfile, names, manifest=manifest, cache_dir=cache_dir, frozen=frozen,
                              policy=policy_path, mirror=mirror_url, endpoint=opts.get("endpoint"))
        return write_view("plan", plan, fmt, output)
    report = api.fetch(lockfile, cache_dir=cache_dir, endpoint=opts.get("endpoint"), token=opts.get("token"),
                       manifest=manifest, fail_on=fail_on, progress=progress(), mirror=mirror_url, no_hub=no_hub,
                       plain_http=plain_http, names=names, frozen=frozen, policy=policy_path, max_workers=max_workers)
    # Anchors place findings at lockfile/manifest lines; a text report without findings places
    # nothing, so a clean fetch does not read both files again after its last byte.
    anchors = (api.sarif_anchors(lockfile, manifest=manifest, frozen=frozen, policy=policy_path)
               if fmt != "text" or report.all_findings() else None)
    return emit(report, fmt, output, anchors=anchors, category=sarif_category)
