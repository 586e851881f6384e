"""float64 accuracy of softsign and tanhshrink (forward, derivative, backward) against mpmath.

Inputs: uniform in bit pattern over the finite range, dense near 0, around the kernels' cut
points, and in the tails; backward with a random gradient. The error is measured in float64
ulps at the correctly rounded reference (50 digits). `python tests/test_smooth_accuracy.py N`
prints the maximum over N inputs per function.
"""

import sys

import mpmath
import numpy as np
import pytest

import nonlin

mp = mpmath.mp

# Cut points of the kernels: TANH_TINY (2^-27), tanhshrink's scaling (2^-100), the branch points 1
# and 1.5, softsign_backward's far branch (2^61).
CUTS = [2.0**-27, 2.0**-100, 1.0, 1.5, 2.0**61, 0.25, 3.0, 19.0]


def inputs(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = n // 5
    bits = rng.integers(0, 0x7FEFFFFFFFFFFFFF, k, dtype=np.uint64).view(np.float64)
    near0 = 10.0 ** rng.uniform(-320, 0, k)
    small = rng.uniform(0, 2, k)
    tails = np.concatenate([rng.uniform(0, 40, k // 2), 10.0 ** rng.uniform(0, 308, k - k // 2)])
    p = np.asarray(CUTS)[rng.integers(0, len(CUTS), n - 4 * k)]
    dense = p * (1 + rng.uniform(-1e-3, 1e-3, p.size) * rng.choice([1, 1e-10], p.size))
    x = np.concatenate([bits, near0, small, tails, dense])
    return x * rng.choice([-1.0, 1.0], x.size)


def _softsign(x):
    return x / (1 + abs(x))


def _softsign_d(x):
    return 1 / (1 + abs(x)) ** 2


def _tanhshrink(x):
    if abs(x) < 1e-4:  # the series: x - tanh x cancels (the next term is x^11 / 90)
        z = x * x
        return x * z * (mpmath.mpf(1) / 3 - z * (mpmath.mpf(2) / 15 - z * (mpmath.mpf(17) / 315 - z * mpmath.mpf(62) / 2835)))
    return x - mpmath.tanh(x)


def _tanhshrink_d(x):
    return mpmath.tanh(x) ** 2


FUNCS = {
    "softsign": (_softsign, False),
    "softsign_derivative": (_softsign_d, False),
    "softsign_backward": (_softsign_d, True),
    "tanhshrink": (_tanhshrink, False),
    "tanhshrink_derivative": (_tanhshrink_d, False),
    "tanhshrink_backward": (_tanhshrink_d, True),
}


def ulp_errors(name: str, x: np.ndarray, g: np.ndarray) -> np.ndarray:
    f, backward = FUNCS[name]
    fn = getattr(nonlin, name)
    got = fn(g, x) if backward else fn(x)
    err = np.empty(x.size)
    with mpmath.workdps(50):
        for i, (xi, gi, yi) in enumerate(zip(x.tolist(), g.tolist(), got.tolist())):
            ref = f(mpmath.mpf(xi))
            if backward:
                ref *= mpmath.mpf(gi)
            r = float(ref)  # correctly rounded (mpmath rounds to nearest)
            if r == 0 or np.isinf(r):
                err[i] = 0.0 if yi == r else np.inf
                continue
            err[i] = float(abs(mpmath.mpf(yi) - ref) / mpmath.mpf(float(np.spacing(abs(r)))))
    return err


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_float64_within_one_ulp(name):
    x = inputs(2000, seed=hash(name) % 1000)
    g = np.random.default_rng(1).uniform(-2, 2, x.size)
    err = ulp_errors(name, x, g)
    worst = int(np.argmax(err))
    assert err[worst] <= 1.0, f"{name}: {err[worst]:.3f} ulp at x = {x[worst]!r}, g = {g[worst]!r}"


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    x = inputs(n, seed=12345)
    g = np.random.default_rng(2).uniform(-2, 2, x.size)
    for name in FUNCS:
        err = ulp_errors(name, x, g)
        w = int(np.argmax(err))
        print(f"{name:24s} max {err[w]:.3f} ulp at x = {x[w]!r} (g = {g[w]!r}), "
              f"{np.mean(err > 0.5) * 100:.2f}% not correctly rounded")
