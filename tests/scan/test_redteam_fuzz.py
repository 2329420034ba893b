"""A short, fixed-seed run of the mutation fuzzer (tests/scan/fuzz_scanners.py) in the suite,
and the regressions the long campaigns found. Long campaigns run as a script."""

from __future__ import annotations

import pytest

from modelguard.models import Verdict
from modelguard.scan import scan_bytes
from tests.scan import picklegen as g
from tests.scan.fuzz_scanners import Failure, campaign, seeds


@pytest.mark.slow
def test_short_fuzz_campaign_holds_the_oracle() -> None:
    failures = [item for item in campaign(25, seed=20261125) if isinstance(item, Failure)]
    assert failures == [], [(f.seed, f.iteration, f.problem) for f in failures[:5]]


def test_every_oracle_seed_is_caught_unmutated() -> None:
    # The oracle is only as good as its seeds: each payload seed is malicious as written.
    for seed in seeds():
        if seed.oracle != "none":
            assert scan_bytes(seed.data, seed.filename).verdict is Verdict.MALICIOUS, seed.name


def test_text_pickle_followed_by_a_zip_end_record_is_still_analysed() -> None:
    # Found by the fuzzer: "PK\x05\x06" in the tail made the file a zip, the zip reader gave up,
    # and the protocol-0 payload at byte 0 was never analysed (unscannable instead of malicious).
    data = b"cos\nsystem\n(S'echo pwned'\ntR" + b"junk PK\x05\x06 junk"
    assert scan_bytes(data, "model.bin").verdict is Verdict.MALICIOUS


def test_frame_longer_than_the_stream_still_shows_its_payload() -> None:
    # Found by the fuzzer: the analysis stopped at the FRAME opcode; pickle's pure-Python
    # unpickler runs the opcodes of a short frame before it fails.
    data = g.stack_global_call("os", "system", framed=True)[:-1]
    result = scan_bytes(data, "model.pkl")
    assert result.verdict is Verdict.MALICIOUS
    assert {"MG-S001", "MG-S101"} <= {f.rule for f in result.findings}
