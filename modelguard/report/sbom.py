"""The lockfile as a CycloneDX 1.6 ML-BOM (``modelguard sbom``), built with ``cyclonedx-python-lib``.

One ``machine-learning-model`` component per locked Hugging Face model (its repo as group/name, the
locked commit as version, a ``pkg:huggingface`` purl, the Hub page and the commit's tree as external
references, one ``file`` sub-component per locked file with its SHA-256, the licence and the base
models from the model card when the verified cache holds the card), one per provider model, and
modelguard's verdicts (per model and per file, recomputed by the caller, never read from a record)
and the policy as ``modelguard:`` properties. The document is deterministic: its serial number is
derived from the lockfile's content and its timestamp is the day of the run.

Why the library and not hand-written JSON: it is the CycloneDX project's own, maintained model of
the specification, and its strict validator checks what it writes; a hand-written document would
need the same schema work and track every spec revision by hand.

Must not read files or the network: :mod:`modelguard.flows.sbom` gathers what goes in.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelguard.models import ModelOutcome
from modelguard.spec.types import LockedHFModel, LockedProviderModel, Lockfile, Policy

if TYPE_CHECKING:
    from cyclonedx.model import ExternalReference, Property
    from cyclonedx.model.component import Component
    from cyclonedx.model.license import License
    from packageurl import PackageURL

__all__ = ["ModelCard", "SbomInput", "to_cyclonedx"]

HUB_URL = "https://huggingface.co"
_NAMESPACE = uuid.UUID("0b9ad2f4-37c5-5b3a-9b1e-6d4c6f0d1a57")
"""uuid5 namespace of modelguard BOM serial numbers (a fixed value: same lockfile, same serial)."""


@dataclass(frozen=True)
class ModelCard:
    """What a model card's metadata says that an ML-BOM carries."""

    license: str = ""
    base_models: tuple[str, ...] = ()


@dataclass(frozen=True)
class SbomInput:
    """Everything the BOM says, gathered by the flow."""

    lockfile: Lockfile
    lockfile_sha256: str
    day: _dt.date
    policy: Policy | None = None
    policy_source: str = ""
    outcomes: Mapping[str, ModelOutcome] | None = None
    """verify's outcome per locked model name; None when no verified cache was checked"""
    cache: str = ""
    cards: Mapping[str, ModelCard] = field(default_factory=dict)
    hub_url: str = HUB_URL


def to_cyclonedx(data: SbomInput) -> str:
    """The CycloneDX 1.6 JSON document (text) for ``data``."""
    from cyclonedx.model.bom import Bom
    from cyclonedx.output.json import JsonV1Dot6

    bom = Bom(serial_number=uuid.uuid5(_NAMESPACE, data.lockfile_sha256))
    bom.metadata.timestamp = _dt.datetime.combine(data.day, _dt.time(), tzinfo=_dt.timezone.utc)
    bom.metadata.tools.components.add(_tool())
    bom.metadata.properties.update(_run_properties(data))
    for model in data.lockfile.hf_models:
        bom.components.add(_hf_component(model, data))
    for provider_model in data.lockfile.provider_models:
        bom.components.add(_provider_component(provider_model))
    return str(JsonV1Dot6(bom).output_as_string(indent=2)) + "\n"


def _tool() -> Component:
    from cyclonedx.model.component import Component, ComponentType

    from modelguard import __version__
    from modelguard.report.links import project_url

    return Component(type=ComponentType.APPLICATION, name="modelguard", version=__version__,
                     external_references=[_ref("website", project_url())])


def _ref(kind: str, url: str) -> ExternalReference:
    from cyclonedx.model import ExternalReference, ExternalReferenceType, XsUri

    return ExternalReference(type=ExternalReferenceType(kind), url=XsUri(url))


def _props(pairs: Sequence[tuple[str, str]]) -> list[Property]:
    from cyclonedx.model import Property

    return [Property(name=f"modelguard:{name}", value=value) for name, value in pairs if value != ""]


