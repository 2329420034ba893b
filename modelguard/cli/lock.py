"""``modelguard lock [--manifest F] [--lockfile F] [--check] [--upgrade NAME] [--online]``"""

from __future__ import annotations

import click

from modelguard.spec.filenames import MANIFEST as DEFAULT_MANIFEST


@click.command()
@click.option("--manifest", "manifest_path", default=DEFAULT_MANIFEST, show_default=True, metavar="FILE",
              type=click.Path(dir_okay=False, readable=False), help="The manifest to lock.")
@click.option("--lockfile", "lockfile_path", default=None, metavar="FILE",
              type=click.Path(dir_okay=False, readable=False),
              help="The lockfile (default: modelguard.lock next to the manifest).")
@click.option("--check", is_flag=True,
              help="Offline: exit 1 if the lockfile is missing or stale for the manifest. Writes nothing.")
@click.option("--upgrade", "upgrade", multiple=True, metavar="NAME",
              help="Re-resolve this entry even if it did not change (repeatable).")
@click.option("--online", is_flag=True, help="Also ask provider APIs to resolve provider model aliases.")
@click.pass_context
def lock(
    ctx: click.Context,
    manifest_path: str,
    lockfile_path: str | None,
    check: bool,
    upgrade: tuple[str, ...],
    online: bool,
) -> int:
    """Pin every model in the manifest: repos to a commit, files to a SHA-256.

    Entries that did not change keep their pins (no request); an unchanged lockfile is not rewritten.
    """
    from modelguard import api
    from modelguard.spec.filenames import lockfile_beside

    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    if check:
        if upgrade or online:
            raise click.UsageError("--check is offline and writes nothing; do not combine it with --upgrade/--online")
        locked = api.check_lock(manifest_path, lockfile_path)
        if not quiet:
            count = len(locked.hf_models) + len(locked.provider_models)
            entries = f"{count} entr{'y' if count == 1 else 'ies'}"
            click.echo(f"{lockfile_path or lockfile_beside(manifest_path)} is up to date ({entries})")
        return 0
    obj = ctx.obj or {}
    result = api.lock(
        manifest_path,
        lockfile_path,
        endpoint=obj.get("endpoint"),
        token=obj.get("token"),
        upgrade=upgrade,
        online=online,
    )
    if not quiet:
        for model in result.lockfile.hf_models:
            if model.name in result.resolved:
                click.echo(f"  {model.name}: {model.repo}@{model.requested_revision} -> {model.commit} "
                           f"({len(model.files)} files)")
        for pm in result.lockfile.provider_models:
            click.echo(f"  {pm.name}: {pm.provider} {pm.requested} -> {pm.resolved} ({pm.pin_kind}, {pm.resolved_via})")
        parts = [f"{len(result.resolved)} resolved", f"{len(result.kept)} kept"]
        if result.lockfile.provider_models:
            parts.append(f"{len(result.lockfile.provider_models)} provider model(s) pinned")
        if result.removed:
            parts.append(f"{len(result.removed)} removed")
        state = "written" if result.written else "unchanged"
        click.echo(f"{result.path} {state} ({', '.join(parts)})")
    return 0
