"""``modelguard revoke TARGET --reason TEXT``: add a revocation to the policy and evict it from the cache."""

from __future__ import annotations

import click


@click.command()
@click.argument("target")
@click.option("--reason", required=True, help="Why (shown by every fetch and verify that refuses the model).")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, readable=False), default=None,
              help="Policy file to add the revocation to (default: the manifest's policy-file, else its [policy]).")
@click.option("--manifest", default="modelguard.toml", show_default=True,
              type=click.Path(dir_okay=False, readable=False),
              help="The manifest whose policy to edit when --policy is not given.")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="Verified cache root to evict from (default: $MODELGUARD_HOME, else $XDG_CACHE_HOME/modelguard, "
                   "else ~/.cache/modelguard).")
def revoke(target: str, reason: str, policy_path: str | None, manifest: str, cache_dir: str | None) -> int:
    """Revoke REPO@COMMIT or sha256:HASH: fetch, verify and snapshot() refuse it from now on."""
    from modelguard.store import audit
    from modelguard.trust import revocation

    parsed = revocation.parse_target(target)
    root = audit.cache_root(cache_dir)
    audit.ensure_writable(root)  # fail closed before changing anything: every revocation is on record
    file = revocation.policy_file_to_edit(manifest, policy_path)
    entry = revocation.add_revocation(file, parsed, reason)
    audit.append(root, {"command": "revoke", "action": "revoke", "target": entry.target,
                        "reason": entry.reason, "date": entry.date, "policy-file": str(file),
                        "repo": parsed.repo, "commit": parsed.commit})
    evicted = revocation.evict_revoked(root, parsed)
    for hit in evicted:
        audit.append(root, {"command": "revoke", "action": "evict", "target": entry.target,
                            "repo": hit.repo, "commit": hit.commit, "reason": entry.reason})
    click.echo(f"revoked {entry.target} in {file} ({entry.date}: {entry.reason})")
    if evicted:
        for hit in evicted:
            click.echo(f"evicted {hit.repo}@{hit.commit} from {root}")
    else:
        click.echo(f"nothing to evict from {root}")
    click.echo("commit the policy change so every machine that verifies against it refuses the model")
    return 0
