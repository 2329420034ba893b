"""probe(): protocol 0/1 pickles that look like text are pickles; ordinary text is not."""

from __future__ import annotations

import json
import pickle

import pytest

from modelguard.models import Verdict
from modelguard.scan import scan_bytes
from modelguard.scan.base import BytesSource
from modelguard.scan.pickle.scanner import probe
from tests.scan import picklegen as g

NOT_PICKLES = {
    "markdown": b"# Model card\n\nThis model ...\n",
    "readme starting with c": b"contains weights\nfor the model\nsee below.\n",
    "readme starting with (": b"(draft) notes about training.\n",
    "readme starting with I": b"In this repo we ship weights.\n",
    "json object": json.dumps({"architectures": ["Bert"], "hidden_size": 768}).encode(),
    "json list": b"[1, 2, 3]",
    "number": b"1234\n",
    "yaml": b"license: mit\ntags:\n- text\n",
    "python": b"import os\nprint('hi')\n",
    "empty lines": b"\n\n\n",
}


@pytest.mark.parametrize("name", sorted(NOT_PICKLES))
def test_text_is_not_a_pickle(name: str) -> None:
    data = NOT_PICKLES[name]
    assert not probe(BytesSource(data, name))
    assert scan_bytes(data, "README.md").format != "pickle"


@pytest.mark.parametrize("protocol", [0, 1])
def test_protocol_0_and_1_pickles_are_pickles(protocol: int) -> None:
    data = pickle.dumps({"a": [1, 2.0, "x"], "b": None}, protocol=protocol)
    assert probe(BytesSource(data, "vocab.txt"))
    result = scan_bytes(data, "vocab.txt")
    assert result.format == "pickle" and result.verdict is Verdict.CLEAN


def test_text_looking_payload_is_scanned_as_a_pickle() -> None:
    for data in (g.reduce_call("os", "system", protocol=0), g.inst_call("os", "system"),
                 g.obj_call("subprocess", "check_output")):
        assert probe(BytesSource(data, "notes.txt"))
        assert scan_bytes(data, "notes.txt").verdict is Verdict.MALICIOUS


def test_payload_behind_a_giant_string_is_not_called_text() -> None:
    data = b"S'" + b"a" * (5 << 20) + b"'\n0" + g.reduce_call("os", "system", protocol=0)
    assert probe(BytesSource(data, "big.txt"))
    assert scan_bytes(data, "big.txt").verdict is Verdict.MALICIOUS


def test_text_that_genuinely_parses_to_stop_is_a_pickle() -> None:
    assert probe(BytesSource(b"N.", "x"))
    assert not probe(BytesSource(b"N", "x"))
    assert not probe(BytesSource(b"", "x"))
