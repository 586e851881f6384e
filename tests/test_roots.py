"""Every smooth derivative with a root, at the root and its 64 representable neighbours on each
side, in float32 and float64, against mpmath at 50 digits: within the function's budget
(conftest ``budget()``), and with the right sign.

Near a root the value is a difference of nearly equal terms, and the sampled sweeps rarely land
there: silu'(float32(-1.2784646)) once came out +2.8e-9 for a true -2.8e-9 (the sign taken from
the high part of a pair whose high part was 0). The derivative and the backward (with g = 1 and
g = -3) are checked.
"""

import math

import mpmath
import numpy as np
import pytest

import nonlin
from conftest import CASES, budget

mp = mpmath.mp.clone()
mp.dps = 50
TANH_C = mp.sqrt(2 / mp.pi)


def _sigmoid(x):
    return 1 / (1 + mp.exp(-x))


def silu_d(x):
    s = _sigmoid(x)
    return s * (1 + x * (1 - s))


def mish_d(x):
    sp = mp.log1p(mp.exp(x))
    return mp.tanh(sp) + x * mp.sech(sp) ** 2 * _sigmoid(x)


def gelu_d(x):
    return mp.ncdf(x) + x * mp.npdf(x)


def gelu_tanh_d(x):
    u = TANH_C * (x + mp.mpf("0.044715") * x**3)
    du = TANH_C * (1 + 3 * mp.mpf("0.044715") * x**2)
    return (1 + mp.tanh(u)) / 2 + x / 2 * mp.sech(u) ** 2 * du


# (case id of the derivative, of the backward, the derivative in mpmath, a bracket of the root)
ROOTS = [
    ("silu_derivative", "silu_backward", silu_d, (-1.5, -1.0)),
    ("mish_derivative", "mish_backward", mish_d, (-1.5, -1.0)),
    ("gelu_derivative", "gelu_backward", gelu_d, (-1.0, -0.5)),
    ("gelu_derivative-tanh", "gelu_backward-tanh", gelu_tanh_d, (-1.0, -0.5)),
]
CASE = {c.id: c for c in CASES}
NEIGHBOURS = 64


def root(f, bracket):
    with mp.workdps(60):
        return mp.findroot(f, bracket, solver="anderson")


def neighbourhood(x0, dtype):
    """The value of `dtype` nearest to `x0` and its `NEIGHBOURS` neighbours on each side."""
    mid = dtype.type(float(x0))
    xs = [mid]
    lo = hi = mid
    for _ in range(NEIGHBOURS):
        lo, hi = np.nextafter(lo, dtype.type(-np.inf)), np.nextafter(hi, dtype.type(np.inf))
        xs += [lo, hi]
    return np.sort(np.array(xs, dtype=dtype))


def ulp_error(got, want, dtype):
    """|got - want| in ULPs of `dtype` at `want` rounded to `dtype` (`want` an mpf)."""
    r = dtype.type(float(want))
    ulp = np.spacing(np.abs(r)).astype(np.float64)
    return float(abs(mp.mpf(float(got)) - want) / mp.mpf(float(ulp)))


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), np.dtype(np.float64)], ids=str)
@pytest.mark.parametrize("deriv_id, back_id, f, bracket", ROOTS, ids=[r[0] for r in ROOTS])
def test_root_neighbourhood(deriv_id, back_id, f, bracket, dtype):
    x0 = root(f, bracket)
    assert bracket[0] < x0 < bracket[1] and abs(f(x0)) < mp.mpf(10) ** -40
    xs = neighbourhood(x0, dtype)
    want = [f(mp.mpf(float(x))) for x in xs]
    # every side of the root is sampled: some references are positive, some negative
    assert any(w > 0 for w in want) and any(w < 0 for w in want), (deriv_id, dtype)
    dcase, bcase = CASE[deriv_id], CASE[back_id]
    params = dcase.params(xs)
    results = {deriv_id: dcase.call(nonlin, (xs,), params)}
    for g in (1.0, -3.0):
        gs = np.full_like(xs, g)
        results[f"{back_id}(g={g})"] = (bcase.call(nonlin, (gs, xs), params), g)
    failures = []
    for name, got in results.items():
        got, g = got if isinstance(got, tuple) else (got, 1.0)
        assert got.dtype == dtype
        tol = budget(dcase if name == deriv_id else bcase, dtype)
        for x, y, w in zip(xs, got, want):
            w = w * g
            err = ulp_error(y, w, dtype)
            sign_ok = (y > 0) == (w > 0) and (y < 0) == (w < 0) if float(w) != 0 else True
            if not (err <= tol and sign_ok and math.isfinite(float(y))):
                failures.append(f"{name}({float(x)!r}) = {float(y)!r}, want {float(w)!r} ({err:.2f} ulp > {tol})")
    assert not failures, "\n".join(failures[:10])
