"""``modelguard sign``: sign the lockfile, or print the public key entry to paste into the policy."""

from __future__ import annotations

import click

from modelguard.spec import filenames


@click.command()
@click.option("--key", "key_path", type=click.Path(dir_okay=False, readable=False), default=None,
              help="PEM private key (Ed25519 or ECDSA P-256); default: $MODELGUARD_SIGNING_KEY.")
@click.option("--lockfile", default=filenames.LOCKFILE, show_default=True,
              type=click.Path(dir_okay=False, readable=False),
              help="The lockfile to sign; the signature goes next to it as <lockfile>.sig.")
@click.option("--show-public", is_flag=True,
              help="Print the key's [[policy.signers]] entry (keyid, algorithm, public PEM) and sign nothing.")
@click.option("--scope", default="lockfile", show_default=True,
              help="Scope written in the --show-public entry: lockfile, *, an org or org/name.")
def sign(key_path: str | None, lockfile: str, show_public: bool, scope: str) -> int:
    """Sign modelguard.lock with a private key (never printed); writes modelguard.lock.sig atomically."""
    from modelguard import api

    if show_public:
        click.echo(api.signer_entry(key_path, scope=scope), nl=False)
        return 0
    signed = api.sign(lockfile, key=key_path)
    click.echo(f"signed {lockfile} -> {signed.signature}")
    click.echo(f"keyid {signed.keyid} ({signed.algorithm})")
    return 0
