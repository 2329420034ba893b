"""``modelguard demo [--keep DIR]``: the offline tour. Calls :func:`modelguard.demo.run_demo`."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Keep the manifest, lockfile and verified cache in DIR (new or empty) instead of a temp folder.")
def demo(keep: Path | None) -> int:
    """Run lock -> fetch -> verify against a bundled loopback Hub with five generated models.

    One model is clean; the others are refused on purpose (code in a pickle, bytes tampered in
    transit, custom code, an org not on the allowlist). Exit 0 when every model got its designed
    verdict; non-zero when an expected refusal did not happen (a bug). No network needed.
    """
    from modelguard.demo.runner import run_demo

    return run_demo(click.echo, keep=keep)
