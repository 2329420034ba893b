"""``modelguard verify``: the CI gate. Parses flags, calls :func:`modelguard.api.verify`, renders."""

from __future__ import annotations

import click

from modelguard.cli._common import emit, globals_of, progress, report_options
from modelguard.spec import filenames


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--lockfile", default=filenames.LOCKFILE, show_default=True,
              type=click.Path(dir_okay=False, readable=False),
              help="The lockfile to verify.")
@click.option("--manifest", default=None, type=click.Path(dir_okay=False, readable=False),
              help="The manifest (default: modelguard.toml next to the lockfile).")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="Verified cache root (default: $MODELGUARD_HOME, else $XDG_CACHE_HOME/modelguard, "
                   "else ~/.cache/modelguard).")
@click.option("--fast", is_flag=True,
              help="Re-hash only files whose size, mtime, ctime, device or inode changed since their bytes were "
                   "last hashed (the report lists what was re-hashed).")
@click.option("--remote", is_flag=True,
              help="Also ask the Hub that each locked commit still publishes the locked hashes.")
@click.option("--require-signature", is_flag=True,
              help="Fail when modelguard.lock.sig is missing or invalid, as require-signature = true does.")
@click.option("--frozen", is_flag=True,
              help="Act on the lockfile alone: no manifest freshness check; the policy is --policy FILE, else the "
                   "manifest's.")
@click.option("--policy", "policy_path", default=None, type=click.Path(dir_okay=False, readable=False),
              help="With --frozen: the policy file this machine enforces (shown in the report).")
@report_options
def verify(names: tuple[str, ...], lockfile: str, manifest: str | None, cache_dir: str | None, fast: bool,
           remote: bool, require_signature: bool, frozen: bool, policy_path: str | None, fmt: str, output: str | None,
           fail_on: str | None, sarif_category: str) -> int:
    """Prove, offline, that the verified cache holds exactly what the lock pins (all of it, or the NAMEs
    given) and the policy allows.

    Prints the findings and a summary naming the policy and the cache checked (-v: every file and model).
    """
    from modelguard import api

    opts = globals_of()
    report = api.verify(lockfile, cache_dir=cache_dir, fast=fast, remote=remote, manifest=manifest,
                        endpoint=opts.get("endpoint"), token=opts.get("token"), fail_on=fail_on,
                        require_signature=require_signature, progress=progress(), names=names, frozen=frozen,
                        policy=policy_path)
    anchors = api.sarif_anchors(lockfile, manifest=manifest, frozen=frozen, policy=policy_path)
    return emit(report, fmt, output, anchors=anchors, category=sarif_category)
