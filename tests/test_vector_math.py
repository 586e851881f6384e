"""The vector math (exp, expm1, log1p, tanh, erf, erfc) against mpmath at 40 digits, at every
SIMD level, on deterministic samples that cover each function's ranges and tails."""

import mpmath
import numpy as np
import pytest

from nonlin import _core
from nonlin.check import ulp_errors

mpmath.mp.dps = 40

# name: (mpmath function, sample range, budget in ULP for float64, float32)
FUNCTIONS = {
    "exp": (mpmath.exp, (-750, 712), (1.0, 1.0)),
    "expm1": (mpmath.expm1, (-50, 710), (1.0, 1.0)),
    "log1p": (mpmath.log1p, (-1, 1e6), (2.0, 2.5)),
    "tanh": (mpmath.tanh, (-25, 25), (1.0, 1.0)),
    "erf": (mpmath.erf, (-7, 7), (1.5, 2.5)),
    "erfc": (mpmath.erfc, (-7, 28), (3.5, 3.5)),
}
SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, -1e-300, 1e-40, -1e-40, 0.5, -0.5, 1.0, -1.0]


def samples(lo, hi, dtype):
    rng = np.random.default_rng(17)
    wide = rng.uniform(lo, hi, 1500)
    near0 = rng.choice([-1, 1], 500) * 10.0 ** rng.uniform(-30, 0, 500)
    near0 = near0[(near0 > lo) & (near0 < hi)]
    x = np.concatenate([wide, near0, SPECIAL]).astype(dtype)
    with np.errstate(over="ignore"):
        return x


def reference(f, x):
    out = []
    for v in x:
        if np.isnan(v):
            out.append(np.nan)
            continue
        if f is mpmath.log1p and v <= -1:  # mpmath answers with -inf or a complex number
            out.append(-np.inf if v == -1 else np.nan)
            continue
        out.append(float(f(mpmath.mpf(float(v)))))
    return np.array(out)


@pytest.fixture(scope="module")
def restore_level():
    before = _core._runtime()[0]
    yield
    _core._set_simd(before)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_within_budget_at_every_level(name, dtype, restore_level):
    f, (lo, hi), (b64, b32) = FUNCTIONS[name]
    x = samples(lo, hi, dtype)
    want = reference(f, x)
    first = None
    for level in _core._simd_levels():
        _core._set_simd(level)
        got = _core._vector_math(name, x)
        err = ulp_errors(got, want, dtype)
        i = int(np.argmax(err))
        assert err[i] <= (b64 if dtype == np.float64 else b32), f"{name} {level}: {err[i]} ulp at x = {x[i]!r}"
        if first is None:
            first = got
        # bit-identical, except that a NaN's sign and payload are unspecified
        canon = [np.where(np.isnan(a), np.nan, a).astype(dtype) for a in (got, first)]
        np.testing.assert_array_equal(canon[0].view(f"u{got.itemsize}"), canon[1].view(f"u{got.itemsize}"))


def test_signs_of_zero():
    for name in ("expm1", "log1p", "tanh", "erf"):
        assert np.signbit(_core._vector_math(name, np.array([-0.0]))[0]), name


def test_tails_keep_relative_accuracy():
    x = np.array([10.0, 20.0, 26.0])
    got = _core._vector_math("erfc", x)
    want = reference(mpmath.erfc, x)
    assert np.all(np.abs(got / want - 1) < 1e-14)  # 1 - erf(x) would give 0 here
