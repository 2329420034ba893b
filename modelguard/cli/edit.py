"""``modelguard init``, ``add`` and ``remove``: start and edit modelguard.toml, then lock, like ``uv add``."""

from __future__ import annotations

import click

from modelguard.cli._common import globals_of
from modelguard.spec import filenames

_MANIFEST = click.option("--manifest", default=filenames.MANIFEST, show_default=True, metavar="FILE",
                         type=click.Path(dir_okay=False, readable=False), help="The manifest to edit.")
_LOCKFILE = click.option("--lockfile", default=None, metavar="FILE",
                         type=click.Path(dir_okay=False, readable=False),
                         help="The lockfile (default: modelguard.lock next to the manifest).")
_NO_LOCK = click.option("--no-lock", "no_lock", is_flag=True,
                        help="Only edit the manifest; `modelguard lock` later (lock --check fails until then).")


@click.command()
@_MANIFEST
def init(manifest: str) -> int:
    """Write a commented modelguard.toml with a starting policy; never overwrites an existing file."""
    from modelguard import api

    path = api.init(manifest)
    if not globals_of().get("quiet"):
        click.echo(f"wrote {path}: review allowed-orgs, then `modelguard add ORG/NAME` to add a model")
    return 0


@click.command()
@click.argument("target", metavar="ORG/NAME[@REVISION] | MODEL-ID")
@click.option("--provider", default=None, metavar="NAME",
              help="TARGET is this provider's model ID (openai, anthropic, gemini, mistral, ...), not a Hub repo.")
@click.option("--name", default=None, metavar="NAME",
              help="The entry's name (default: the repo's or model's last part).")
@click.option("--include", multiple=True, metavar="GLOB", help="Lock only repo files matching GLOB (repeatable).")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Leave out repo files matching GLOB (repeatable).")
@click.option("--online", is_flag=True, help="Also ask provider APIs to resolve provider model aliases.")
@_NO_LOCK
@_MANIFEST
@_LOCKFILE
def add(target: str, provider: str | None, name: str | None, include: tuple[str, ...], exclude: tuple[str, ...],
        online: bool, no_lock: bool, manifest: str, lockfile: str | None) -> int:
    """Add a model to modelguard.toml (keeping its comments and layout) and lock it.

    A lock that fails (an org the policy refuses, a repo that does not exist) leaves the manifest as it was.
    """
    from modelguard import api

    opts = globals_of()
    done = api.add(target, manifest=manifest, lockfile=lockfile, name=name, provider=provider, include=include,
                   exclude=exclude, lock=not no_lock, online=online, endpoint=opts.get("endpoint"),
                   token=opts.get("token"))
    if not opts.get("quiet"):
        click.echo(f"added [[{done.kind}]] {done.name!r} to {done.manifest}")
        _say_locked(done.lock, done.name)
    return 0


@click.command()
@click.argument("name")
@_NO_LOCK
@_MANIFEST
@_LOCKFILE
def remove(name: str, no_lock: bool, manifest: str, lockfile: str | None) -> int:
    """Remove the entry NAME from modelguard.toml and from the lock (offline)."""
    from modelguard import api

    done = api.remove(name, manifest=manifest, lockfile=lockfile, lock=not no_lock)
    if not globals_of().get("quiet"):
        click.echo(f"removed [[{done.kind}]] {done.name!r} from {done.manifest}")
        _say_locked(done.lock, done.name)
    return 0


def _say_locked(result: object, name: str) -> None:
    from modelguard.flows.lock import LockResult

    if not isinstance(result, LockResult):
        click.echo("not locked (--no-lock): run `modelguard lock`")
        return
    for model in result.lockfile.hf_models:
        if model.name == name:
            click.echo(f"  {model.name}: {model.repo}@{model.requested_revision} -> {model.commit} "
                       f"({len(model.files)} files)")
    for pm in result.lockfile.provider_models:
        if pm.name == name:
            click.echo(f"  {pm.name}: {pm.provider} {pm.requested} -> {pm.resolved} ({pm.pin_kind})")
    click.echo(f"{result.path} {'written' if result.written else 'unchanged'}")
