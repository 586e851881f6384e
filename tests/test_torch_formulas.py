"""Each function against the formula in PyTorch's documentation (torch.nn.functional / torch.nn),
written here with math/numpy, at a few values. torch itself is not needed."""
import math

import numpy as np
import pytest

import nonlin

X = [-7.5, -3.0, -1.5, -1.0, -0.4, -0.0, 0.0, 0.3, 1.0, 2.5, 3.0, 6.0, 9.0]


def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def softplus_doc(x, beta=1.0, threshold=20.0):
    # Softplus(x) = 1/beta * log(1 + exp(beta * x)); linear above threshold.
    return x if beta * x > threshold else math.log1p(math.exp(beta * x)) / beta


SELU_SCALE, SELU_ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717

DOC = {
    "gelu": (lambda x: x * 0.5 * (1 + math.erf(x / math.sqrt(2))), {}),
    "gelu-tanh": (lambda x: 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
                  {"approximate": "tanh"}),
    "silu": (lambda x: x * sig(x), {}),
    "mish": (lambda x: x * math.tanh(softplus_doc(x)), {}),
    "softplus": (softplus_doc, {}),
    "softplus-beta": (lambda x: softplus_doc(x, 2.0, 5.0), {"beta": 2.0, "threshold": 5.0}),
    "logsigmoid": (lambda x: math.log(sig(x)), {}),
    "softsign": (lambda x: x / (1 + abs(x)), {}),
    "tanhshrink": (lambda x: x - math.tanh(x), {}),
    "selu": (lambda x: SELU_SCALE * (max(0.0, x) + min(0.0, SELU_ALPHA * (math.exp(x) - 1))), {}),
    "celu": (lambda x: max(0.0, x) + min(0.0, 0.7 * (math.exp(x / 0.7) - 1)), {"alpha": 0.7}),
    "hardtanh": (lambda x: -1.0 if x < -1 else (1.0 if x > 1 else x), {}),
    "relu6": (lambda x: min(max(0.0, x), 6.0), {}),
    "hardsigmoid": (lambda x: 0.0 if x <= -3 else (1.0 if x >= 3 else x / 6 + 0.5), {}),
    "hardswish": (lambda x: 0.0 if x <= -3 else (x if x >= 3 else x * (x + 3) / 6), {}),
    "softshrink": (lambda x: x - 0.5 if x > 0.5 else (x + 0.5 if x < -0.5 else 0.0), {}),
    "hardshrink": (lambda x: x if abs(x) > 0.5 else 0.0, {}),
    "threshold": (lambda x: x if x > 1.0 else -2.0, {"threshold": 1.0, "value": -2.0}),
    # The lecture's unit: max(0, x + 1) - max(0, x - 1).
    "two_relu": (lambda x: max(0.0, x + 1) - max(0.0, x - 1), {}),
}


@pytest.mark.parametrize("key", sorted(DOC))
def test_matches_documented_formula(key):
    f, kw = DOC[key]
    name = key.split("-")[0]
    x = np.array(X)
    got = getattr(nonlin, name)(x, **kw)
    want = np.array([f(v) for v in X])
    # The documented formulas are evaluated naively here (math.erf, log(sig), x - tanh x):
    # compare with a relative tolerance that their own rounding needs, plus a tiny absolute one.
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("key", sorted(DOC))
def test_derivative_is_slope_of_documented_formula(key):
    f, kw = DOC[key]
    name = key.split("-")[0]
    # Points away from the kinks of the piecewise functions.
    pts = [-7.3, -2.2, -1.3, -0.7, 0.2, 0.8, 1.7, 2.6, 4.1]
    h = 1e-6
    if name == "threshold":
        kw = {"threshold": kw["threshold"]}  # the derivative does not depend on value
    got = getattr(nonlin, name + "_derivative")(np.array(pts), **kw)
    want = [(f(p + h) - f(p - h)) / (2 * h) for p in pts]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
