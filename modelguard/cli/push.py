"""``modelguard push``: parses flags, calls :func:`modelguard.api.push`, prints one line per snapshot."""

from __future__ import annotations

import json
import sys

import click

from modelguard.spec import filenames


@click.command()
@click.argument("names", nargs=-1)
@click.option("--to", "to", metavar="oci://HOST[:PORT]/NAMESPACE", default=None,
              help="Registry and namespace to publish to (default: the manifest's [mirror] url).")
@click.option("--plain-http", is_flag=True, default=None,
              help="Talk HTTP, not HTTPS (loopback and dev registries; default: the manifest's [mirror] plain-http).")
@click.option("--lockfile", default=filenames.LOCKFILE, show_default=True,
              type=click.Path(dir_okay=False, readable=False),
              help="The lockfile whose models to push.")
@click.option("--manifest", default=None, type=click.Path(dir_okay=False, readable=False),
              help="The manifest holding the policy (default: modelguard.toml next to the lockfile).")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="Verified cache root the snapshots are pushed from.")
@click.option("--fail-on", "fail_on", default=None, metavar="SEVERITY",
              help="Lowest severity that keeps a snapshot from being pushed (default: the policy's fail-on).")
@click.option("--format", "-f", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def push(names: tuple[str, ...], to: str | None, plain_http: bool | None, lockfile: str, manifest: str | None,
         cache_dir: str | None, fail_on: str | None, fmt: str) -> int:
    """Publish admitted snapshots (re-checked first) to an OCI registry as ModelPack artifacts."""
    from modelguard import api
    from modelguard.mirror.push import describe, push_exit_code

    outcomes = api.push(lockfile, names, to=to, plain_http=plain_http, cache_dir=cache_dir, manifest=manifest,
                        fail_on=fail_on)
    code = push_exit_code(outcomes)
    if fmt == "json":
        sys.stdout.write(json.dumps({"schema": "modelguard/push/v1", "command": "push", "ok": code == 0,
                                     "models": [o.as_dict() for o in outcomes]}, indent=2) + "\n")
    else:
        for outcome in outcomes:
            click.echo(describe(outcome))
    return code
