"""``modelguard scan PATH... [--manifest F]``: scan files under the project's policy."""

from __future__ import annotations

import click

from modelguard.cli._common import emit, report_options


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--manifest", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="The manifest whose policy applies (default: ./modelguard.toml when there is one).")
@report_options
def scan(paths: tuple[str, ...], manifest: str | None, fmt: str, output: str | None, fail_on: str | None,
         sarif_category: str) -> int:
    """Scan model files or folders (recursively). Format is decided by content, never by name.

    The policy of ./modelguard.toml (or --manifest) applies as fetch and verify apply it: pickle
    allowlist additions, suppressions, require-safetensors, allowed-file-types, max-file-size, and
    fail-on unless --fail-on is given. The report says which policy it used.
    """
    from modelguard import api

    return emit(api.scan_with_policy(list(paths), manifest=manifest, fail_on=fail_on), fmt, output,
                category=sarif_category)
