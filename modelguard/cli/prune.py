"""``modelguard prune [--dry-run]``: remove what the verified cache holds that was not admitted."""

from __future__ import annotations

import click


@click.command()
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="Verified cache root (default: $MODELGUARD_HOME, else $XDG_CACHE_HOME/modelguard, "
                   "else ~/.cache/modelguard).")
@click.option("--dry-run", is_flag=True, help="List what would be removed; change nothing.")
def prune(cache_dir: str | None, dry_run: bool) -> int:
    """Remove repos, snapshots, refs, blobs and files in the cache that no admitted snapshot accounts for."""
    from modelguard import api

    done = api.prune(cache_dir, dry_run=dry_run)
    verb = "would remove" if done.dry_run else "removed"
    for stray in done.removed:
        click.echo(f"{verb} {stray.kind:<8} {stray.path}  ({stray.why})")
    if not done.removed:
        click.echo(f"nothing to prune in {done.cache_root}: everything there was admitted")
    else:
        click.echo(f"{verb} {len(done.removed)} item(s) from {done.cache_root}")
    return 0
