"""float64 accuracy of the smooth functions against extended precision (issue: within 1 ulp).

The reference is each formula evaluated in np.longdouble, itself checked against mpmath at 60
digits. CI samples 200,000 inputs per function (uniform in bit pattern, near 0, the exp range and
dense near the saturation points); NONLIN_F64_SAMPLES=10000000 runs the large sample, as does
`python -m nonlin check --f64 --n 10000000`."""

import os

import numpy as np
import pytest

from nonlin import check

pytestmark = pytest.mark.skipif(not check.extended_precision(), reason="np.longdouble is float64 here")

FUNCTIONS = list(check._precise_forms())
SAMPLES = int(float(os.environ.get("NONLIN_F64_SAMPLES", "200000")))


@pytest.mark.parametrize("name", [f for f in FUNCTIONS if f != "elu_backward"])
def test_extended_reference_matches_mpmath(name):
    _, _, points = check._precise_forms()[name]
    x = check.samples64(400, points, np.random.default_rng(5))
    assert check.precise_agrees_with_mpmath(name, x[np.isfinite(x)]) < 0.01


@pytest.mark.parametrize("name", FUNCTIONS)
def test_float64_within_one_ulp(name):
    (row,) = check.accuracy64(SAMPLES, seed=1, only=[name])
    assert row["n"] >= SAMPLES
    # 0.01 ulp is the reference's own error
    assert row["max_ulp"] <= 1.0 + 0.01, row


def test_ulp_errors64_counts_float64_ulps():
    one = np.array([1.0])
    assert check.ulp_errors64(np.nextafter(one, 2), one.astype(np.longdouble))[0] == 1.0
    assert check.ulp_errors64(np.array([np.nan]), np.array([np.nan], dtype=np.longdouble))[0] == 0.0
    assert check.ulp_errors64(np.array([np.inf]), np.array([1e308], dtype=np.longdouble))[0] == np.inf
