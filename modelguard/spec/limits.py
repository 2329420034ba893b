"""Budgets for every untrusted input, stated once: how big, how deep, how many, how slow.

Hub and mirror answers, lockfiles, manifests, policy files, signature envelopes, admission
records and audit lines are written by someone modelguard does not trust. Each reader checks what
it reads against one budget from :data:`BUDGETS` *before* the bytes reach a parser (sizes, line
lengths), or while they do (nesting depth, pages, entries, transfer rate), so a hostile input is
refused with one line and a rule id instead of growing memory until ``MemoryError``, recursing
until ``RecursionError`` or stalling a CI job for a day.

Every default is far above what any real repository or file needs (the figures say why); one that
is hit names its environment variable, ``MODELGUARD_LIMIT_<NAME>``, as the escape hatch, and
:func:`active` reads those overrides at call time (a value that is not a positive number is a
:class:`~modelguard.errors.UsageError`). :data:`NAME_MAX` and :data:`PATH_MAX` are facts about
filesystems, not budgets, and cannot be raised.

Pure data and arithmetic: reads the environment only in :func:`active`, never a file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelguard.errors import ExitCode, ModelguardError, UsageError

KIB, MIB = 1 << 10, 1 << 20

NAME_MAX = 255
"""bytes in one path segment: ext4, XFS, btrfs, APFS and NTFS all refuse a longer file name"""
PATH_MAX = 4096
"""bytes in a whole path (Linux PATH_MAX): the verified cache's path to a file must fit"""


@dataclass(frozen=True)
class Budget:
    """One budget: its name (``MODELGUARD_LIMIT_<name>``), default, unit, rule and what it bounds."""

    name: str
    default: float
    unit: str
    rule: str
    about: str
    loosen: str = "raise"
    """how the budget is loosened: ``raise`` (a cap) or ``lower`` (a floor, the minimum rate)"""

    @property
    def variable(self) -> str:
        return f"MODELGUARD_LIMIT_{self.name}"

    def hatch(self) -> str:
        """The escape hatch, as every message over this budget ends."""
        return f"{self.loosen} {self.variable} only if you trust the source"


_b = Budget


class Budgets:
    """Every budget, by attribute; values may be overridden by the environment (see :func:`active`)."""

    # --- Hub and mirror metadata (modelguard.hub) -------------------------------------------
    answer_bytes = _b("ANSWER_BYTES", 64 * MIB, "bytes", "MG-H130",
                      "one Hub or mirror API answer (a 100,000-file model info is about 25 MiB)")
    pages = _b("PAGES", 1000, "pages", "MG-H131",
               "pages of one tree listing (the Hub sends 1,000 files a page: a million files)")
    files = _b("FILES", 1_000_000, "entries", "MG-H132",
               "files and folders of one repo, listed or locked (the Hub caps repos far lower)")
    json_depth = _b("JSON_DEPTH", 64, "levels", "MG-H133",
                    "nesting of any JSON modelguard reads (Hub answers are 4 deep, records 5)")
    # --- transfers (modelguard.hub.transport / client): per request, per file ----------------
    connect_timeout = _b("CONNECT_TIMEOUT", 10, "seconds", "MG-H134", "to open a connection")
    read_timeout = _b("READ_TIMEOUT", 60, "seconds", "MG-H134",
                      "between two pieces of one answer while nothing arrives")
    min_rate = _b("MIN_RATE", 4 * KIB, "bytes/s", "MG-H134",
                  "average rate of one transfer over each window (a 1990s modem is faster)", "lower")
    rate_window = _b("RATE_WINDOW", 60, "seconds", "MG-H134", "the window min-rate is averaged over")
    answer_deadline = _b("ANSWER_DEADLINE", 300, "seconds", "MG-H135",
                         "one metadata answer, from request to last byte")
    file_deadline = _b("FILE_DEADLINE", 24 * 3600, "seconds", "MG-H135",
                       "one file download, from request to last byte")
    retries = _b("RETRIES", 4, "tries", "MG-H134", "tries after the first of a failed or stalled request")
    # --- names the verified cache must hold (checked at lock, again at fetch) ----------------
    path_bytes = _b("PATH_BYTES", 1024, "bytes", "MG-H137",
                    "one repo-relative file path (UTF-8); the cache adds its own prefix")
    # --- files the user's repository holds (modelguard.spec) ---------------------------------
    lock_bytes = _b("LOCK_BYTES", 64 * MIB, "bytes", "MG-L020",
                    "modelguard.lock (a 100,000-file model locks in about 25 MiB)")
    config_bytes = _b("CONFIG_BYTES", 4 * MIB, "bytes", "MG-L020",
                      "modelguard.toml or a policy file")
    line_bytes = _b("LINE_BYTES", 64 * KIB, "bytes", "MG-L020",
                    "one line of a lockfile, manifest or policy (a locked file is one line)")
    toml_depth = _b("TOML_DEPTH", 16, "levels", "MG-L021",
                    "nesting of arrays and inline tables in TOML (the lockfile needs 3)")
    models = _b("MODELS", 10_000, "entries", "MG-L022", "models in one manifest or lockfile")
    # --- signatures, records and logs (modelguard.trust, modelguard.store) -------------------
    signature_bytes = _b("SIGNATURE_BYTES", 64 * MIB, "bytes", "MG-L025",
                         "model.sig (a bundle hashing 100,000 files is about 15 MiB)")
    record_bytes = _b("RECORD_BYTES", 256 * MIB, "bytes", "MG-H140",
                      "one admission record (files, hashes and findings of one snapshot)")
    audit_line_bytes = _b("AUDIT_LINE_BYTES", 4 * MIB, "bytes", "MG-H141", "one line of audit.log")


