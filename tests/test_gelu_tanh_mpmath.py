"""gelu's tanh form (forward, derivative, backward) against mpmath at 50 digits, in float32 and
float64: within 1 ulp of the exact value on inputs uniform in bit pattern over the finite range,
dense near 0, around the derivative's root (x0 = -0.7525) and in both tails (|x| in [3, 40],
where the negative side underflows through the subnormals).

The exact values use the logistic form `x/2 (1 + tanh(u)) = x sigmoid(2u)` (mpmath's own
`1 + tanh(u)` would cancel for u << 0), and `gelu'(x) = sigmoid(z) (1 + e^z + x z') / (1 + e^z)`
with z = 2u, which mpmath evaluates without loss at this precision.
"""

import mpmath
import numpy as np
import pytest

import nonlin

mp = mpmath.mp.clone()
mp.dps = 50
K2 = 2 * mp.sqrt(2 / mp.pi)
KAPPA = mp.mpf("0.044715")
BUDGET = 1.0


def exact(x):
    """(gelu_tanh(x), gelu_tanh'(x)) for a finite float x, as mpf."""
    x = mp.mpf(float(x))
    z = K2 * (x + KAPPA * x**3)
    w = K2 * (x + 3 * KAPPA * x**3)  # x z'
    e = mp.exp(z)
    s = e / (1 + e)  # sigmoid(z)
    return x * s, s * (1 + e + w) / (1 + e)


def inputs(dtype, n, seed):
    rng = np.random.default_rng(seed)
    info = np.finfo(dtype)
    uint = np.uint32 if dtype == np.float32 else np.uint64
    bits = rng.integers(0, np.iinfo(uint).max, size=4 * n, dtype=uint, endpoint=True).view(dtype)
    bits = bits[np.isfinite(bits)][:n]
    near0 = rng.choice([-1, 1], n) * 10.0 ** rng.uniform(np.log10(float(info.tiny)), 0, n)
    x0 = -0.7524614220710163
    root = x0 + rng.uniform(-0.2, 0.2, n) * 10.0 ** rng.uniform(-8, 0, n)
    tails = rng.choice([-1, 1], n) * rng.uniform(3, 40, n)
    mid = rng.uniform(-6, 6, n)
    return np.concatenate([bits, near0.astype(dtype), root.astype(dtype), tails.astype(dtype), mid.astype(dtype)])


def ulp_errors(got, want, dtype):
    """|got - want| in ulps of dtype at want rounded to dtype (want a list of mpf)."""
    out = []
    for y, w in zip(got, want):
        r = abs(dtype.type(float(w)))
        ulp = float(np.spacing(r)) if np.isfinite(r) else float(r - np.nextafter(r, dtype.type(0)))
        out.append(float(abs(mp.mpf(float(y)) - w) / mp.mpf(ulp)))
    return np.array(out)


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), np.dtype(np.float64)], ids=str)
def test_gelu_tanh_within_one_ulp_of_mpmath(dtype):
    x = inputs(dtype, 400, seed=4)
    g = np.random.default_rng(5).uniform(-4, 4, x.size).astype(dtype)
    with mp.workdps(50):
        ref = [exact(v) for v in x]
        want = {
            "gelu": [f for f, _ in ref],
            "gelu_derivative": [d for _, d in ref],
            "gelu_backward": [mp.mpf(float(gi)) * d for gi, (_, d) in zip(g, ref)],
        }
    got = {
        "gelu": nonlin.gelu(x, approximate="tanh"),
        "gelu_derivative": nonlin.gelu_derivative(x, approximate="tanh"),
        "gelu_backward": nonlin.gelu_backward(g, x, approximate="tanh"),
    }
    failures = []
    for name, y in got.items():
        assert y.dtype == dtype
        err = ulp_errors(y, want[name], dtype)
        # zeros carry the sign of the exact value (gelu(x < 0) < 0, gelu' < 0 below the root)
        sign = np.array([w == 0 or bool(np.signbit(yi)) == (w < 0) for yi, w in zip(y, want[name])])
        bad = ~((err <= BUDGET) & sign)
        if bad.any():
            i = int(np.argmax(np.where(bad, err, -1)))
            failures.append(f"{name}[tanh]({x[i]!r}) = {y[i]!r}, want {float(want[name][i])!r} ({err[i]:.3f} ulp);"
                            f" {int(bad.sum())} bad, max {err.max():.3f} ulp")
    assert not failures, "\n".join(failures)
