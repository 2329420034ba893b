"""``sbom``: gather what the ML-BOM of a lockfile says, then render it (:mod:`modelguard.report.sbom`).

Reads the lockfile (its exact bytes give the BOM its serial number), the manifest's policy when the
manifest is there, and, when the verified cache exists, verifies the locked models offline right
now (recompute, don't remember: the verdicts in the BOM are this run's, never an admission
record's). A model card (``README.md``) is read only from a snapshot that verification just found
intact and passing, so the licence and base models it names come from the bytes that were locked.

Writes nothing (no audit record: an SBOM is a read of the project, not a gate); never downloads.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from modelguard import clock
from modelguard.errors import UnreadableError
from modelguard.models import ModelOutcome
from modelguard.report.sbom import HUB_URL, ModelCard, SbomInput, to_cyclonedx
from modelguard.spec import filenames

PathLike = str | os.PathLike[str]

CARD = "README.md"
CARD_MAX_BYTES = 1 << 20
"""A model card larger than this is not parsed for the BOM (its metadata block is at its top anyway)."""


def sbom(lockfile: PathLike = filenames.LOCKFILE, *, manifest: PathLike | None = None,
         cache_dir: PathLike | None = None, verify: bool = True, fast: bool = False,
         hub_url: str | None = None) -> str:
    """The CycloneDX 1.6 JSON text of ``lockfile``; see the module docstring."""
    from modelguard.spec.lockfile import read_lockfile
    from modelguard.spec.manifest import load_manifest
    from modelguard.spec.policy import describe
    from modelguard.store.cache import cache_root

    path = Path(lockfile)
    locked = read_lockfile(str(path))
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:  # read_lockfile just read it; a race is reported, never hidden
        raise UnreadableError(f"cannot read {path}: {e.strerror or e}") from None
    manifest_path = Path(manifest) if manifest is not None else filenames.manifest_beside(path)
    parsed = load_manifest(str(manifest_path)) if manifest is not None or manifest_path.is_file() else None
    root = cache_root(cache_dir)
    outcomes: dict[str, ModelOutcome] | None = None
    if verify and parsed is not None and locked.hf_models and (root / "hub").is_dir():
        from modelguard.flows.verify import verify_locked

        report = verify_locked(locked, parsed, cache_dir=root, fast=fast, lockfile_name=str(path))
        outcomes = {m.name: m for m in report.models or ()}
    cards = {name: card for name, o in (outcomes or {}).items() if (card := _card(o)) is not None}
    return to_cyclonedx(SbomInput(
        lockfile=locked, lockfile_sha256=digest, day=clock.today(),
        policy=parsed.policy if parsed is not None else None,
        policy_source=describe(parsed.policy, parsed.path)["source"] if parsed is not None else "",
        outcomes=outcomes, cache=str(root) if outcomes is not None else "", cards=cards,
        hub_url=(hub_url or os.environ.get("HF_ENDPOINT") or HUB_URL).rstrip("/"),
    ))


def _card(outcome: ModelOutcome) -> ModelCard | None:
    """The card's licence and base models, from a snapshot verify just found intact and passing."""
    if outcome.snapshot is None or not any(r.path == CARD for r in outcome.files):
        return None
    file = outcome.snapshot / CARD
    try:
        if file.stat().st_size > CARD_MAX_BYTES:
            return None
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    import yaml
    from huggingface_hub import ModelCard as HubCard

    try:
        data = HubCard(text, ignore_metadata_errors=True).data
    except (ValueError, yaml.YAMLError):  # a card whose metadata does not parse says nothing; the model stays listed
        return None
    license_ = data.get("license") or ""
    if license_ == "other":
        license_ = data.get("license_name") or "other"
    base = data.get("base_model") or ()
    bases = (base,) if isinstance(base, str) else tuple(str(b) for b in base if isinstance(b, str))
    return ModelCard(license=str(license_) if isinstance(license_, str) else "", base_models=bases)
