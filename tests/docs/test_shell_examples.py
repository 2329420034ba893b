"""Every shell example in README.md and docs/ that can run offline runs, and prints what the page shows.

See :mod:`tests.docs.shell_examples` for how blocks are found, steered and run. The fake Hub answers
on loopback, so ``modelguard add``/``lock``/``fetch`` examples run too; a block that cannot run
offline (an install from a package index, a registry on the internet, your own serve.py) says why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.docs.shell_examples import (
    HUB_REPOS,
    LFS,
    PAGES,
    SETUPS,
    Block,
    Sandbox,
    all_blocks,
    blocks,
    console_steps,
    rewrite_console_output,
)
from tests.fakehub import FakeHub

pytestmark = pytest.mark.slow

UPDATE = os.environ.get("MODELGUARD_DOCS_UPDATE") == "1"


def test_every_block_runs_or_says_why_not() -> None:
    found = list(all_blocks())
    run = [b for b in found if b.directive("skip") is None]
    assert len(run) >= 10, [b.where for b in found]  # the examples are tested, not skipped wholesale
    for block in found:
        reason = block.directive("skip")
        if reason is not None:
            assert len(reason) > 15, f"{block.where}: a skipped example says why it cannot run offline"
        for name in [d.split(" ", 1)[1] for d in block.directives if d.startswith("setup ")]:
            assert name in SETUPS, f"{block.where}: unknown setup {name!r}"
        unknown = [d for d in block.directives if d.split(" ", 1)[0].rstrip(":") not in ("skip", "setup", "exit")]
        assert unknown == [], f"{block.where}: unknown doctest directive"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_shell_examples_of_the_page(page: Path, tmp_path: Path) -> None:
    page_blocks = [b for b in blocks(page) if b.directive("skip") is None]
    if not page_blocks:
        return  # the page has no runnable shell example (checked by the test above, per block)
    failures: list[str] = []
    with FakeHub() as hub:
        for repo, files in HUB_REPOS.items():
            hub.add_repo(repo, files, lfs=LFS)
        box = Sandbox.create(tmp_path, hub.endpoint)
        for block in page_blocks:
            for d in block.directives:
                if d.startswith("setup "):
                    box.setup(d.split(" ", 1)[1])
            failures.extend(_run(block, box))
    assert not failures, "\n\n".join(failures)


def _run(block: Block, box: Sandbox) -> list[str]:
    if block.info != "console":
        expected = int(block.directive("exit") or 0)
        proc = box.sh(block.body, check=False)
        if proc.returncode != expected:
            return [f"{block.where}: exited {proc.returncode}, expected {expected}:\n{box.normalise(proc.stdout)}"]
        return []
    failures = []
    actual = []
    for command, shown in console_steps(block.body):
        out = box.normalise(box.sh(command, check=False).stdout)
        actual.append((command, out))
        if out != shown:
            failures.append(f"{block.where}: `{command}` prints\n{out}\n--- the page shows ---\n{shown}")
    if failures and UPDATE:
        rewrite_console_output(block, actual)
        return []
    return failures
