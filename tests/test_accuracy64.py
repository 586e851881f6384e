"""float64 accuracy of the smooth functions against extended precision (issue: within 1 ulp).

The reference is each formula evaluated in np.longdouble, itself checked against mpmath (60
digits or more) on a few hundred points per form, dense where the formulas switch (roots of the
derivatives, series, tables, saturation). CI samples 200,000 inputs per function (uniform in bit
pattern, near 0, the exp range and dense near the saturation points); NONLIN_F64_SAMPLES=10000000
runs the large sample, as does `python -m nonlin check --f64 --n 10000000`."""

import os

import numpy as np
import pytest

from nonlin import check

pytestmark = pytest.mark.skipif(not check.extended_precision(), reason="np.longdouble is float64 here")

FUNCTIONS = list(check._precise_forms())
SAMPLES = int(float(os.environ.get("NONLIN_F64_SAMPLES", "200000")))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_extended_reference_matches_mpmath(name):
    _, _, points = check._precise_forms()[name]
    x = check.samples64(300, points, np.random.default_rng(5))
    assert check.precise_agrees_with_mpmath(name, x[np.isfinite(x)]) < 0.01


# Where the longdouble formulas switch between forms or would cancel: around the roots of the
# derivatives (Taylor series within 0.6), x - tanh x (series below 1), erfcx (table below 8,
# asymptotic above: x = -8 sqrt 2), gelu's tanh form (z carried as a pair), x / alpha (a pair).
_U = lambda a, b, n=60: np.random.default_rng(int(abs(a * 1000 + b))).uniform(a, b, n)
DENSE = {
    "silu_derivative": np.r_[_U(-1.9, -0.66), -1.2784645427610737],
    "mish_derivative": np.r_[_U(-1.8, -0.58), -1.1924312145154952],
    "gelu_derivative": np.r_[_U(-1.36, -0.14), _U(-11.6, -11.0), -0.7517915246935645],
    "gelu_derivative[tanh]": np.r_[_U(-1.36, -0.14), _U(-40.0, -4.0)],
    "gelu": np.r_[_U(-11.6, -11.0), _U(-3.0, 3.0), _U(-39.0, -30.0)],
    "gelu[tanh]": np.r_[_U(-40.0, -4.0), _U(-3.0, 3.0)],
    "tanhshrink": np.r_[_U(0.9, 1.1), _U(-1e-3, 1e-3), _U(-2.0, 2.0)],
    f"celu[alpha={check.CELU_ALPHA64:g}]": np.r_[_U(-1300.0, -1.0), _U(-1e-3, 0.0)],
    f"celu_derivative[alpha={check.CELU_ALPHA64:g}]": _U(-1300.0, -1.0),
    f"softplus[beta={check.SOFTPLUS_BETA64:g}]": np.r_[_U(-400.0, 10.0), _U(7.9, 8.1)],
}


@pytest.mark.parametrize("name", list(DENSE))
def test_extended_reference_where_forms_switch(name):
    assert check.precise_agrees_with_mpmath(name, DENSE[name]) < 0.01


@pytest.mark.parametrize("name", FUNCTIONS)
def test_float64_within_one_ulp(name):
    (row,) = check.accuracy64(SAMPLES, seed=1, only=[name])
    assert row["n"] >= SAMPLES
    # 0.01 ulp is the reference's own error
    assert row["max_ulp"] <= 1.01, row


def test_every_smooth_function_is_measured():
    names = {f.split("[")[0].replace("_derivative", "").replace("_backward", "") for f in FUNCTIONS}
    assert names >= {"sigmoid", "tanh", "elu", "silu", "mish", "softplus", "logsigmoid", "softsign", "tanhshrink",
                     "selu", "celu", "gelu"}
    for f in ("silu", "mish", "softplus", "logsigmoid", "softsign", "tanhshrink", "selu", "celu", "gelu",
              "gelu[tanh]", "softplus[beta=2.5]", "celu[alpha=1.7]"):
        base, _, form = f.partition("[")
        form = "[" + form if form else ""
        assert {f, base + "_derivative" + form, base + "_backward" + form} <= set(FUNCTIONS), f


def test_ulp_errors64_counts_float64_ulps():
    one = np.array([1.0])
    assert check.ulp_errors64(np.nextafter(one, 2), one.astype(np.longdouble))[0] == 1.0
    assert check.ulp_errors64(np.array([np.nan]), np.array([np.nan], dtype=np.longdouble))[0] == 0.0
    assert check.ulp_errors64(np.array([np.inf]), np.array([1e308], dtype=np.longdouble))[0] == np.inf
