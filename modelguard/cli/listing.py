"""``modelguard list``: what the verified cache holds, admitted or not, with sizes
(:func:`modelguard.api.cache_contents`). An inventory, not a verdict: exit 0 when the cache was read."""

from __future__ import annotations

import click

from modelguard.cli._common import format_option, output_option
from modelguard.cli._views import VIEW_FORMATS


@click.command(name="list")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="Verified cache root (default: $MODELGUARD_HOME, else $XDG_CACHE_HOME/modelguard, "
                   "else ~/.cache/modelguard).")
@format_option(VIEW_FORMATS)
@output_option
def listing(cache_dir: str | None, fmt: str, output: str | None) -> int:
    """Show the snapshots, loose blobs and resumable partial downloads in the verified cache."""
    from modelguard import api
    from modelguard.cli._views import write_view

    return write_view("listing", api.cache_contents(cache_dir), fmt, output)