def _run_properties(data: SbomInput) -> list[Property]:
    pairs: list[tuple[str, str]] = [
        ("lock-version", str(data.lockfile.lock_version)),
        ("lockfile:sha256", data.lockfile_sha256),
        ("manifest:sha256", data.lockfile.manifest_sha256),
        ("verified", "true" if data.outcomes is not None else "false"),
        ("cache", data.cache),
    ]
    policy = data.policy
    if policy is not None:
        pairs += [
            ("policy:source", data.policy_source),
            ("policy:sha256", policy.sha256),
            ("policy:allowed-orgs", ", ".join(policy.allowed_orgs)),
            ("policy:denied-orgs", ", ".join(policy.denied_orgs)),
            ("policy:require-safetensors", str(policy.require_safetensors).lower()),
            ("policy:trust-remote-code", policy.trust_remote_code),
            ("policy:allowed-file-types", ", ".join(policy.allowed_file_types)),
            ("policy:max-file-size", "" if policy.max_file_size is None else str(policy.max_file_size)),
            ("policy:fail-on", policy.fail_on.value),
            ("policy:require-signature", str(policy.require_signature).lower()),
            ("policy:revoked", str(len(policy.revoked))),
        ]
    return _props(pairs)


def _hf_component(model: LockedHFModel, data: SbomInput) -> Component:
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.component import Component, ComponentType, Pedigree
    from packageurl import PackageURL

    org, _, name = model.repo.partition("/")
    outcome = data.outcomes.get(model.name) if data.outcomes is not None else None
    verdicts = {r.path: r.verdict.value for r in outcome.files} if outcome is not None else {}
    files = [
        Component(type=ComponentType.FILE, name=f.path, bom_ref=f"{model.name}:{f.path}",
                  hashes=[HashType(alg=HashAlgorithm.SHA_256, content=f.sha256)],
                  properties=_props([("size", str(f.size)), ("published", f.published),
                                     ("verdict", verdicts.get(f.path, ""))]))
        for f in model.files
    ]
    card = data.cards.get(model.name, ModelCard())
    ancestors = [Component(type=ComponentType.MACHINE_LEARNING_MODEL, name=base, bom_ref=f"{model.name}<-{base}",
                           purl=_hub_purl(base, None)) for base in card.base_models]
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL, bom_ref=model.name, group=org, name=name, version=model.commit,
        purl=PackageURL(type="huggingface", namespace=org, name=name, version=model.commit),
        licenses=_licenses(card.license),
        external_references=[_ref("website", f"{data.hub_url}/{model.repo}"),
                             _ref("distribution", f"{data.hub_url}/{model.repo}/tree/{model.commit}")],
        properties=_props(_model_properties(model, outcome)),
        pedigree=Pedigree(ancestors=ancestors) if ancestors else None,
        components=files,
    )


def _hub_purl(repo: str, version: str | None) -> PackageURL:
    from packageurl import PackageURL

    org, _, name = repo.partition("/")
    return PackageURL(type="huggingface", namespace=org if name else None, name=name or org, version=version)


def _licenses(text: str) -> list[License]:
    if not text:
        return []
    from cyclonedx.contrib.license.factories import LicenseFactory

    return [LicenseFactory().make_from_string(text)]


def _model_properties(model: LockedHFModel, outcome: ModelOutcome | None) -> list[tuple[str, str]]:
    pairs = [("name", model.name), ("repo", model.repo), ("requested-revision", model.requested_revision),
             ("commit", model.commit)]
    if outcome is None:
        return [*pairs, ("status", "not-verified")]
    failing = sorted({f.rule for r in outcome.files for f in r.findings if not f.suppressed}
                     | {f.rule for f in outcome.findings if not f.suppressed})
    return [*pairs, ("status", outcome.status.value), ("admitted", str(getattr(outcome, "admitted", "")).lower()),
            ("intact", str(getattr(outcome, "intact", "")).lower()), ("rules", ", ".join(failing))]


def _provider_component(model: LockedProviderModel) -> Component:
    from cyclonedx.model.component import Component, ComponentType

    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL, bom_ref=model.name, group=model.provider, name=model.resolved,
        version=model.resolved,
        properties=_props([("name", model.name), ("provider", model.provider), ("requested", model.requested),
                           ("pin-kind", model.pin_kind), ("resolved-via", model.resolved_via),
                           ("resolved-at", model.resolved_at), ("platform", model.platform),
                           ("deployment", model.deployment), ("region", model.region), ("status", model.status),
                           ("deprecated-on", model.deprecated_on), ("retires-on", model.retires_on),
                           ("replacement", model.replacement), ("source", model.source)]),
    )
