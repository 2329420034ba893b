"""``modelguard path NAME``: print the admitted snapshot folder of one lock entry, for servers that are
not Python (``vllm serve "$(modelguard path chat)"``, llama.cpp, TGI).

One call, :func:`modelguard.api.snapshot`: the folder is printed only when ``snapshot()`` would hand
it to a Python loader; otherwise nothing goes to stdout, the reason goes to stderr as one line and
the exit code is the reason's (so ``$(modelguard path NAME)`` never expands to a doubtful path).
"""

from __future__ import annotations

import click

from modelguard.spec import filenames


@click.command()
@click.argument("name")
@click.option("--lockfile", default=filenames.LOCKFILE, show_default=True,
              type=click.Path(dir_okay=False, readable=False),
              help="The lockfile that pins NAME.")
@click.option("--manifest", default=None, type=click.Path(dir_okay=False, readable=False),
              help="The manifest holding the policy (default: modelguard.toml next to the lockfile, if any).")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="Verified cache root (default: $MODELGUARD_HOME, else $XDG_CACHE_HOME/modelguard, "
                   "else ~/.cache/modelguard).")
@click.option("--verify", "full", is_flag=True, help="Re-hash every file first (default: size, mtime and inode).")
def path(name: str, lockfile: str, manifest: str | None, cache_dir: str | None, full: bool) -> int:
    """Print the admitted snapshot folder of NAME (a lock entry's name, or a repo locked once)."""
    from modelguard import api

    folder = api.snapshot(name, lockfile=lockfile, manifest=manifest, cache_dir=cache_dir, verify=full)
    click.echo(str(folder))
    return 0
