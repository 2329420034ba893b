"""``modelguard list``: what the verified cache holds, admitted or not, with sizes
(:func:`modelguard.api.cache_contents`). An inventory, not a verdict: exit 0 when the cache was read."""

from __future__ import annotations

import sys

import click


@click.command(name="list")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="Verified cache root (default: $MODELGUARD_HOME, else $XDG_CACHE_HOME/modelguard, "
                   "else ~/.cache/modelguard).")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def listing(cache_dir: str | None, fmt: str) -> int:
    """Show the snapshots, loose blobs and resumable partial downloads in the verified cache."""
    from modelguard import api
    from modelguard.cli._views import render_listing

    sys.stdout.write(render_listing(api.cache_contents(cache_dir), fmt))
    return 0
