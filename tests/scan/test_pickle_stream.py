"""Stream handling: analyze_stream's interface, malformed input, trailing data and limits."""

from __future__ import annotations

import io
import pickle
import struct

from modelguard.models import Verdict
from modelguard.scan import Limits, scan_bytes
from modelguard.scan.base import ScanContext
from modelguard.scan.pickle.scanner import GlobalRef, analyze_stream
from tests.scan import picklegen as g


def rules_of(data: bytes, limits: Limits | None = None) -> set[str]:
    return {f.rule for f in scan_bytes(data, "x.pkl", limits=limits).findings}


def test_static_value_of_plain_data() -> None:
    obj = {"a": [1, 2.5, None, b"x", (True, "t")], "n": -(2**70)}
    for protocol in range(6):
        a = analyze_stream(ScanContext(), io.BytesIO(pickle.dumps(obj, protocol=protocol)), location="x")
        assert a.value == obj and a.complete and a.findings == [], protocol


def test_globals_are_listed_in_order_and_value_is_none_for_objects() -> None:
    a = analyze_stream(ScanContext(), io.BytesIO(g.torch_state_dict_pickle()), location="data.pkl")
    assert a.globals[:2] == [("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2")]
    assert ("torch._utils", "_rebuild_parameter") in a.globals
    assert a.value is None
    assert a.persistent_ids[0] == ("storage", GlobalRef("torch", "FloatStorage"), "0", "cpu", 6)
    assert len(a.persistent_ids) == 3


def test_single_stops_after_the_first_pickle_and_reports_its_end() -> None:
    first = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    data = first + pickle.dumps({"protocol_version": 1001}, protocol=2) + b"\x00" * 64
    a = analyze_stream(ScanContext(), io.BytesIO(data), location="legacy", single=True)
    assert a.end == len(first) and a.value == 0x1950A86A20F9469CFC6C
    b = analyze_stream(ScanContext(), io.BytesIO(data), location="legacy", offset=a.end, single=True)
    assert b.value == {"protocol_version": 1001} and b.findings == []


def test_several_pickles_are_all_analysed() -> None:
    data = pickle.dumps(1) + pickle.dumps("two") + pickle.dumps([3])
    a = analyze_stream(ScanContext(), io.BytesIO(data), location="x")
    assert a.value == [3] and a.end == len(data) and len(a.stops) == 3 and a.findings == []


def test_garbage_after_stop_is_reported() -> None:
    result = scan_bytes(g.benign_ordered_dict() + b"\x00\x00garbage", "x.pkl")
    assert {f.rule for f in result.findings} == {"MG-S105"}
    assert result.verdict is Verdict.SUSPICIOUS


def test_payload_hidden_after_stop_in_another_format_is_scanned() -> None:
    # trailing data that is text holding a protocol-0 payload after junk: scanned as a file of its own
    trailing = g.benign_ordered_dict() + b"\xff" + g.reduce_call("os", "system", protocol=0)
    assert scan_bytes(trailing, "x.pkl").verdict is not Verdict.CLEAN


def test_malformed_streams_are_unscannable() -> None:
    cases = {
        "invalid opcode": b"\x80\x02\xff.",
        "empty stack at STOP": b"\x80\x02.",
        "no STOP": b"\x80\x02N",
        "memo miss": b"\x80\x02h\x05.",
        "mark missing": b"\x80\x02Nt.",
        "odd dict": b"\x80\x02(Nd.",
        "unquoted STRING": b"Sabc\n.",
        "bad STRING escape": b"S'\\x'\n.",
        "bad UNICODE escape": b"V\\u12\n.",  # found by bench/diff_scan.py's mutants: was exit 70
        "frame past end": b"\x80\x04\x95" + struct.pack("<Q", 1000) + b"N.",
        "bytes past end": b"\x80\x03B" + struct.pack("<I", 1000) + b"abc.",
        "underflow below mark": b"\x80\x02N(R.",
    }
    for why, data in cases.items():
        a = analyze_stream(ScanContext(), io.BytesIO(data), location="x")
        assert not a.complete and [f.rule for f in a.findings] == ["MG-S001"], why
        if data.startswith(b"\x80"):
            assert scan_bytes(data, "x.pkl").verdict is Verdict.UNSCANNABLE, why


