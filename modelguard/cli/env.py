"""``modelguard env [--cache-dir D] [--shell sh|fish|powershell]``: exports for offline HF loaders.

Prints what :func:`modelguard.flows.load.offline_env` says, in the syntax of one shell, for
``eval "$(modelguard env)"``. Values are quoted for that shell; nothing else is printed to stdout.
When the cache cannot be handed over (anything un-admitted in it, a snapshot that fails its
recheck, or any other error), prints :func:`~modelguard.flows.load.closed_env` instead and exits
with the error's code: an ``eval`` that ignores the status still leaves loaders offline with
nothing to load.
"""

from __future__ import annotations

import shlex

import click

SHELLS = ("sh", "bash", "zsh", "fish", "powershell")
"""bash and zsh take the POSIX sh syntax."""


def render_env(env: dict[str, str | None], shell: str) -> str:
    """Shell lines setting (or, for None, unsetting) each variable."""
    lines = []
    for name, value in env.items():
        if shell == "fish":
            lines.append(f"set -e {name}" if value is None else f"set -gx {name} {_fish_quote(value)}")
        elif shell == "powershell":
            lines.append(f"Remove-Item Env:{name} -ErrorAction SilentlyContinue" if value is None
                         else f"$env:{name} = '{value.replace(chr(39), chr(39) * 2)}'")
        else:
            lines.append(f"unset {name}" if value is None else f"export {name}={shlex.quote(value)}")
    return "\n".join(lines) + "\n"


def _fish_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@click.command()
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="Verified cache root (default: $MODELGUARD_HOME, else $XDG_CACHE_HOME/modelguard, "
                   "else ~/.cache/modelguard).")
@click.option("--manifest", default=None, type=click.Path(dir_okay=False, readable=False),
              help="Judge the admitted files by this manifest's policy (default: the scanner and the default "
                   "file policy).")
@click.option("--shell", "shell", type=click.Choice(SHELLS), default="sh", show_default=True)
def env(cache_dir: str | None, manifest: str | None, shell: str) -> int:
    """Print exports that make transformers, diffusers and sentence-transformers load only admitted models.

    Use: eval "$(modelguard env)". Checks the whole cache first: when anything in it was not admitted
    or an admitted snapshot fails its check, exits 1 and prints exports that keep loaders offline and
    loading nothing. Sets HF_HUB_CACHE to the verified cache and HF_HUB_OFFLINE=1, and unsets legacy
    cache variables that would point a loader elsewhere.
    """
    from modelguard import api
    from modelguard.errors import ModelguardError

    try:
        exports = api.offline_env(cache_dir, manifest=manifest)
    except ModelguardError as e:
        # Fail closed even for `eval "$(modelguard env)"` that ignores the status: offline, nothing to load.
        click.echo(render_env(api.closed_env(cache_dir), shell), nl=False)
        raise e from None
    click.echo(render_env(exports, shell), nl=False)
    return 0
