"""softmax / log_softmax against the correctly rounded result (mpmath), in ulp, on random rows.

softmax(x)_i = e^(x_i - m) / sum_j e^(x_j - m) and log_softmax(x)_i = x_i - m - log(sum_j e^(x_j - m))
(m = max x) are evaluated at 40 digits from the rows as stored in the dtype; every output must be
within 1 ulp of that. The backward functions are checked against the stated formulas
(`g y - y sum(g y)`, `g - e^y sum(g)`) evaluated exactly: within 1 ulp plus the rounding of the
subtraction's terms (eps times their magnitude), which is what the formulas' own arithmetic allows.
"""

import mpmath
import numpy as np
import pytest

import nonlin

mpmath.mp.dps = 40

LENGTHS = [1, 2, 3, 7, 100, 10000]
KINDS = ["normal", "wide", "mixed", "dominant", "equal", "huge"]
DTYPES = [np.float32, np.float64]


def row(kind, n, rng, dtype):
    if kind == "normal":
        x = rng.standard_normal(n)
    elif kind == "wide":
        x = rng.standard_normal(n) * 30
    elif kind == "mixed":
        x = rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 2, n)
    elif kind == "dominant":
        # one element far above the rest: the others' softmax is tiny, log_softmax of the maximum
        # is -sum(e) (tiny), which needs log(sum) accurate near 1.
        x = rng.standard_normal(n) - rng.uniform(10, 80)
        x[rng.integers(n)] = rng.standard_normal()
    elif kind == "equal":
        x = np.full(n, rng.standard_normal() * 100)
    else:
        x = rng.uniform(-1, 1, n) * (3e38 if dtype == np.float32 else 1e308)
    return x.astype(dtype)


def ulp_err(got, exact, dtype):
    """|got - exact| in ulp of `exact` in `dtype` (exact: mpf values)."""
    p = np.finfo(dtype).nmant + 1
    tiny = mpmath.mpf(2) ** (np.finfo(dtype).minexp - p + 1)
    worst = 0.0
    for g, e in zip(got.tolist(), exact):
        with np.errstate(over="ignore"):
            r = np.array(float(e)).astype(dtype)  # beyond the largest finite: rounds to +-inf
        if np.isinf(r) and g == r:
            continue
        if e == 0:
            u = tiny
        else:
            _, ex = mpmath.frexp(e)
            u = max(mpmath.mpf(2) ** (ex - p), tiny)
        worst = max(worst, float(abs(mpmath.mpf(g) - e) / u))
    return worst


def exact_rows(x):
    xs = [mpmath.mpf(float(v)) for v in x]
    m = max(xs)
    es = [mpmath.exp(v - m) for v in xs]
    # log(sum) as log1p of the sum less one maximum's 1, so that it stays accurate near 0.
    rest = mpmath.fsum(e for v, e in zip(xs, es) if v != m) + (sum(v == m for v in xs) - 1)
    s = 1 + rest
    ls = mpmath.log1p(rest)
    return [e / s for e in es], [v - m - ls for v in xs]


def max_ulps(dtype, lengths=LENGTHS, kinds=KINDS, seed=0):
    """Worst ulp error of (softmax, log_softmax) over rows of every length and kind."""
    rng = np.random.default_rng(seed)
    worst = [0.0, 0.0]
    for n in lengths:
        for kind in kinds:
            if kind == "huge" and n > 100:
                continue
            x = row(kind, n, rng, dtype)
            sm, lsm = exact_rows(x)
            worst[0] = max(worst[0], ulp_err(nonlin.softmax(x), sm, dtype))
            worst[1] = max(worst[1], ulp_err(nonlin.log_softmax(x), lsm, dtype))
    return worst


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", LENGTHS)
def test_forward_within_one_ulp(dtype, n):
    for seed in range(3 if n < 10000 else 1):
        sm, lsm = max_ulps(dtype, [n], seed=seed)
        assert sm <= 1.0, f"softmax {np.dtype(dtype).name} n={n}: {sm} ulp"
        assert lsm <= 1.0, f"log_softmax {np.dtype(dtype).name} n={n}: {lsm} ulp"


def test_columns_and_long_rows_match_rows():
    """axis=0 (one column per lane) and rows longer than a chunk give the same accuracy."""
    rng = np.random.default_rng(5)
    for dtype in DTYPES:
        x = (rng.standard_normal((7, 5)) * 20).astype(dtype)
        for f in (nonlin.softmax, nonlin.log_softmax):
            col = f(x, axis=0)
            for j in range(5):
                sm, lsm = exact_rows(x[:, j])
                exact = sm if f is nonlin.softmax else lsm
                assert ulp_err(col[:, j], exact, dtype) <= 1.0
        x = (rng.standard_normal(40000) * 5).astype(dtype)
        sm, lsm = exact_rows(x)
        assert ulp_err(nonlin.softmax(x), sm, dtype) <= 1.0
        assert ulp_err(nonlin.log_softmax(x), lsm, dtype) <= 1.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 7, 100, 10000])
def test_backward_formulas(dtype, n):
    rng = np.random.default_rng(n)
    eps = float(np.finfo(dtype).eps)
    x = (rng.standard_normal(n) * 5).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    for name, fwd in (("softmax", nonlin.softmax), ("log_softmax", nonlin.log_softmax)):
        y = fwd(x)
        got = getattr(nonlin, name + "_backward")(g, y)
        gm = [mpmath.mpf(float(v)) for v in g]
        ym = [mpmath.mpf(float(v)) for v in y]
        if name == "softmax":
            dot = mpmath.fsum(a * b for a, b in zip(gm, ym))
            terms = [(a * b, b * dot) for a, b in zip(gm, ym)]
        else:
            s = mpmath.fsum(gm)
            terms = [(a, mpmath.exp(b) * s) for a, b in zip(gm, ym)]
        for i, (t0, t1) in enumerate(terms):
            exact = t0 - t1
            err = abs(mpmath.mpf(float(got[i])) - exact)
            _, ex = mpmath.frexp(exact) if exact != 0 else (0, -1074)
            bound = mpmath.mpf(2) ** (ex - np.finfo(dtype).nmant - 1) + eps * (abs(t0) + abs(t1))
            assert err <= bound, (name, i, float(err), float(bound))


if __name__ == "__main__":
    for dtype in DTYPES:
        print(np.dtype(dtype).name, "max ulp (softmax, log_softmax):", max_ulps(dtype))
