"""TOML the user wrote -> plain values, line numbers and typed reads with actionable errors.

Shared by :mod:`modelguard.spec.manifest` and :mod:`modelguard.spec.policy`. Parsing is tomlkit's; this
module adds what tomlkit does not give: the 1-based line of every table header and key, so an
error (and later a finding) can say ``modelguard.toml:12``. Every problem is raised as
:class:`~modelguard.errors.ConfigError` (exit 2) naming the file, the line and what to do.
Pure apart from :func:`read_text`; must not import hub, cache or scanners.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import tomlkit
import tomlkit.exceptions

from modelguard.errors import ConfigError


def read_text(path: str) -> str:
    """The text of a manifest or policy file; a missing or unreadable one is a ConfigError."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; create it or pass the right path") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror}); check the path and permissions") from None


def parse_toml(text: str, source: str) -> tuple[dict[str, Any], dict[str, int]]:
    """Parse ``text`` into plain Python values and a map of key paths to lines."""
    try:
        data = tomlkit.parse(text).unwrap()
    except tomlkit.exceptions.ParseError as e:
        raise ConfigError(f"{source}:{e.line}: invalid TOML ({_bare_parse_message(e)}); fix the syntax") from None
    return data, key_lines(text)


def _bare_parse_message(e: tomlkit.exceptions.ParseError) -> str:
    text = str(e)
    cut = text.rfind(" at line ")
    return text[:cut] if cut > 0 else text


def key_lines(text: str) -> dict[str, int]:
    """1-based lines of table headers and keys, by path.

    Paths: ``policy``, ``policy.fail-on``, ``hf-model[0]``, ``hf-model[0].repo``,
    ``policy.remote-code[1].files``. Keys inside multi-line arrays, inline tables and
    multi-line strings are not listed; their enclosing key is.
    """
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    current = ""
    depth = 0
    in_string: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_string is not None or depth > 0:
            depth, in_string = _scan(raw, depth, in_string)
            continue
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[["):
            name = _header_name(stripped[2 : stripped.find("]]")])
            index = counts.get(name, 0)
            counts[name] = index + 1
            current = f"{name}[{index}]"
            lines[current] = number
            lines.setdefault(name, number)
            continue
        if stripped.startswith("["):
            current = _header_name(stripped[1 : stripped.find("]")])
            lines.setdefault(current, number)
            continue
        key, eq, rest = stripped.partition("=")
        if not eq:
            continue
        path = _header_name(key)
        lines.setdefault(f"{current}.{path}" if current else path, number)
        depth, in_string = _scan(rest, 0, None)
    return lines


def _header_name(raw: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


_TOKEN = re.compile("|".join([r'"""', r"'''", r'"(?:[^"\\]|\\.)*"?', r"'[^']*'?", "#", r"[\[\]{}]"]))


def _scan(fragment: str, depth: int, in_string: str | None) -> tuple[int, str | None]:
    """Track bracket depth and open multi-line strings across one line of TOML."""
    i = 0
    while True:
        if in_string is not None:
            end = fragment.find(in_string, i)
            if end < 0:
                return depth, in_string
            i = end + 3
            in_string = None
        match = _TOKEN.search(fragment, i)
        if match is None:
            return depth, in_string
        lexeme = match.group()
        i = match.end()
        if lexeme in ('"""', "'''"):
            in_string = lexeme
        elif lexeme == "#":
            return depth, in_string
        elif lexeme in "[{":
            depth += 1
        elif lexeme in "]}":
            depth = max(0, depth - 1)


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
