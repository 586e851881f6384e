"""More than 2^31 float32 elements (8.6 GB) through forward and backward functions: no 32-bit
index anywhere. Runs only with NONLIN_HUGE=1 (needs about 9 GB of free memory; one array is
allocated and every call works in place through out=; the elementwise gradients are a stride-0
view, softmax's is the output itself, as a strided one would be copied).

Inputs repeat a pattern of P values, so each result is known at every position: checked at
sampled positions (the first and last elements, both sides of 2^31 and 2^32 / 2 boundaries,
and random ones), and softmax's row is checked to sum to 1."""

import os
import time

import numpy as np
import pytest

import nonlin
from conftest import assert_close_ulp, reference

pytestmark = pytest.mark.skipif(os.environ.get("NONLIN_HUGE") != "1", reason="set NONLIN_HUGE=1 (needs ~9 GB)")

N = 2**31 + 2**20 + 3  # odd: a tail after the last full vector
P = 1021  # pattern period (prime: positions near powers of two see different values)
CHUNK = 1 << 24


@pytest.fixture(scope="module")
def x():
    a = np.empty(N, dtype=np.float32)
    yield a
    del a


def pattern():
    return np.linspace(-9, 9, P).astype(np.float32)


def fill(a):
    p = pattern()
    reps = np.tile(p, CHUNK // P + 2)
    for start in range(0, N, CHUNK):
        end = min(N, start + CHUNK)
        off = start % P
        a[start:end] = reps[off:off + end - start]


def sample_positions():
    rng = np.random.default_rng(0)
    edges = [0, 1, 2**31 - 17, 2**31 - 1, 2**31, 2**31 + 1, 2**31 + 16, N - 17, N - 2, N - 1]
    near = [e + d for e in edges for d in range(-3, 4) if 0 <= e + d < N]
    return np.unique(np.concatenate([near, rng.integers(0, N, 2000)]))


def check(a, idx, want, what):
    assert_close_ulp(a[idx], want, np.float32, max_ulp=4, inputs={"index": idx})


def timed(label, fn, times):
    t = time.perf_counter()
    r = fn()
    times[label] = time.perf_counter() - t
    return r


def test_elementwise_forward_backward(x):
    times, idx = {}, sample_positions()
    xi = pattern()[idx % P].astype(np.float64)
    g = np.broadcast_to(np.float32(1.5), x.shape)  # stride 0, read-only
    timed("fill", lambda: fill(x), times)
    assert timed("sigmoid", lambda: nonlin.sigmoid(x, out=x), times) is x
    y = reference.sigmoid(xi)
    check(x, idx, y, "sigmoid")
    timed("sigmoid_backward", lambda: nonlin.sigmoid_backward(g, x, out=x), times)
    y32 = y.astype(np.float32).astype(np.float64)
    check(x, idx, reference.sigmoid_backward(np.full_like(y32, 1.5), y32), "sigmoid_backward")
    timed("fill", lambda: fill(x), times)
    timed("silu_backward", lambda: nonlin.silu_backward(g, x, out=x), times)
    check(x, idx, reference.silu_backward(np.full_like(xi, 1.5), xi), "silu_backward")
    timed("fill", lambda: fill(x), times)
    timed("relu", lambda: nonlin.relu(x, out=x), times)
    check(x, idx, reference.relu(xi), "relu")
    timed("relu_backward", lambda: nonlin.relu_backward(g, x, out=x), times)
    check(x, idx, reference.relu_backward(np.full_like(xi, 1.5), reference.relu(xi)), "relu_backward")
    print(f"\nN = {N}: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))


def test_softmax_one_long_row(x):
    times, idx = {}, sample_positions()
    timed("fill", lambda: fill(x), times)
    row = x.reshape(1, N)
    timed("softmax", lambda: nonlin.softmax(row, axis=-1, out=row), times)
    p = pattern().astype(np.float64)
    e = np.exp(p - p.max())
    counts = np.bincount(np.arange(N % P), minlength=P) + N // P  # occurrences of each pattern value
    total = float(np.dot(counts, e))
    check(x, idx, e[idx % P] / total, "softmax")
    s = timed("sum", lambda: float(x.sum(dtype=np.float64)), times)
    assert abs(s - 1) < 1e-4, s
    # backward with grad_output = the output itself (a non-contiguous grad_output would be copied:
    # another 8.6 GB): y (y - sum(y^2)), within 8 eps |y| (|y| + sum(y^2)) of the exact value
    timed("softmax_backward", lambda: nonlin.softmax_backward(row, row, axis=-1, out=row), times)
    y = (e / total).astype(np.float32).astype(np.float64)
    s2 = float(np.dot(counts, y * y))
    want = y[idx % P] * (y[idx % P] - s2)
    bound = 8 * float(np.finfo(np.float32).eps) * y[idx % P] * (y[idx % P] + s2) + 1e-44
    assert np.all(np.abs(x[idx].astype(np.float64) - want) <= bound)
    print(f"\nN = {N}: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
