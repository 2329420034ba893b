"""``modelguard verify``: the CI gate. Parses flags, calls :func:`modelguard.flows.verify.verify`, renders."""

from __future__ import annotations

import sys
from typing import Any

import click

from modelguard.cli._common import emit, parse_fail_on, report_options


@click.command()
@click.option("--lockfile", default="modelguard.lock", show_default=True,
              type=click.Path(dir_okay=False, readable=False),
              help="The lockfile to verify.")
@click.option("--manifest", default=None, type=click.Path(dir_okay=False, readable=False),
              help="The manifest (default: modelguard.toml next to the lockfile).")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="Verified cache root (default: $MODELGUARD_HOME, else $XDG_CACHE_HOME/modelguard, "
                   "else ~/.cache/modelguard).")
@click.option("--fast", is_flag=True,
              help="Trust size+mtime+inode recorded at admission instead of re-hashing (said in the report).")
@click.option("--remote", is_flag=True,
              help="Also ask the Hub that each locked commit still publishes the locked hashes.")
@click.option("--require-signature", is_flag=True,
              help="Fail when modelguard.lock.sig is missing or invalid, as require-signature = true does.")
@report_options
@click.pass_context
def verify(ctx: click.Context, lockfile: str, manifest: str | None, cache_dir: str | None, fast: bool,
           remote: bool, require_signature: bool, fmt: str, output: str | None, fail_on: str | None) -> int:
    """Prove, offline, that the verified cache holds exactly what the lock pins and the policy allows."""
    from modelguard.flows.verify import verify as run_verify

    obj = ctx.obj or {}
    report = run_verify(
        lockfile, cache_dir=cache_dir, fast=fast, remote=remote, manifest_path=manifest,
        endpoint=obj.get("endpoint"), token=obj.get("token"),
        fail_on=parse_fail_on(fail_on) if fail_on is not None else None, require_signature=require_signature,
        progress=sys.stderr.isatty() and not obj.get("quiet"),
    )
    anchors = _sarif_anchors(lockfile, manifest) if fmt == "sarif" else None
    return emit(report, fmt, output, verbose=bool(obj.get("verbose")), anchors=anchors)


def _sarif_anchors(lockfile: str, manifest: str | None) -> Any:
    """SARIF results anchored to the lockfile line of each model entry (when the SARIF writer can)."""
    from modelguard.flows.verify import load_inputs
    from modelguard.report import sarif

    anchors_type = getattr(sarif, "SarifAnchors", None)
    if anchors_type is None:
        return None
    locked, parsed = load_inputs(lockfile, manifest)
    return anchors_type.for_lock(locked, lockfile, manifest=parsed)
