"""A reduced run of tools/leaks.py: no reference leaked by any function (plain, out=, and
calls that raise in the middle), and RSS flat over 2e4 calls of a few functions."""

import importlib.util
import pathlib

import numpy as np
import pytest

from conftest import CASE_IDS, CASES

_spec = importlib.util.spec_from_file_location("leaks", pathlib.Path(__file__).resolve().parents[1] / "tools" / "leaks.py")
leaks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(leaks)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_no_reference_leaked(case):
    _, problems = leaks.run(case, 300, np.float32, measure_rss=False)
    assert problems == []


RSS_CASES = [c for c in CASES if c.id in ("sigmoid", "elu_backward-output", "prelu_backward", "softmax-axis0",
                                          "maxout_backward", "glu_backward", "rrelu_derivative-noise")]


@pytest.mark.parametrize("case", RSS_CASES, ids=[c.id for c in RSS_CASES])
def test_rss_flat(case):
    growth, problems = leaks.run(case, 4000, np.float64)  # 5 modes: 2e4 calls
    assert problems == []
    assert growth < 1 << 20, f"RSS grew by {growth} bytes over 2e4 calls"
