"""Budgets (modelguard.spec.limits) and the bounded readers (modelguard.spec.bounded, tomlsource's shape check)."""

from __future__ import annotations

import json
import os
import random
import threading
from pathlib import Path

import pytest

from modelguard.errors import ConfigError, LockfileError, UnreadableError, UsageError
from modelguard.spec import limits
from modelguard.spec.bounded import load_json, nests_deeper, read_capped
from modelguard.spec.limits import BUDGETS, OverBudget
from modelguard.spec.lockfile import parse_lockfile
from modelguard.spec.manifest import parse_manifest

# --- the budgets ------------------------------------------------------------------------------


def test_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    assert limits.active().pages == 1000 and limits.active().min_rate == 4096
    monkeypatch.setenv("MODELGUARD_LIMIT_PAGES", "7")
    monkeypatch.setenv("MODELGUARD_LIMIT_RATE_WINDOW", "0.5")
    monkeypatch.setenv("MODELGUARD_LIMIT_RETRIES", "0")
    active = limits.active()
    assert (active.pages, active.rate_window, active.retries) == (7, 0.5, 0)
    assert limits.show(BUDGETS.pages) == "7 pages" and limits.show(BUDGETS.answer_bytes) == "64 MiB"


@pytest.mark.parametrize("value", ["-1", "0", "lots", "inf", "nan"])
def test_a_budget_that_is_not_a_positive_number_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MODELGUARD_LIMIT_ANSWER_BYTES", value)
    with pytest.raises(UsageError) as e:
        limits.active()
    assert "MODELGUARD_LIMIT_ANSWER_BYTES" in e.value.message and e.value.exit_code == 2


def test_every_budget_names_its_rule_and_escape_hatch() -> None:
    from modelguard.report.rules import RULES

    for budget in vars(type(BUDGETS)).values():
        if isinstance(budget, limits.Budget):
            assert budget.rule in RULES, budget
            assert budget.variable in OverBudget(budget, "x").message


# --- JSON depth ---------------------------------------------------------------------------------


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


def _random_json(rng: random.Random, depth: int) -> object:
    if depth == 0 or rng.random() < 0.25:
        return rng.choice([1, "a[", '\\"]{', None, "\\", "[{}]"])  # strings full of brackets and escapes
    if rng.random() < 0.5:
        return [_random_json(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {f"k{i}[": _random_json(rng, depth - 1) for i in range(rng.randint(0, 3))}


def test_nesting_is_measured_exactly_on_well_formed_json() -> None:
    rng = random.Random(14)
    for _ in range(800):
        doc = _random_json(rng, rng.randint(0, 24))
        text, depth = json.dumps(doc), _depth(doc)
        for limit in (0, 1, max(0, depth - 1), depth, depth + 1):
            assert nests_deeper(text, limit) == (depth > limit), (text, limit)


def test_deep_json_is_refused_before_the_parser_recurses() -> None:
    for bomb in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000, b"[" * 100_000):
        with pytest.raises(OverBudget) as e:
            load_json(bomb, what="the answer")
        assert e.value.rule == "MG-H133" and "MODELGUARD_LIMIT_JSON_DEPTH" in e.value.message
    with pytest.raises(OverBudget) as e:
        load_json(b"[" * 65 + b"]" * 65, BUDGETS.signature_bytes, what="model.sig")
    assert e.value.rule == "MG-L025"  # reported under the reader's rule
    assert load_json(b"[" * 64 + b"]" * 64, what="x") is not None


# --- capped reads -------------------------------------------------------------------------------


def test_read_capped(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"x" * 10)
    assert read_capped(p, BUDGETS.config_bytes, 10) == b"x" * 10
    with pytest.raises(OverBudget) as e:
        read_capped(p, BUDGETS.config_bytes, 9)
    assert e.value.rule == "MG-L020" and str(p) in e.value.message
    with pytest.raises(FileNotFoundError):
        read_capped(tmp_path / "missing", BUDGETS.config_bytes, 9)


def test_devices_fifos_and_folders_are_never_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    done: list[BaseException] = []

    def read(path: Path) -> None:
        try:
            read_capped(path, BUDGETS.config_bytes, 1 << 20)
        except BaseException as e:  # collected for the assertion below
            done.append(e)

    for path in (Path("/dev/zero"), fifo, tmp_path):
        worker = threading.Thread(target=read, args=(path,), daemon=True)
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), f"reading {path} blocked"
    assert [type(e) for e in done] == [UsageError] * 3 and "not a regular file" in done[0].args[0]


# --- TOML shape ----------------------------------------------------------------------------------

LOCK_HEAD = f'lock-version = 1\ncreated-by = "x"\nmanifest-sha256 = "{"a" * 64}"\npolicy-sha256 = "{"a" * 64}"\n'


