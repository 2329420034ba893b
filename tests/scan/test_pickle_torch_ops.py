"""torch's tensor functions allowed by name (``modelguard/scan/pickle/torch_ops.py``) are what the
documented criterion gives for the installed torch: the public names of each namespace, minus the
ATen operators whose schema takes a ``filename``."""

from __future__ import annotations

import inspect

import pytest

from modelguard.scan.pickle import torch_ops


def test_the_table_is_the_documented_criterion() -> None:
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    if torch.__version__.split("+")[0] != torch_ops.TORCH_VERSION:
        pytest.skip(f"table derived from torch {torch_ops.TORCH_VERSION}, installed {torch.__version__}")
    schemas = torch._C._jit_get_all_schemas()
    file_ops = {s.name.split("::")[1] for s in schemas
                if s.name.startswith("aten::") and any(a.name == "filename" for a in s.arguments)}
    assert file_ops == {"from_file", "save"}

    def public(names: list[str]) -> frozenset[str]:
        return frozenset(n for n in names if not n.startswith("_") and n not in file_ops)

    functional = public([n for n in dir(F) if inspect.isfunction(getattr(F, n))
                         and getattr(F, n).__module__ == "torch.nn.functional"])
    assert torch_ops.FUNCTIONAL == functional
    assert torch_ops.NN_OPS == public([n for n in dir(torch._C._nn) if callable(getattr(torch._C._nn, n))])
    assert torch_ops.VARIABLE_FUNCTIONS == public(dir(torch._C._VariableFunctions))


def test_no_file_operator_is_allowed() -> None:
    for table in (torch_ops.FUNCTIONAL, torch_ops.NN_OPS, torch_ops.VARIABLE_FUNCTIONS):
        assert not table & {"from_file", "save", "load"}
