"""Jinja chat templates (tokenizer_config.json, GGUF metadata, chat_template.jinja): sandbox escapes.

Owns the static review of template text that transformers, vLLM, llama-cpp-python and
Ollama render for every request. jinja2 is not a dependency, so the template is split into
its code blocks (``{{ }}``, ``{% %}``) by a small lexer and the code is checked without
rendering: Python internals (``__class__``, ``__globals__`` ...), escaped or computed
underscores, ``str.format`` tricks (a literal format string whose fields only name or number
their arguments is ordinary: real chat templates build special tokens that way), ``attr()``
indirection and os/popen/import names.
Literal text outside code blocks is ignored, so a system prompt that *talks about* Python
does not trip it. Must never render or compile the template.
"""

from __future__ import annotations

import re
import string

from modelguard.models import Finding, Severity
from modelguard.report.rules import finding
from modelguard.scan.base import Outcome, ScanContext, Source

# Where code blocks ({{ }}, {% %}) and comments ({# #}) open; each block is then read like
# Jinja's lexer reads it (see _blocks).
_OPEN = re.compile(r"\{\{|\{%|\{#")
_CLOSE = {"{{": "}}", "{%": "%}"}
_PAIRS = {"(": ")", "[": "]", "{": "}"}
_SIGNIFICANT = re.compile(r"[\"'()\[\]{}%]")
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.DOTALL)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPED_CHAR = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3})")

# Names that no chat template needs and every known escape uses.
_ESCAPE_NAMES = frozenset("""os popen subprocess eval exec getattr setattr globals builtins mro subclasses
    import_module func_globals f_globals f_back f_locals gi_frame gi_code cr_frame tb_frame co_code
    format_map""".split())
# Jinja globals and Flask-style objects that escape chains start from; legal Jinja, odd in a chat template.
_ODD_NAMES = frozenset("cycler joiner lipsum url_for get_flashed_messages request config self environ".split())
_DUNDER_NAMES = (r"__(?:class|globals|builtins|init|mro|subclasses|import|base|bases|dict|"
                 r"getattribute|reduce|reduce_ex|code|func|self|module|loader|spec)__")
_DUNDER_IN_STRING = re.compile(r"^_{2}\w+_{2}$|\.__|" + _DUNDER_NAMES)
_DUNDER_NAME = re.compile(_DUNDER_NAMES)
_UNUSUAL_TAGS = frozenset({"include", "import", "from", "extends"})
_LOADS = "(loads other templates)"


