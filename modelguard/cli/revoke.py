"""``modelguard revoke TARGET --reason TEXT``: add a revocation to the policy and evict it from the cache."""

from __future__ import annotations

import click

from modelguard.spec import filenames


@click.command()
@click.argument("target")
@click.option("--reason", required=True, help="Why (shown by every fetch and verify that refuses the model).")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, readable=False), default=None,
              help="Policy file to add the revocation to (default: the manifest's policy-file, else its [policy]).")
@click.option("--manifest", default=filenames.MANIFEST, show_default=True,
              type=click.Path(dir_okay=False, readable=False),
              help="The manifest whose policy to edit when --policy is not given.")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="Verified cache root to evict from (default: $MODELGUARD_HOME, else $XDG_CACHE_HOME/modelguard, "
                   "else ~/.cache/modelguard).")
def revoke(target: str, reason: str, policy_path: str | None, manifest: str, cache_dir: str | None) -> int:
    """Revoke REPO@COMMIT or sha256:HASH: fetch, verify and snapshot() refuse it from now on."""
    from modelguard import api

    done = api.revoke(target, reason, manifest=manifest, policy=policy_path, cache_dir=cache_dir)
    entry = done.entry
    click.echo(f"revoked {entry.target} in {done.policy_file} ({entry.date}: {entry.reason})")
    for hit in done.evicted:
        click.echo(f"evicted {hit.repo}@{hit.commit} from {done.cache_root}")
    if not done.evicted:
        click.echo(f"nothing to evict from {done.cache_root}")
    click.echo("commit the policy change so every machine that verifies against it refuses the model")
    return 0