def test_pop_at_a_mark_pops_the_mark_like_the_c_unpickler() -> None:
    assert rules_of(b"\x80\x02N(0.") == set()
    assert rules_of(b"\x80\x02N(00.") == {"MG-S001"}


def test_unknown_protocol_is_malformed() -> None:
    a = analyze_stream(ScanContext(), io.BytesIO(b"\x80\x06N."), location="x")
    assert not a.complete and [f.rule for f in a.findings] == ["MG-S001"]
    assert "protocol 6" in a.findings[0].message
    assert scan_bytes(b"\x80\x06N.", "x.pkl").verdict is Verdict.UNSCANNABLE


def test_large_payloads_are_skipped_not_read() -> None:
    big = 3 << 20
    data = b"\x80\x05\x8e" + struct.pack("<Q", big) + b"\0" * big + b"\x96" + struct.pack("<Q", big) + b"\0" * big \
        + b"\x86."
    a = analyze_stream(ScanContext(), io.BytesIO(data), location="x", limit=1 << 20)
    assert a.complete and a.findings == [] and a.value is None
    long_line = b"S'" + b"a" * big + b"'\np0\n."
    assert rules_of(long_line) == set()


def test_deep_nesting_does_not_crash() -> None:
    depth = 100_000
    data = b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."
    assert rules_of(data) == set()


def test_limits_become_findings() -> None:
    many = pickle.dumps(list(range(5000)), protocol=2)
    assert rules_of(many, Limits(max_pickle_container_items=1000)) == {"MG-S003"}
    assert rules_of(many, Limits(max_pickle_ops=100)) == {"MG-S003"}
    a = analyze_stream(ScanContext(), io.BytesIO(many), location="x", limit=1000)
    assert not a.complete and [f.rule for f in a.findings] == ["MG-S003"]
    memo_bomb = b"\x80\x02N" + b"\x94" * 5000 + b"."
    assert rules_of(memo_bomb, Limits(max_pickle_container_items=1000)) == {"MG-S003"}


def test_limit_keeps_earlier_findings() -> None:
    data = g.reduce_call("os", "system")[:-1] + b"N" * 500 + b"."
    result = scan_bytes(data, "x.pkl", limits=Limits(max_pickle_ops=100))
    assert {f.rule for f in result.findings} == {"MG-S101", "MG-S003"}
    assert result.verdict is Verdict.MALICIOUS


def test_policy_additions_extend_the_allowlist() -> None:
    data = g.reduce_call("mypackage.models", "Net", 1)
    assert scan_bytes(data, "x.pkl", extra_safe_globals=[("mypackage.models", "Net")]).verdict is Verdict.CLEAN
    assert scan_bytes(data, "x.pkl", extra_safe_globals=[("mypackage.models", "Other")]).verdict is Verdict.SUSPICIOUS


def test_trailing_data_scan_at_the_depth_limit_is_a_limit_finding() -> None:
    from modelguard.scan import scan_source
    from modelguard.scan.base import BytesSource
    from modelguard.scan.pickle.scanner import scan

    ctx = ScanContext(depth=Limits().max_depth, nested_scanner=scan_source)
    data = g.benign_ordered_dict() + b"junk after the pickle"
    outcome = scan(ctx, BytesSource(data, "x.pkl"), data[:64])
    assert {f.rule for f in outcome.findings} == {"MG-S105", "MG-S003"}


def test_out_of_band_buffers_parse() -> None:
    a = analyze_stream(ScanContext(), io.BytesIO(b"\x80\x05\x97\x98\x97\x86."), location="x")
    assert a.complete and a.findings == [] and a.value is None