@pytest.mark.parametrize(("body", "rule"), [
    ("x = " + "[\n" * 50_000 + "]\n" * 50_000, "MG-L021"),           # 50k nested arrays, one a line
    ("x = " + "[" * 17 + "]" * 17, "MG-L021"),                           # ... one level over, on one line
    ("x = " + "{a = " * 17 + "1" + "}" * 17, "MG-L021"),                 # nested inline tables
    ("x = " + "{a = " * 50_000 + "1" + "}" * 50_000, "MG-L020"),         # ... 50k of them: the line is too long
    ("a" + ".a" * 20_000 + " = 1", "MG-L021"),                           # a dotted key of 20k segments (14 s, tomllib)
    ("[" + "a." * 20_000 + "a]", "MG-L021"),                             # ... a table header
    ("x = {" + "a." * 20_000 + "a = 1}", "MG-L021"),                     # ... a key inside an inline table
    ('name = "' + "x" * 50_000_000 + '"', "MG-L020"),                    # a 50 MB string (6 GB in the old regex)
])
def test_hostile_lockfile_shapes_are_refused_before_parsing(body: str, rule: str) -> None:
    with pytest.raises(LockfileError) as e:
        parse_lockfile(LOCK_HEAD + body + "\n", source="modelguard.lock")
    assert e.value.rule == rule and e.value.exit_code == 2
    assert e.value.message.startswith("modelguard.lock:") and "\n" not in e.value.message


def test_brackets_and_dots_inside_strings_and_comments_do_not_count() -> None:
    text = LOCK_HEAD + ("# " + "[" * 100 + "\n") + 'x = "' + "[{." * 100 + '"\n' + "y = '" + "[" * 100 + "'\n" \
        + 'z = """\n' + "[[[[" * 100 + '\n\\""" [[[[\n"""\n'
    with pytest.raises(LockfileError) as e:  # parsed, then refused for its unknown keys: not for its shape
        parse_lockfile(text)
    assert e.value.rule == "MG-L005"


def test_nesting_within_budget_parses() -> None:
    from modelguard.spec.tomlsource import key_lines

    assert key_lines("a.b.c = 1\nx = " + "[" * 16 + "]" * 16 + "\n") == {"a.b.c": 1, "x": 2}


def test_manifest_shape_and_size_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        parse_manifest("[policy]\nallowed-orgs = " + "[" * 30 + "]" * 30 + "\n", source="m.toml")
    assert e.value.rule == "MG-L021" and e.value.message.startswith("m.toml:2:")
    big = tmp_path / "modelguard.toml"
    big.write_bytes(b"# " + b"x" * (5 << 20) + b"\n")
    from modelguard.spec.manifest import load_manifest

    with pytest.raises(ConfigError) as e:
        load_manifest(str(big))
    assert e.value.rule == "MG-L020" and "MODELGUARD_LIMIT_CONFIG_BYTES" in e.value.message


def test_too_many_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELGUARD_LIMIT_MODELS", "2")
    entries = "".join(f'[[hf-model]]\nname = "m{i}"\nrepo = "acme/m{i}"\n' for i in range(3))
    with pytest.raises(ConfigError) as e:
        parse_manifest('[policy]\nallowed-orgs = ["acme"]\n' + entries, source="m.toml")
    assert e.value.rule == "MG-L022"


def test_unreadable_manifest_is_no_verdict(tmp_path: Path) -> None:
    from modelguard.spec.manifest import load_manifest

    loop = tmp_path / "modelguard.toml"
    loop.symlink_to(loop)  # unreadable for anyone, root included (ELOOP)
    with pytest.raises(UnreadableError) as e:
        load_manifest(str(loop))
    assert str(loop) in e.value.message and e.value.exit_code == 3


@pytest.mark.parametrize(("path", "rule"), [
    ("a" * 300 + ".safetensors", "MG-H136"),                  # a name no filesystem stores
    ("/".join(["d" * 200] * 6) + "/x.json", "MG-H137"),      # a path over the PATH_BYTES budget
])
def test_a_hand_written_lockfile_with_a_name_no_disk_holds(path: str, rule: str) -> None:
    from modelguard.spec.lockfile import render_lockfile
    from modelguard.spec.types import LockedFile, LockedHFModel, Lockfile

    sha = "a" * 64
    model = LockedHFModel("m", "acme/m", "main", "b" * 40, (LockedFile(path, 1, sha, "lfs-sha256"),), sha)
    text = render_lockfile(Lockfile(1, "x", sha, sha, (model,)), validate=False)
    with pytest.raises(LockfileError) as e:
        parse_lockfile(text)
    assert e.value.rule == rule and e.value.exit_code == 2


def test_a_hand_written_lockfile_with_names_one_disk_folds_together() -> None:
    from modelguard.spec.lockfile import render_lockfile
    from modelguard.spec.types import LockedFile, LockedHFModel, Lockfile

    sha = "a" * 64
    files = (LockedFile("Config.json", 1, sha, "lfs-sha256"), LockedFile("config.json", 1, sha, "lfs-sha256"))
    text = render_lockfile(Lockfile(1, "x", sha, sha, (LockedHFModel("m", "acme/m", "main", "b" * 40, files, sha),)),
                           validate=False)
    with pytest.raises(LockfileError) as e:
        parse_lockfile(text)
    assert e.value.rule == "MG-H138"
