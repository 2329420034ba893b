"""What the demo Hub serves, what the demo manifest asks for, and what modelguard must decide.

Five small generated models, each with the outcome the demo expects and the rules that must
explain a refusal. The expectations are the demo's own test: if modelguard admitted a model it
should refuse, the demo fails (and says so). Pure data and text; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from modelguard.demo import artifacts

ALLOWED_ORG = "acme-research"
ADMITTED = "admitted"
REFUSED = "refused"
LOCK_REFUSED = "lock-refused"


@dataclass(frozen=True)
class DemoModel:
    """One repo on the demo Hub and the verdict the demo expects for it."""

    name: str
    """the manifest entry name (the handle loaders use)"""
    repo: str
    files: Mapping[str, bytes]
    story: str
    """one line for the reader: what is wrong with this model, if anything"""
    expect: str
    """:data:`ADMITTED`, :data:`REFUSED` (by fetch) or :data:`LOCK_REFUSED` (before any download)"""
    rules: frozenset[str] = field(default_factory=frozenset)
    """a refusal must cite at least one of these rules"""
    lfs: tuple[str, ...] = ()
    """files stored with Git LFS on the Hub (their SHA-256 is published, so lock downloads nothing)"""
    tampered: str | None = None
    """a file whose bytes the Hub flips in transit during fetch"""


def _weights(seed: int) -> bytes:
    return artifacts.safetensors({"classifier.weight": (2, 16), "encoder.weight": (16, 16)}, seed=seed)


MODELS: tuple[DemoModel, ...] = (
    DemoModel(
        name="classifier",
        repo=f"{ALLOWED_ORG}/tiny-classifier",
        files={"config.json": artifacts.config("bert"), "model.safetensors": _weights(1)},
        story="clean safetensors weights from an allowed org",
        expect=ADMITTED,
        lfs=("model.safetensors",),
    ),
    DemoModel(
        name="legacy-classifier",
        repo=f"{ALLOWED_ORG}/pickled-classifier",
        files={"config.json": artifacts.config("bert"),
               "pytorch_model.bin": artifacts.torch_zip(artifacts.command_pickle("echo pwned"))},
        story="PyTorch checkpoint whose pickle runs `os.system('echo pwned')` when loaded",
        expect=REFUSED,
        rules=frozenset({"MG-S101"}),
        lfs=("pytorch_model.bin",),
    ),
    DemoModel(
        name="sentiment",
        repo=f"{ALLOWED_ORG}/sentiment-small",
        files={"config.json": artifacts.config("distilbert"), "model.safetensors": _weights(2)},
        story="clean weights, but one byte is flipped in transit during the download",
        expect=REFUSED,
        rules=frozenset({"MG-H001", "MG-H003"}),
        lfs=("model.safetensors",),
        tampered="model.safetensors",
    ),
    DemoModel(
        name="custom-arch",
        repo=f"{ALLOWED_ORG}/custom-arch",
        files={"config.json": artifacts.config("tiny-custom", auto_map={"AutoModel": "modeling_tiny.TinyModel"}),
               "modeling_tiny.py": artifacts.CUSTOM_MODELING, "model.safetensors": _weights(3)},
        story="ships custom code (auto_map + modeling_tiny.py) that would run with trust_remote_code=True",
        expect=REFUSED,
        rules=frozenset({"MG-P011"}),
        lfs=("model.safetensors",),
    ),
    DemoModel(
        name="fast-llm",
        repo="unvetted-lab/fast-llm",
        files={"config.json": artifacts.config("llama"), "model.safetensors": _weights(4)},
        story="from an org that is not on the allowlist",
        expect=LOCK_REFUSED,
        rules=frozenset({"MG-P001"}),
        lfs=("model.safetensors",),
    ),
)

POLICY = f"""\
[policy]
allowed-orgs = ["{ALLOWED_ORG}"]   # every other org is refused before any download
trust-remote-code = "deny"          # custom *.py / auto_map code is refused unless pinned
fail-on = "medium"
"""


def manifest_text(models: tuple[DemoModel, ...]) -> str:
    """``modelguard.toml`` asking for ``models`` under :data:`POLICY`."""
    parts = ["# modelguard demo manifest: the models this project wants, and the policy they must pass.\n",
             POLICY]
    for m in models:
        parts.append(f'\n[[hf-model]]\nname = "{m.name}"\nrepo = "{m.repo}"\nrevision = "main"\n')
    return "".join(parts)


def expecting(models: tuple[DemoModel, ...], *outcomes: str) -> tuple[DemoModel, ...]:
    """The models whose expected outcome is one of ``outcomes``."""
    return tuple(m for m in models if m.expect in outcomes)