BUDGETS = Budgets()
_ALL: dict[str, Budget] = {k: v for k, v in vars(Budgets).items() if isinstance(v, Budget)}


@dataclass(frozen=True)
class Limits:
    """The values in force: the defaults of :data:`BUDGETS`, overridden by ``MODELGUARD_LIMIT_*``."""

    answer_bytes: int
    pages: int
    files: int
    json_depth: int
    connect_timeout: float
    read_timeout: float
    min_rate: float
    rate_window: float
    answer_deadline: float
    file_deadline: float
    retries: int
    path_bytes: int
    lock_bytes: int
    config_bytes: int
    line_bytes: int
    toml_depth: int
    models: int
    signature_bytes: int
    record_bytes: int
    audit_line_bytes: int

    @property
    def lock_signature_bytes(self) -> int:
        """``modelguard.lock.sig`` carries the whole lockfile, base64: 4/3 of it, plus the envelope."""
        return self.lock_bytes * 4 // 3 + MIB


_INTEGER_UNITS = ("bytes", "pages", "entries", "levels", "tries")


def limits_from(environ: Mapping[str, str]) -> Limits:
    """The :class:`Limits` ``environ`` sets (pure: the caller passes the environment)."""
    values: dict[str, float] = {}
    for field_name, budget in _ALL.items():
        raw = environ.get(budget.variable, "").strip()
        value = budget.default
        if raw:
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            lowest_ok = value >= 0 if budget.unit == "tries" else value > 0  # 0 retries is a choice
            if not lowest_ok or value == float("inf"):
                raise UsageError(f"{budget.variable}={raw[:20]!r} is not a positive number of {budget.unit}; "
                                 f"unset it for the default ({budget.default:g})")
        values[field_name] = int(value) if budget.unit in _INTEGER_UNITS else value
    return Limits(**values)  # type: ignore[arg-type]


_cache: tuple[tuple[tuple[str, str], ...], Limits] | None = None


def active() -> Limits:
    """The limits in force now (``MODELGUARD_LIMIT_*`` read at call time, parsed once per change)."""
    global _cache
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("MODELGUARD_LIMIT_")))
    if _cache is None or _cache[0] != key:
        _cache = (key, limits_from(os.environ))
    return _cache[1]


_FIELD = {budget.name: field_name for field_name, budget in _ALL.items()}


def value_of(budget: Budget) -> Any:
    """The value in force for ``budget`` (an int for counts and bytes, a float for seconds and rates)."""
    return getattr(active(), _FIELD[budget.name])


def over(budget: Budget, what: str) -> str:
    """The end of the one line for an input over ``budget``: ``what`` exceeds it, and the escape hatch."""
    return f"{what} exceeds the budget of {show(budget)} ({budget.hatch()})"


def show(budget: Budget) -> str:
    """The value in force, with its unit: ``64 MiB``, ``1000 pages``, ``4 KiB/s``."""
    value = value_of(budget)
    unit = budget.unit
    if unit.startswith("bytes"):
        rest = unit[len("bytes"):]
        for size, name in ((MIB, "MiB"), (KIB, "KiB")):
            if value >= size and value % size == 0:
                return f"{int(value) // size} {name}{rest}"
        return f"{value:g} B{rest}"
    return f"{value:g} {unit}"


class OverBudget(ModelguardError):
    """An input over one of its budgets. Each reader re-raises it as its own kind of error (a lockfile
    over budget is a :class:`~modelguard.errors.LockfileError`, a Hub answer an integrity error), keeping
    the message and the rule; passed through unconverted it means "this input cannot be used" (exit 2)."""

    exit_code = ExitCode.USAGE

    def __init__(self, budget: Budget, what: str) -> None:
        super().__init__(over(budget, what), rule=budget.rule)
        self.budget = budget
