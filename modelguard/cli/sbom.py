"""``modelguard sbom [-o FILE]``: the lockfile as a CycloneDX 1.6 ML-BOM (calls :func:`modelguard.api.sbom`)."""

from __future__ import annotations

import sys

import click

from modelguard.cli._common import STDOUT, globals_of, output_option
from modelguard.spec import filenames


@click.command()
@click.option("--lockfile", default=filenames.LOCKFILE, show_default=True,
              type=click.Path(dir_okay=False, readable=False),
              help="The lockfile to describe.")
@click.option("--manifest", default=None, type=click.Path(dir_okay=False, readable=False),
              help="The manifest holding the policy (default: modelguard.toml next to the lockfile, if any).")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="Verified cache whose verdicts and model cards go in the BOM (default: $MODELGUARD_HOME, "
                   "else $XDG_CACHE_HOME/modelguard, else ~/.cache/modelguard).")
@click.option("--no-verify", "no_verify", is_flag=True,
              help="Describe the lockfile only: no verdicts, no model cards (nothing is read from the cache).")
@click.option("--fast", is_flag=True, help="Verify with size+mtime+inode instead of re-hashing (said in the BOM).")
@output_option
def sbom(lockfile: str, manifest: str | None, cache_dir: str | None, no_verify: bool, fast: bool,
         output: str | None) -> int:
    """Write a CycloneDX 1.6 ML-BOM of the lockfile: one machine-learning-model component per locked
    model (files with SHA-256, Hub URL, licence and base model from the verified model card), provider
    models, this run's verdicts and the policy as properties."""
    from modelguard import api

    text = api.sbom(lockfile, manifest=manifest, cache_dir=cache_dir, verify=not no_verify, fast=fast,
                    endpoint=globals_of().get("endpoint"))
    if output and output != STDOUT:
        from modelguard.store.atomic import replace_file

        replace_file(output, text)
        if not globals_of().get("quiet"):
            click.echo(f"wrote {output} (CycloneDX 1.6)", err=True)
    else:
        sys.stdout.write(text)
    return 0
