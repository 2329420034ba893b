"""Benign pickles real tools write must come out clean (false positives are a bug too)."""

from __future__ import annotations

import collections
import datetime
import pickle

import numpy as np
import pytest

from modelguard.models import Verdict
from modelguard.scan import scan_bytes
from modelguard.scan.pickle.allowlist import SAFE_GLOBALS, Safety, classify
from tests.scan import picklegen as g


def assert_clean(data: bytes) -> None:
    result = scan_bytes(data, "model.bin")
    assert result.verdict is Verdict.CLEAN, [(f.rule, f.message) for f in result.findings]
    assert result.format == "pickle"


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
@pytest.mark.parametrize("protocol", range(6))
def test_numpy_arrays_pickled_by_numpy_are_clean(protocol: int) -> None:
    objects = [
        np.arange(12, dtype="f4").reshape(3, 4),
        np.array(["a", "bc"]),
        np.array([1, "x", None], dtype=object),
        np.zeros((2, 2), dtype=[("x", "i4"), ("y", "f8")]),
        np.float64(1.5),
        np.int64(7),
        np.dtype("U3"),
        np.asfortranarray(np.ones((2, 3))),
        np.matrix([[1, 2], [3, 4]]),
        np.ma.masked_array([1, 2, 3], mask=[0, 1, 0]),
        np.random.RandomState(0),
        np.random.default_rng(0),
    ]
    for obj in objects:
        assert_clean(pickle.dumps(obj, protocol=protocol))


@pytest.mark.parametrize("protocol", range(6))
def test_python_containers_are_clean(protocol: int) -> None:
    obj = {
        "od": collections.OrderedDict(a=1),
        "dd": collections.defaultdict(list, {"k": [1]}),
        "counter": collections.Counter("aab"),
        "set": {1, 2},
        "frozen": frozenset({3}),
        "bytes": b"\x00\xff",
        "bytearray": bytearray(b"ab"),
        "slice": slice(1, 2),
        "complex": 1 + 2j,
        "range": range(3),
        "when": datetime.datetime(2024, 1, 2, 3, 4, 5),
        "nested": [[{"x": (1, 2.0, None, True)}]],
    }
    assert_clean(pickle.dumps(obj, protocol=protocol))


def test_torch_state_dict_layout_is_clean() -> None:
    assert_clean(g.torch_state_dict_pickle())
    assert_clean(g.torch_state_dict_pickle(parameter=False))


def test_sklearn_like_estimator_is_clean() -> None:
    assert_clean(g.sklearn_estimator_pickle())
    assert_clean(g.sklearn_estimator_pickle(protocol=2))


def test_ordered_dict_in_every_protocol() -> None:
    for protocol in range(6):
        assert_clean(g.benign_ordered_dict(protocol))


def test_allowlist_and_denylist_do_not_overlap() -> None:
    clash = sorted(pair for pair in SAFE_GLOBALS if classify(*pair) is not Safety.SAFE)
    assert clash == []


def test_class_families_are_allowed_but_not_their_functions_or_risky_subpackages() -> None:
    assert classify("sklearn.linear_model._logistic", "LogisticRegression") is Safety.SAFE
    assert classify("torch.nn.modules.linear", "Linear") is Safety.SAFE
    assert classify("sklearn.utils", "some_function") is Safety.UNKNOWN
    assert classify("sklearn.datasets._openml", "OpenMLCache") is Safety.UNKNOWN
    # ...except an exact pair an allowlist pack reviewed: Bunch is a dict whose __setstate__ does nothing
    assert classify("sklearn.datasets._base", "Bunch") is Safety.SAFE
    assert classify("sklearn.linear_model", "LogisticRegression.__init__") is Safety.UNKNOWN
    assert classify("__builtin__", "set") is Safety.SAFE
    assert classify("copy_reg", "_reconstructor") is Safety.SAFE
    assert classify("builtins", "print") is Safety.UNKNOWN
    assert classify("transformers.training_args", "TrainingArguments") is Safety.SAFE
    assert classify("transformers.modeling_utils", "PreTrainedModel") is Safety.UNKNOWN
    assert classify("torch", "Float8_e5m2Storage") is Safety.SAFE
    assert classify("torch.cuda", "HalfStorage") is Safety.SAFE
    assert classify("torch.cuda", "set_device") is Safety.UNKNOWN
    assert classify("torch", "load") is Safety.DANGEROUS
    assert classify("sklearn.utils._testing", "TempMemmap") is Safety.UNKNOWN


def test_policy_can_allow_a_reviewed_pair_but_nothing_near_it() -> None:
    extra = frozenset({("mypkg.layers", "Custom")})
    assert classify("mypkg.layers", "Custom", extra) is Safety.SAFE
    assert classify("mypkg.layers", "Custom.__init__", extra) is Safety.UNKNOWN
    assert classify("mypkg.layers", "Other", extra) is Safety.UNKNOWN


def test_sklearn_cython_trees_and_private_classes_are_clean() -> None:
    tree = g.global_op("sklearn.neighbors._kd_tree", "newObj") + b"(" + g.global_op("sklearn.neighbors._kd_tree",
                                                                                   "KDTree") + b"tR" + b"(Ntb"
    binner = g.global_op("sklearn.ensemble._hist_gradient_boosting.binning", "_BinMapper") + b")\x81}b"
    assert_clean(g.pickle_of(b"(" + tree + binner + b"l"))
    assert classify("sklearn.utils", "_private_function") is Safety.UNKNOWN
