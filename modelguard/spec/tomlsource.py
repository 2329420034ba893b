"""TOML the user wrote -> plain values, line numbers and typed reads with actionable errors.

Shared by :mod:`modelguard.spec.manifest` and :mod:`modelguard.spec.policy`. Parsing is the
standard library's (tomlkit's on Python 3.10); this module adds what neither gives: the 1-based
line of every table header and key, so an error (and later a finding) can say ``modelguard.toml:12``.
Every problem is raised as
:class:`~modelguard.errors.ConfigError` (exit 2) naming the file, the line and what to do, except a
file that cannot be read (exit 3).
Everything is bounded before the parser sees it: the file's size (:func:`read_text`), and line
lengths, nesting and dotted-key segments (:func:`key_lines`), per :mod:`modelguard.spec.limits`.
Pure apart from :func:`read_text`; must not import hub, cache or scanners.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from modelguard.errors import ConfigError, UsageError
from modelguard.spec import bounded, limits


def read_text(path: str) -> str:
    """The text of a manifest or policy file, read within the ``CONFIG_BYTES`` budget.

    Missing, not a regular file (``/dev/zero``), not UTF-8 or over budget: :class:`ConfigError`
    (exit 2, the user's input is wrong). Unreadable (permissions, I/O error):
    :class:`~modelguard.errors.UnreadableError` (exit 3), naming the file.
    """
    try:
        raw = bounded.read_capped(path, limits.BUDGETS.config_bytes, limits.active().config_bytes)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; create it or pass the right path") from None
    except (limits.OverBudget, UsageError) as e:
        raise ConfigError(e.message, rule=e.rule) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None


def parse_toml(text: str, source: str) -> tuple[dict[str, Any], dict[str, int]]:
    """Parse ``text`` into plain Python values and a map of key paths to lines."""
    try:
        lines = key_lines(text, source=source)  # bounded before the parser sees it
    except limits.OverBudget as e:
        raise ConfigError(e.message, rule=e.rule) from None
    try:
        return loads(text), lines
    except TomlSyntaxError as e:
        raise ConfigError(f"{source}:{e.line}: invalid TOML ({e.message}); fix the syntax") from None


class TomlSyntaxError(ValueError):
    """Text that is not TOML: the 1-based ``line`` where the reader stopped ("?" when it does not say)."""

    def __init__(self, line: str, message: str) -> None:
        super().__init__(f"{message} (line {line})")
        self.line = line
        self.message = message


def loads(text: str) -> dict[str, Any]:
    """Plain values of a TOML text, for every file modelguard reads (tomlkit only edits): the standard
    library's reader where there is one (a fifth of tomlkit's import and parse time, on every
    command's path), tomlkit's on Python 3.10. Both read TOML 1.0. Not bounded here: callers run
    :func:`key_lines` (or read within a budget) first. Raises :class:`TomlSyntaxError`."""
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            # "Invalid value (at line 3, column 7)"
            found = re.search(r"\(at line (\d+), column \d+\)$", str(e))
            raise TomlSyntaxError(found.group(1) if found else "?",
                                  str(e)[:found.start()].rstrip() if found else str(e)) from None
    import tomlkit  # pragma: no cover - Python 3.10
    import tomlkit.exceptions

    try:  # pragma: no cover - Python 3.10
        data: dict[str, Any] = tomlkit.parse(text).unwrap()
        return data
    except tomlkit.exceptions.ParseError as e:  # pragma: no cover - Python 3.10
        cut = str(e).rfind(" at line ")
        raise TomlSyntaxError(str(e.line), str(e)[:cut] if cut > 0 else str(e)) from None


def key_lines(text: str, *, source: str = "<toml>") -> dict[str, int]:
    """1-based lines of table headers and keys, by path; raises :class:`~modelguard.spec.limits.OverBudget`
    first when the text is shaped to hurt a parser (see :class:`_Shape`).

    Paths: ``policy``, ``policy.fail-on``, ``hf-model[0]``, ``hf-model[0].repo``,
    ``policy.remote-code[1].files``. Keys inside multi-line arrays, inline tables and
    multi-line strings are not listed; their enclosing key is.
    """
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    current = ""
    shape = _Shape(source)
    for number, raw in enumerate(text.splitlines(), start=1):
        shape.start_line(number, raw)
        if shape.inside:
            shape.scan(raw)
            continue
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("["):
            double = stripped.startswith("[[")
            inner = stripped[2 : stripped.find("]]")] if double else stripped[1 : stripped.find("]")]
            shape.header(inner)
            name = _header_name(inner)
            if double:
                index = counts.get(name, 0)
                counts[name] = index + 1
                current = f"{name}[{index}]"
                lines[current] = number
                lines.setdefault(name, number)
            else:
                current = name
                lines.setdefault(current, number)
            continue
        key, eq, _ = stripped.partition("=")
        if eq:
            path = _header_name(key)
            lines.setdefault(f"{current}.{path}" if current else path, number)
        shape.scan(raw)
    return lines


def _header_name(raw: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


# Strings are matched without a group repeated per character: Python's regex engine keeps
# backtracking state per repetition, and a 50 MB lockfile string once took 6 GB that way.
_TOKEN = re.compile(r"""\"\"\"|'''|["'#\[\]{}=,.]""")
_BASIC_REST = re.compile(r'[^"\\\n]*(?:\\.[^"\\\n]*)*"')
_ML_BASIC_REST = re.compile(r'[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*"""', re.DOTALL)


class _Shape:
    """Follows TOML across lines far enough to bound what a parser would recurse or loop on.

    tomllib recurses once per array or inline-table level (``RecursionError`` near 1,000 levels),
    takes quadratic time in the segments of a dotted key (14 s for 20,000), and returns tables
    nested as deep as both together. So every line is at most ``line_bytes``, arrays and inline
    tables nest at most ``toml_depth`` levels, and a key or header has fewer than ``toml_depth``
    dotted segments. Strings and comments are skipped as TOML defines them, so what is counted is
    what a parser would see as structure.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.limits = limits.active()
        self.stack: list[str] = []
        self.in_string: str | None = None
        self.in_key = False
        self.dots = 0
        self.number = 0

    @property
    def inside(self) -> bool:
        """Inside a multi-line string or an open array or inline table."""
        return self.in_string is not None or bool(self.stack)

    def start_line(self, number: int, raw: str) -> None:
        self.number = number
        cap = self.limits.line_bytes
        if len(raw) > cap // 4 and len(raw.encode("utf-8", "surrogatepass")) > cap:
            raise limits.OverBudget(limits.BUDGETS.line_bytes, f"{self.source}:{number}: this line")
        if not self.inside:
            self.in_key, self.dots = True, 0

    def header(self, name: str) -> None:
        """A table header's name: counted like a key."""
        self.in_key, self.dots = True, 0
        self.scan(name)
        self.in_key, self.in_string = False, None

    def _too_deep(self) -> limits.OverBudget:
        return limits.OverBudget(limits.BUDGETS.toml_depth, f"{self.source}:{self.number}: the nesting here")

    def scan(self, fragment: str) -> None:
        i = 0
        while True:
            if self.in_string is not None:
                i = self._string_end(fragment, i)
                if i < 0:
                    return
            match = _TOKEN.search(fragment, i)
            if match is None:
                return
            lexeme, i = match.group(), match.end()
            if lexeme == "#":
                return
            if lexeme in ('"""', "'''", '"', "'"):
                self.in_string = lexeme
            elif lexeme in "[{":
                self.stack.append(lexeme)
                if len(self.stack) > self.limits.toml_depth:
                    raise self._too_deep()
                self.in_key, self.dots = lexeme == "{", 0
            elif lexeme in "]}":
                if self.stack:
                    self.stack.pop()
                self.in_key = False
            elif lexeme == "=":
                self.in_key = False
            elif lexeme == ",":
                self.in_key, self.dots = bool(self.stack) and self.stack[-1] == "{", 0
            elif self.in_key:  # a "." between the segments of a dotted key
                self.dots += 1
                if self.dots >= self.limits.toml_depth:
                    raise self._too_deep()

    def _string_end(self, fragment: str, i: int) -> int:
        """Where the open string ends in ``fragment`` (just after its quotes), or -1 if not on this line."""
        quote, self.in_string = self.in_string, None
        if quote in ("'''", "'"):
            end = fragment.find(quote, i)
            if end < 0:
                self.in_string = quote if quote == "'''" else None  # a one-line string ends with its line
                return -1
            return end + len(quote)
        pattern = _ML_BASIC_REST if quote == '"""' else _BASIC_REST
        match = pattern.match(fragment, i)
        if match is None:
            self.in_string = quote if quote == '"""' else None
            return -1
        return match.end()


@dataclass(frozen=True)
class Table:
    """One TOML table (or array-of-tables element) being read, with where it is."""

    data: Mapping[str, Any]
    path: str
    """key path of this table in :func:`key_lines` form (``hf-model[2]``)"""
    source: str
    lines: Mapping[str, int]

    def line(self, key: str | None = None) -> int:
        """Line of ``key`` in this table, else of the table itself, else of an enclosing one."""
        candidates = [self._full(key)] if key else []
        probe = self.path
        while probe:
            candidates.append(probe)
            if probe.endswith("]"):
                probe = probe[: probe.rfind("[")]
            elif "." in probe:
                probe = probe.rsplit(".", 1)[0]
            else:
                break
        for candidate in candidates:
            if candidate in self.lines:
                return self.lines[candidate]
        return 0

    def error(self, key: str | None, problem: str) -> ConfigError:
        where = f"{self.source}:{self.line(key)}" if self.line(key) else self.source
        label = f"{self.path}.{key}" if key and self.path else (key or self.path or "top level")
        return ConfigError(f"{where}: {label}: {problem}")

    def check_keys(self, allowed: Collection[str]) -> None:
        for key in self.data:
            if key not in allowed:
                near = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
                hint = f"did you mean {near[0]!r}?" if near else "valid keys: " + ", ".join(sorted(allowed))
                raise self.error(key, f"unknown key; {hint}")

    def require(self, key: str) -> Any:
        if key not in self.data:
            raise self.error(None, f"missing required key {key!r}; add it")
        return self.data[key]

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> str:
        if required:
            value = self.require(key)
        elif key not in self.data:
            return "" if default is None else default
        else:
            value = self.data[key]
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, not {_type_name(value)}")
        if required and not value.strip():
            raise self.error(key, "must not be empty")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {_type_name(value)}")
        return value

    def integer(self, key: str, default: int, *, minimum: int = 0) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer, not {_type_name(value)}")
        if value < minimum:
            raise self.error(key, f"must be at least {minimum}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, f'must be an array of strings (e.g. ["a", "b"]), not {_type_name(value)}')
        return tuple(value)

    def tables(self, key: str) -> list[Table]:
        """The elements of an array of tables (``[[policy.signers]]``)."""
        value = self.data.get(key, [])
        if isinstance(value, Mapping):
            raise self.error(key, f"must be an array of tables: write [[{self._full(key)}]], not [{self._full(key)}]")
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise self.error(key, f"must be an array of tables ([[{self._full(key)}]]), not {_type_name(value)}")
        return [Table(v, f"{self._full(key)}[{i}]", self.source, self.lines) for i, v in enumerate(value)]

    def table(self, key: str) -> Table | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.error(key, f"must be a table, not {_type_name(value)}")
        return Table(value, self._full(key), self.source, self.lines)

    def _full(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
    for kind, name in names.items():
        if type(value) is kind:
            return name
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__


def relative_to(base_file: str, path: str) -> str:
    """``path`` resolved against the folder of ``base_file`` (absolute paths unchanged)."""
    if os.path.isabs(path):
        return path
    return os.path.join(os.path.dirname(os.path.abspath(base_file)), path)


def canonical_sha256(content: object) -> str:
    """SHA-256 of ``content`` as canonical JSON: sorted keys, no whitespace, UTF-8.

    Comments, whitespace, key order and quoting style in the TOML do not change it; any
    change of a value does.
    """
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
