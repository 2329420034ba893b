"""Jinja chat-template review: real-world shapes pass, known escape shapes are caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.scan.templates import check_template

# Shapes of popular chat templates (ChatML with namespace, Llama-3 style, tool calls, think tags).
BENIGN = [
    "{%- set ns = namespace(found=false) -%}{%- for message in messages -%}{%- if message['role'] == 'system' -%}"
    "{%- set ns.found = true -%}{%- endif -%}{%- endfor -%}{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + '<|im_end|>\\n' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
    "{{- bos_token }}{%- if tools is not none %}{{- 'Environment: ipython\\n' }}{%- endif %}"
    "{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{%- if message.tool_calls %}{%- for tc in message.tool_calls %}{{- tc.function.arguments | tojson }}"
    "{%- endfor %}{%- endif %}{{- message['content'] | trim + '<|eot_id|>' }}{%- endfor %}",
    "{% for m in messages %}{% set content = m.content.split('</think>')[-1].lstrip('\\n') %}"
    "{{ '<｜User｜>' if m.role == 'user' else '<｜Assistant｜>' }}{{ content }}{% endfor %}",
    "{# a comment that mentions __class__ is not code #}Explain Python's __init__ method: {{ messages[0].content }}",
    "{{ raise_exception('Conversation roles must alternate user/assistant') if loop.index0 % 2 == 1 }}",
    "{%- for tool in tools %}{{- '<tool>' ~ tool.function.name | replace('-', '_') ~ '</tool>' }}{%- endfor %}",
    "{{- 'Today Date: ' + strftime_now('%d %b %Y') + '\\n' }}{{ message.content | tojson }}",
]

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('echo pwned').read() }}",
    "{{ joiner.__init__.__globals__['__builtins__']['__import__']('os').system('echo pwned') }}",
    "{{ namespace.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum|attr('\\x5f\\x5fglobals\\x5f\\x5f') }}",
    "{{ x|attr('\\u005f\\u005fclass\\u005f\\u005f') }}",
    "{% set u = '_' * 2 %}{{ x|attr(u ~ 'class' ~ u) }}",
    "{% set u = '__' %}{{ x|attr(u + 'class' + u) }}",
    "{% set a = '_' %}{% set u = a ~ '_' %}{{ x[u ~ 'class' ~ '_' ~ '_'] }}",
    "{{ ('%c%c%c%c%c%c%c%c%c' | format(95,95,99,108,97,115,115,95,95)) }}",
    "{{ '{0.__class__}'.format(x) }}",
    "{{ x|attr('popen') }}",
    "{{ self._TemplateReference__context }}",
    "{{ request.application.__globals__.__builtins__.__import__('os') }}",
]


@pytest.mark.parametrize("template", BENIGN)
def test_real_template_shapes_are_clean(template: str) -> None:
    assert check_template(template, "chat_template") == []


@pytest.mark.parametrize("template", ESCAPES)
def test_escape_shapes_are_malicious(template: str) -> None:
    found = check_template(template, "chat_template")
    assert [f.rule for f in found][:1] == ["MG-S601"], found
    assert found[0].verdict.value == "malicious" and found[0].location == "chat_template"


@pytest.mark.parametrize("template", [
    "{% include 'other.jinja' %}",
    "{{ x|attr('content') }}",
    "{% set c = cycler('a', 'b') %}{{ c.next() }}",
    "{{ '{0.content}'.format(m) }}",
    "{{ '{x[role]}'.format(x=m) }}",
    "{{ fmt.format(name) }}",
    "{{ ('{' ~ n ~ '}').format(name) }}",
])
def test_unusual_constructs_are_suspicious(template: str) -> None:
    assert [f.rule for f in check_template(template, "t")] == ["MG-S602"]


@pytest.mark.parametrize("template", [
    "{{ 'hi {}'.format(name) }}",
    "{%- set eos_token = '<｜hy_eos{}｜>'.format(HYTK) %}{{ eos_token }}",  # llama.cpp models/templates/tencent-Hy3
    "{{ '{0}: {1:>8}'.format(role, n) }}{{ \"{name}\".format(name=m.role) }}",
])
def test_literal_str_format_with_plain_fields_is_clean(template: str) -> None:
    """Only lookups inside format fields reach past the sandbox; naming an argument does not."""
    assert check_template(template, "t") == []


def test_chat_template_jinja_file_is_reviewed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "chat_template.jinja"
    good.write_text(BENIGN[0])
    assert run(["scan", "--format", "json", str(good)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"][0]["format"] == "jinja" and doc["files"][0]["verdict"] == "clean"
    bad = tmp_path / "chat_template.jinja"
    bad.write_text(ESCAPES[1])
    assert run(["scan", "--format", "json", str(bad)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"][0]["verdict"] == "malicious" and doc["findings"][0]["rule"] == "MG-S601"
