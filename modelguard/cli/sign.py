"""``modelguard sign``: sign the lockfile, or print the public key entry to paste into the policy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from modelguard.trust import lock_signature as signing


@click.command()
@click.option("--key", "key_path", type=click.Path(dir_okay=False, readable=False), default=None,
              help="PEM private key (Ed25519 or ECDSA P-256); default: $MODELGUARD_SIGNING_KEY.")
@click.option("--lockfile", default="modelguard.lock", show_default=True,
              type=click.Path(dir_okay=False, readable=False),
              help="The lockfile to sign; the signature goes next to it as <lockfile>.sig.")
@click.option("--show-public", is_flag=True,
              help="Print the key's [[policy.signers]] entry (keyid, algorithm, public PEM) and sign nothing.")
@click.option("--scope", default="lockfile", show_default=True,
              help="Scope written in the --show-public entry: lockfile, *, an org or org/name.")
def sign(key_path: str | None, lockfile: str, show_public: bool, scope: str) -> int:
    """Sign modelguard.lock with a private key (never printed); writes modelguard.lock.sig atomically."""
    from modelguard.trust import lock_signature as signing

    if show_public:
        _check_scope(scope)
        public = _public_key(key_path)
        click.echo(signer_entry(public, scope=scope), nl=False)
        return 0
    out = signing.sign_lockfile(lockfile, key_path)
    private = signing.load_private_key(key_path)
    public = private.public_key()
    click.echo(f"signed {lockfile} -> {out}")
    click.echo(f"keyid {signing.keyid(public)} ({signing.algorithm_of(public)})")
    return 0


def _check_scope(scope: str) -> None:
    from modelguard.errors import UsageError
    from modelguard.spec import ids

    if scope in ("lockfile", "*"):
        return
    problem = ids.repo_id_problem(scope) if "/" in scope else ids.org_problem(scope)
    if problem:
        raise UsageError(f'--scope {scope!r} {problem}; use lockfile, "*", an org or org/name')


def _public_key(key_path: str | None) -> signing.PublicKey:
    """The public half of --key, which may also be a public PEM (a teammate's key)."""
    from modelguard.errors import UsageError
    from modelguard.trust import lock_signature as signing

    if key_path is not None:
        try:
            data = Path(key_path).read_bytes()
        except OSError as e:
            raise UsageError(f"cannot read {key_path}: {e.strerror or e}") from None
        if b"-----BEGIN PUBLIC KEY-----" in data:
            try:
                return signing.load_public_key(data)
            except ValueError as e:
                raise UsageError(f"{key_path}: {e}") from None
    return signing.load_private_key(key_path or None).public_key()


def signer_entry(public: signing.PublicKey, *, scope: str = "lockfile") -> str:
    """The TOML a reviewer pastes into the policy to trust this key."""
    from modelguard.trust import lock_signature as signing

    pem = signing.public_pem(public).strip()
    return (
        "[[policy.signers]]\n"
        f'keyid = "{signing.keyid(public)}"\n'
        f'algorithm = "{signing.algorithm_of(public)}"\n'
        f'scope = "{scope}"\n'
        f'public-key = """\n{pem}\n"""\n'
    )