def scan(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """A standalone template file (``chat_template.jinja``), rendered by name by transformers and vLLM."""
    text = source.read_all(ctx.limits.max_text_bytes).decode("utf-8", errors="replace")
    return Outcome("jinja", check_template(text, source.name if ctx.depth else ""))


def check_template(text: str, location: str) -> list[Finding]:
    """Findings for one template; empty when nothing unusual is found."""
    escapes: list[str] = []
    unusual: list[str] = []
    pieces: list[str] = []
    for code in _blocks(text):
        _check_code(code.strip("-+ \t\r\n"), escapes, unusual)
        pieces += [s[1:-1] for s in _STRING.findall(code)]
    if not escapes and _DUNDER_NAME.search("".join(pieces)):
        # '__i' ~ 'nit__', ['__glo', 'bals__']|join, or pieces kept in {% set %} variables
        escapes.append("a dunder name assembled from string pieces")
    if escapes:
        # The odd constructs are part of the same escape: one finding that names them all.
        return [finding("MG-S601", f"template reaches Python internals: {', '.join(_first(escapes + unusual))}",
                        location=location, detail=_excerpt(text))]
    loads = [u for u in unusual if u.endswith(_LOADS)]
    if len(loads) < len(unusual):
        return [finding("MG-S602", f"template uses {', '.join(_first(unusual))}", location=location)]
    if loads:
        # include/import/extends name another template for the environment's loader. The chat
        # renderers (transformers' and vLLM's ImmutableSandboxedEnvironment, llama.cpp's minja) have
        # none, so the tag fails there; where an application has one (HTML report templates: mne,
        # nilearn), it loads templates from its own search path, rendered in the same sandbox.
        # Listed, not failing: only what leaves the sandbox raises the verdict.
        return [finding("MG-S602", f"template uses {', '.join(_first(loads))}; no chat-template renderer has a "
                        "loader for it", location=location, severity=Severity.INFO)]
    return []


def _blocks(text: str) -> list[str]:
    """The code of every {{ }} and {% %} block, ended where Jinja's lexer ends it: not inside a
    string literal, and not while a bracket is open (``{{ '}}' ~ x }}``, ``{{ {1:{}}|length ~ x }}``).
    Comments are dropped; a block that never closes runs to the end (Jinja refuses it)."""
    out: list[str] = []
    pos = 0
    while (m := _OPEN.search(text, pos)) is not None:
        start = m.end()
        if m.group() == "{#":
            end = text.find("#}", start)
            pos = len(text) if end < 0 else end + 2
            continue
        close, i = _CLOSE[m.group()], start
        stack: list[str] = []
        while (hit := _SIGNIFICANT.search(text, i)) is not None:
            i = hit.start()
            if not stack and text.startswith(close, i):
                break
            string = _STRING.match(text, i)
            if string:
                i = string.end()
                continue
            c = text[i]
            if c in _PAIRS:
                stack.append(_PAIRS[c])
            elif stack and c == stack[-1]:
                stack.pop()
            i += 1
        else:
            i = len(text)
        out.append(text[start:i])
        pos = i + len(close)
    return out


def looks_like_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def _check_code(code: str, escapes: list[str], unusual: list[str]) -> None:
    strings = [s[1:-1] for s in _STRING.findall(code)]
    bare = _STRING.sub("''", code)
    # A lone '_' is ordinary (`replace('-', '_')`); multiplied, repeated or fed to attr() it spells a dunder.
    builds_names = bool(re.search(r"\*|\battr\b", bare)) or sum(s == "_" for s in strings) > 1
    if "__" in bare or any(_DUNDER_IN_STRING.search(s) for s in strings):
        escapes.append("a dunder name (__...__)")
    if any(_hides_name_char(s) for s in strings):
        escapes.append("an escaped character in a string (hides '_' or '.')")
    if any(s and set(s) == {"_"} and (len(s) > 1 or builds_names) for s in strings):
        escapes.append("an underscore-only string (builds a dunder name)")
    if any("%c" in s for s in strings):
        escapes.append("a %c format (builds names from character codes)")
    for ident in _IDENT.findall(bare):
        if ident in _ESCAPE_NAMES:
            escapes.append(f"the name {ident!r}")
        elif ident in _ODD_NAMES:
            unusual.append(f"the name {ident!r}")
    for s in strings:
        if s.strip() in _ESCAPE_NAMES:
            escapes.append(f"the string {s.strip()!r}")
    if re.search(r"\battr\s*\((?!\s*''\s*\))", bare):
        # attr() of anything but one string literal: a name computed at render time
        escapes.append("attr() with a computed name")
    if re.search(r"\|\s*string\s*(?:\|\s*list\s*)?\)\s*\[\s*-?\d", bare):
        # (lipsum|string|list)[18] is '_': characters cut from an object's text build dunder names
        escapes.append("characters cut from the text of an object")
    if len(re.findall(r"\.\s*format\b", bare)) > len(_plain_formats(code)):
        # str.format on a computed string, or with attribute/index lookups in its fields: the
        # lookups run outside the sandbox's attribute checks in Jinja releases before 3.1.5.
        unusual.append("str.format")
    if re.search(r"\battr\s*\(", bare):
        unusual.append("attr()")
    words = bare.split()
    if words and words[0] in _UNUSUAL_TAGS:
        unusual.append(f"the {words[0]!r} tag {_LOADS}")


_LITERAL_FORMAT = re.compile(r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\s*\.\s*format\s*\(", re.DOTALL)


def _plain_formats(code: str) -> list[str]:
    """The ``'literal'.format(...)`` calls whose replacement fields only name or number an
    argument (``'<|eos{}|>'.format(tag)``): they look nothing up, so the sandbox has nothing to
    check. A field such as ``{0.attr}`` or ``{x[k]}`` traverses its argument and does not count."""
    plain: list[str] = []
    for m in _LITERAL_FORMAT.finditer(code):
        literal = m.group(1)[1:-1]
        try:
            fields = [(name, spec) for _, name, spec, _ in string.Formatter().parse(literal) if name is not None]
        except ValueError:
            continue
        if all(re.fullmatch(r"\w*", name) and "{" not in (spec or "") for name, spec in fields):
            plain.append(literal)
    return plain


def _hides_name_char(s: str) -> bool:
    """An escape sequence that spells a name character ('_', '.', a letter or digit)."""
    for m in _ESCAPED_CHAR.finditer(s):
        esc = m.group(0)[1:]
        code = int(esc[1:], 16) if esc[0] in "xuU" else int(esc, 8)
        if code < 128 and (chr(code).isalnum() or chr(code) in "_."):
            return True
    return False


def _first(items: list[str], n: int = 5) -> list[str]:
    seen: list[str] = []
    for i in items:
        if i not in seen:
            seen.append(i)
    return seen[:n] + ([f"and {len(seen) - n} more"] if len(seen) > n else [])


def _excerpt(text: str, n: int = 400) -> str:
    return text if len(text) <= n else text[:n] + "..."
