"""Run the demo: lock -> fetch -> verify against the bundled loopback Hub, and check the outcome.

Everything happens in one working folder (a temporary one unless ``keep`` names one): the
manifest, the lockfile, the verified cache and a private ``HF_HOME``. The Hugging Face and
modelguard environment variables are set for the run only and restored afterwards; the user's
Hub token is never read or sent. The library calls are those the CLI makes (:mod:`modelguard.api`)
and the output is rendered by the same renderers (:func:`modelguard.api.render`), so what is
printed is what a user sees against the real Hub.

The demo passes (returns 0) when each model got the designed verdict for the designed reason; it
returns 1 when an expected refusal did not happen (a bug in modelguard) and says which.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from modelguard import api
from modelguard.demo import scenario
from modelguard.demo.fakehub import FakeHub, Fault
from modelguard.demo.scenario import ADMITTED, LOCK_REFUSED, REFUSED, DemoModel
from modelguard.errors import ModelguardError
from modelguard.models import Report
from modelguard.spec import filenames

Echo = Callable[[str], None]

# Variables that would point the run at the user's Hub, token or caches; unset for the run.
_UNSET = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT", "HF_HUB_CACHE", "HF_HUB_OFFLINE",
          "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE", "XDG_CACHE_HOME")


@dataclass
class Verdict:
    """What modelguard decided for one demo model."""

    model: DemoModel
    got: str = "not checked"
    rules: set[str] = field(default_factory=set)

    @property
    def as_designed(self) -> bool:
        if self.got != self.model.expect:
            return False
        return not self.model.rules or bool(self.rules & self.model.rules)


@dataclass
class Run:
    echo: Echo
    endpoint: str
    models: tuple[DemoModel, ...]
    verdicts: dict[str, Verdict]
    problems: list[str] = field(default_factory=list)

    def expecting(self, *outcomes: str) -> tuple[DemoModel, ...]:
        return scenario.expecting(self.models, *outcomes)

    def expect(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)
            self.echo(f"!! UNEXPECTED: {problem}")


def run_demo(echo: Echo, *, keep: Path | None = None, models: tuple[DemoModel, ...] = scenario.MODELS) -> int:
    """Run the whole demo, printing through ``echo``. 0: everything as designed; 1: a bug showed.

    ``models`` defaults to :data:`modelguard.demo.scenario.MODELS`; the tests pass others to prove
    that a model which does not get its expected verdict makes the demo fail.
    """
    started = time.monotonic()
    with _workspace(keep) as work, _scoped_env(work), _chdir(work), FakeHub() as hub:
        for m in models:
            hub.add_repo(m.repo, m.files, lfs=m.lfs)
        run = Run(echo, hub.endpoint, models, {m.name: Verdict(m) for m in models})
        _intro(run, work)
        _step_lock(run)
        _step_fetch(run, hub)
        _step_verify(run, expect_ok=False)
        _step_loaders(run)
        _step_new_org(run, hub)
        _step_ship(run, hub)
        _summary(run, time.monotonic() - started, keep)
        return 1 if run.problems else 0


# --- the steps ---------------------------------------------------------------------------------


def _intro(run: Run, work: Path) -> None:
    echo = run.echo
    echo("modelguard demo: lock -> fetch -> verify against a loopback Hub (no network needed)")
    echo(f"working folder: {work}  (manifest, lockfile and verified cache all live here)")
    echo(f"demo Hub:       {run.endpoint}  (speaks the Hugging Face Hub API; huggingface_hub is the client)")
    echo("")
    echo(f"The Hub serves {len(run.models)} small generated models:")
    for m in run.models:
        echo(f"  {m.repo:<36} {m.story}")
    Path(filenames.MANIFEST).write_text(scenario.manifest_text(run.expecting(ADMITTED, REFUSED)), encoding="utf-8")
    echo("")
    echo("modelguard.toml (what this project wants, and the policy every model must pass):")
    for line in Path(filenames.MANIFEST).read_text(encoding="utf-8").splitlines():
        echo(f"  | {line}")


def _header(run: Run, title: str, command: str, note: str = "") -> None:
    run.echo("")
    run.echo(f"== {title}")
    if note:
        run.echo(f"   {note}")
    run.echo(f"$ {command}")


def _step_lock(run: Run) -> None:
    _header(run, "1. lock: pin each model to a commit and each file to a SHA-256 (metadata only)",
            f"modelguard --endpoint {run.endpoint} lock")
    code, _ = _call(run, lambda: _lock_line(api.lock(token="", endpoint=run.endpoint)))
    run.expect(code == 0 and Path(filenames.LOCKFILE).is_file(), f"lock exited {code}; expected 0 and a lockfile")


def _lock_line(result: object) -> str:
    from modelguard.flows.lock import LockResult

    assert isinstance(result, LockResult)
    parts = [f"{len(result.resolved)} resolved", f"{len(result.kept)} kept"]
    if result.removed:
        parts.append(f"{len(result.removed)} removed")
    return f"{result.path} {'written' if result.written else 'unchanged'} ({', '.join(parts)})"


def _step_fetch(run: Run, hub: FakeHub) -> None:
    for m in run.models:
        if m.tampered:
            hub.inject(Fault.TAMPER, repo=m.repo, path=m.tampered)
    tampered = ", ".join(f"{m.repo}:{m.tampered}" for m in run.models if m.tampered) or "no file"
    _header(run, "2. fetch: download into quarantine, hash every byte, scan, apply the policy, admit",
            f"modelguard --endpoint {run.endpoint} fetch --cache-dir cache",
            f"(the demo Hub now flips one byte of {tampered} on the wire)")
    report = _report(run, lambda: api.fetch(cache_dir="cache", endpoint=run.endpoint, token=""))
    hub.clear_faults()
    if report is None:
        run.expect(False, "fetch produced no report")
        return
    for line in api.render(report, "text", anchors=api.sarif_anchors()).rstrip("\n").splitlines():
        run.echo(line)
    code = int(report.exit_code)
    run.echo(f"(exit code {code}" + (": models were refused, as this demo intends)" if code == 1 else ")"))
    for model in report.models or ():
        verdict = run.verdicts.get(model.name)
        if verdict is not None:
            verdict.got = ADMITTED if model.status.usable else REFUSED
            verdict.rules = {f.rule for f in report.failing() if f.model == verdict.model.name}
    run.expect(code == 1, f"fetch exited {code}; expected 1 (refusals)")


def _step_verify(run: Run, *, expect_ok: bool) -> None:
    _header(run, "3. verify: the CI gate, offline: is every locked model admitted and byte-identical?"
            if not expect_ok else "6b. verify: the CI gate passes", "modelguard verify --cache-dir cache")
    report = _report(run, lambda: api.verify(cache_dir="cache"))
    if report is None:
        run.expect(False, "verify produced no report")
        return
    for line in api.render(report, "text", anchors=api.sarif_anchors()).rstrip("\n").splitlines():
        run.echo(line)
    code = int(report.exit_code)
    wanted = 0 if expect_ok else 1
    run.echo(f"(exit code {code}: " + ("verified" if code == 0 else "a locked model is not admitted; the gate holds")
             + ")")
    run.expect(code == wanted, f"verify exited {code}; expected {wanted}")


def _step_loaders(run: Run) -> None:
    _header(run, "4. loaders: point Hugging Face libraries at the verified cache, offline",
            'eval "$(modelguard env --cache-dir cache)"   # or: with modelguard.hf_offline("cache"): ...')
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    with api.hf_offline("cache") as hub_dir:
        for m in run.expecting(ADMITTED, REFUSED):
            weights = next(p for p in m.files if p.endswith((".safetensors", ".bin")))
            call = f'hf_hub_download("{m.repo}", "{weights}")'
            try:
                path = Path(hf_hub_download(m.repo, weights))
            except LocalEntryNotFoundError:
                run.echo(f"  {call}\n      -> not found: only admitted models are in the verified cache")
                run.expect(m.expect != ADMITTED, f"{m.repo} was admitted but a loader cannot find it")
                continue
            run.echo(f"  {call}\n      -> {os.path.relpath(path)}")
            inside = Path(os.path.abspath(path)).is_relative_to(hub_dir)
            run.expect(m.expect == ADMITTED and inside, f"a loader found {m.repo} at {path}; it was not admitted")


def _step_new_org(run: Run, hub: FakeHub) -> None:
    before = Path(filenames.LOCKFILE).read_bytes()
    Path(filenames.MANIFEST).write_text(scenario.manifest_text(run.models), encoding="utf-8")
    hub.clear_requests()
    names = ", ".join(m.repo for m in run.expecting(LOCK_REFUSED))
    _header(run, "5. a teammate adds a model from an org nobody vetted", f"modelguard --endpoint {run.endpoint} lock",
            f"(modelguard.toml now also asks for {names})")
    code, rule = _call(run, lambda: _lock_line(api.lock(token="", endpoint=run.endpoint)))
    asked = [r.path for r in hub.requests if any(m.repo in r.path for m in run.expecting(LOCK_REFUSED))]
    unchanged = Path(filenames.LOCKFILE).read_bytes() == before
    run.echo(f"(exit code {code}; the lockfile is {'unchanged' if unchanged else 'CHANGED'}; the Hub received "
             f"{len(asked)} request(s) about {names})")
    for m in run.expecting(LOCK_REFUSED):
        run.verdicts[m.name].got = LOCK_REFUSED if code == 1 else ADMITTED
        run.verdicts[m.name].rules = {rule} if rule else set()
    run.expect(code == 1 and unchanged and not asked, "lock should refuse the org before asking the Hub anything")


def _step_ship(run: Run, hub: FakeHub) -> None:
    Path(filenames.MANIFEST).write_text(scenario.manifest_text(run.expecting(ADMITTED)), encoding="utf-8")
    hub.clear_requests()
    keep = ", ".join(m.name for m in run.expecting(ADMITTED))
    _header(run, "6. ship what passed: keep only the admitted model, re-lock, verify",
            f"modelguard --endpoint {run.endpoint} lock", f"(modelguard.toml now lists only: {keep})")
    code, _ = _call(run, lambda: _lock_line(api.lock(token="", endpoint=run.endpoint)))
    run.echo(f"(exit code {code}; kept pins need no request: the Hub received {len(hub.requests)})")
    run.expect(code == 0 and not hub.requests, "re-locking unchanged entries should make no request")
    _step_verify(run, expect_ok=True)


def _summary(run: Run, seconds: float, keep: Path | None) -> None:
    echo = run.echo
    echo("")
    echo("== result")
    echo(f"  {'model':<20} {'repo':<36} {'expected':<13} {'got':<13} rules")
    for v in run.verdicts.values():
        mark = "" if v.as_designed else "   <-- NOT AS DESIGNED"
        rules = ", ".join(sorted(v.rules)) or "-"
        echo(f"  {v.model.name:<20} {v.model.repo:<36} {v.model.expect:<13} {v.got:<13} {rules}{mark}")
        if not v.as_designed:
            run.problems.append(f"{v.model.name}: expected {v.model.expect} "
                                f"({', '.join(sorted(v.model.rules)) or 'no rule'}), got {v.got}")
    echo("")
    if run.problems:
        echo("DEMO FAILED: modelguard did not behave as designed (this is a bug; please report it):")
        for p in run.problems:
            echo(f"  - {p}")
    else:
        admitted = sum(v.got == ADMITTED for v in run.verdicts.values())
        echo(f"DEMO OK in {seconds:.1f}s: {admitted} model admitted, {len(run.verdicts) - admitted} refused, each "
             "for the reason it was built to trigger.")
        echo("The refusals and the failing exit codes above are the expected outcome: they are what protects you.")
    if keep is not None:
        echo(f"Files kept in {keep}; try `cd {keep} && modelguard verify --cache-dir cache`.")


# --- plumbing ----------------------------------------------------------------------------------


def _call(run: Run, action: Callable[[], str]) -> tuple[int, str | None]:
    """Run a library call as the CLI would: print its line, or the error line.
    Returns the exit code and the rule of the error, if any."""
    try:
        run.echo(action())
    except ModelguardError as e:
        run.echo(f"modelguard: error: {e.message}")
        return int(e.exit_code), e.rule
    return 0, None


def _report(run: Run, action: Callable[[], Report]) -> Report | None:
    try:
        return action()
    except ModelguardError as e:
        run.echo(f"modelguard: error: {e.message}")
        return None


@contextlib.contextmanager
def _workspace(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        if any(keep.iterdir()):
            from modelguard.errors import UsageError

            raise UsageError(f"--keep {keep}: the folder is not empty; name a new or empty folder")
        yield keep.resolve()
        return
    work = Path(tempfile.mkdtemp(prefix="modelguard-demo-")).resolve()
    try:
        yield work
    finally:
        _remove(work)


def _remove(path: Path) -> None:
    """Remove the working folder, including the cache's read-only blobs and folders."""

    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if not os.path.islink(full):
                os.chmod(full, stat.S_IRWXU)
    shutil.rmtree(path)


@contextlib.contextmanager
def _scoped_env(work: Path) -> Iterator[None]:
    """The run's environment: its own cache and HF_HOME, no token, Xet off; restored afterwards."""
    wanted: dict[str, str | None] = dict.fromkeys(_UNSET)
    wanted.update({"MODELGUARD_HOME": str(work / "cache"), "HF_HOME": str(work / "hf-home"),
                   "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1"})
    saved = {name: os.environ.get(name) for name in wanted}
    try:
        _set_env(wanted)
        yield
    finally:
        _set_env(saved)


def _set_env(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)
