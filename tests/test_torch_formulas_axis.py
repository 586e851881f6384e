"""softmax, log_softmax, glu and rrelu against the formulas of PyTorch's documentation
(torch.nn.Softmax, LogSoftmax, GLU, RReLU), written here in plain math/numpy (torch not needed)."""

import math

import numpy as np
import pytest

import nonlin

DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
X = [[1.0, 2.0, 3.0], [-1.0, 0.0, 0.5], [10.0, -10.0, 0.0]]


def close(got, want, dtype, atol=None):
    tol = 8 * np.finfo(dtype).eps
    atol = tol * 1e-3 if atol is None else atol
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=tol, atol=atol)


@DTYPES
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax(dtype, axis):
    """Softmax(x_i) = exp(x_i) / sum_j exp(x_j) along dim."""
    x = np.array(X, dtype)
    ex = np.exp(np.array(X))
    close(nonlin.softmax(x, axis=axis), ex / ex.sum(axis=axis, keepdims=True), dtype)


@DTYPES
@pytest.mark.parametrize("axis", [0, 1])
def test_log_softmax(dtype, axis):
    """LogSoftmax(x_i) = log(exp(x_i) / sum_j exp(x_j))."""
    x = np.array(X, dtype)
    want = [[math.log(math.exp(v) / sum(math.exp(w) for w in line)) for v in line]
            for line in (X if axis == 1 else list(map(list, zip(*X))))]
    want = np.array(want) if axis == 1 else np.array(want).T
    # the formula as written (log of a quotient) is itself off by about eps near 0
    close(nonlin.log_softmax(x, axis=axis), want, dtype, atol=8 * np.finfo(dtype).eps)


@DTYPES
def test_softmax_backward_is_the_jacobian_product(dtype):
    """d softmax_i / d x_j = s_i (delta_ij - s_j); the gradient is g^T J."""
    x = np.array(X[0], dtype)
    s = np.exp(np.array(X[0])) / np.exp(np.array(X[0])).sum()
    g = np.array([0.5, -1.0, 2.0])
    jac = np.diag(s) - np.outer(s, s)
    close(nonlin.softmax_backward(g.astype(dtype), s.astype(dtype)), g @ jac, dtype)
    ljac = np.eye(3) - s[None, :]  # d log_softmax_i / d x_j = delta_ij - s_j
    ly = np.log(s).astype(dtype)
    close(nonlin.log_softmax_backward(g.astype(dtype), ly), g @ ljac, dtype)


@DTYPES
@pytest.mark.parametrize("axis", [0, -1])
def test_glu(dtype, axis):
    """GLU(a, b) = a ⊗ σ(b), a the first half of the input along dim and b the second."""
    x = np.arange(-4.0, 4.0).reshape(2, 4) / 2
    a, b = np.split(x, 2, axis=axis)
    sig = 1 / (1 + np.exp(-b))
    close(nonlin.glu(x.astype(dtype), axis=axis), a * sig, dtype)
    g = np.ones_like(a) * 0.5
    want = np.concatenate([g * sig, g * a * sig * (1 - sig)], axis=axis)
    close(nonlin.glu_backward(g.astype(dtype), x.astype(dtype), axis=axis), want, dtype)


@DTYPES
def test_rrelu(dtype):
    """RReLU(x) = x if x >= 0 else a x; a ~ U(lower, upper) in training, (lower + upper) / 2 in
    evaluation; lower = 1/8 and upper = 1/3 by default."""
    x = np.array([-3.0, -0.5, 0.0, 2.0])
    close(nonlin.rrelu(x.astype(dtype)), np.where(x >= 0, x, x * (1 / 8 + 1 / 3) / 2), dtype)
    y, a = nonlin.rrelu(x.astype(dtype), training=True, seed=0)
    assert np.all((a >= dtype(1 / 8)) & (a <= dtype(1 / 3)))
    close(y, np.where(x >= 0, x, a.astype(np.float64) * x), dtype)
