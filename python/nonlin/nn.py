"""Small NumPy layers on nonlin's kernels: enough to train the lecture's networks and look inside.

Every layer has ``forward(x)``, ``backward(grad_output) -> grad_input``, ``params()`` and
``grads()`` (lists of arrays in the same order; the optimizer updates ``params()`` in place).
Shapes are (batch, features). The forward saves what the backward needs, and no more:
the output for sigmoid, tanh and elu (ATen's convention), the input otherwise.

    net = Sequential(Linear(2, 16), Activation("tanh"), Linear(16, 2))
    loss = SoftmaxCrossEntropy()
    opt = SGD(net, lr=0.1, momentum=0.9)
    for _ in range(100):
        value = loss.forward(net.forward(x), labels)
        net.backward(loss.backward())
        opt.step()
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from numpy.typing import DTypeLike

import nonlin as nl

# name -> (what the backward reads, default parameters[, parameter names the backward takes]).
# "output": backward(g, y, **p); "output=": backward(g, output=y, **p); "x": backward(g, x, **p).
# A new elementwise activation is one row; rows whose function is not in nonlin are left out.
_TABLE: Dict[str, Tuple[Any, ...]] = {
    "sigmoid": ("output", {}),
    "tanh": ("output", {}),
    "relu": ("x", {}),
    "leaky_relu": ("x", {"negative_slope": 0.01}),
    "elu": ("output=", {"alpha": 1.0}),
    "selu": ("output=", {}),
    "celu": ("output=", {"alpha": 1.0}),
    "gelu": ("x", {"approximate": "none"}),
    "silu": ("x", {}),
    "mish": ("x", {}),
    "softplus": ("x", {"beta": 1.0, "threshold": 20.0}),
    "logsigmoid": ("x", {}),
    "softsign": ("x", {}),
    "tanhshrink": ("x", {}),
    "hardtanh": ("x", {"min_val": -1.0, "max_val": 1.0}),
    "relu6": ("x", {}),
    "hardsigmoid": ("x", {}),
    "hardswish": ("x", {}),
    "softshrink": ("x", {"lambd": 0.5}),
    "hardshrink": ("x", {"lambd": 0.5}),
    "threshold": ("x", {"threshold": 0.0, "value": 0.0}, ("threshold",)),
    "two_relu": ("x", {}),
    "softmax": ("output", {"axis": -1}),
    "log_softmax": ("output", {"axis": -1}),
}
# Activation functions with a layer of their own (a learnable weight, a shape change) or none
# (rrelu's noise is a training-mode sample; use leaky_relu with its mean slope at test time).
SPECIAL = ("prelu", "maxout", "glu", "rrelu")

#: The activations available as ``Activation(name)`` in this build of nonlin.
ACTIVATIONS: Tuple[str, ...] = tuple(n for n in _TABLE if hasattr(nl, n) and hasattr(nl, n + "_backward"))
#: Those computed entry by entry (the ones with a ``<name>_derivative``): softmax and log_softmax are not.
ELEMENTWISE: Tuple[str, ...] = tuple(n for n in ACTIVATIONS if hasattr(nl, n + "_derivative"))


class Layer:
    """Base: no parameters."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def params(self) -> List[np.ndarray]:
        return []

    def grads(self) -> List[np.ndarray]:
        return []

    def __repr__(self) -> str:
        return type(self).__name__


def _init(rng: np.random.Generator, init: str, fan_in: int, fan_out: int, shape: Tuple[int, ...], scale: float,
          dtype: DTypeLike) -> np.ndarray:
    if init == "xavier":  # Glorot & Bengio 2010, uniform: variance 2 / (fan_in + fan_out)
        a = scale * math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-a, a, shape).astype(dtype)
    if init == "he":  # He et al. 2015, normal: variance 2 / fan_in
        return (scale * math.sqrt(2.0 / fan_in) * rng.standard_normal(shape)).astype(dtype)
    if init == "normal":  # N(0, scale^2)
        return (scale * rng.standard_normal(shape)).astype(dtype)
    raise ValueError(f"init must be 'xavier', 'he' or 'normal', not {init!r}")


class Linear(Layer):
    """y = x W + b with W of shape (in_features, out_features).

    ``init``: "xavier" (uniform, Glorot), "he" (normal, He) or "normal" (N(0, scale²));
    ``scale`` multiplies the xavier/he weights and is the standard deviation for "normal".
    ``bias_init`` is the bias's constant starting value (the lecture advises 0.01 before ReLU).
    """

    def __init__(self, in_features: int, out_features: int, init: str = "xavier", scale: float = 1.0,
                 bias_init: float = 0.0, rng: Optional[np.random.Generator] = None, dtype: DTypeLike = np.float64) -> None:
        rng = rng if rng is not None else np.random.default_rng(0)
        self.W = _init(rng, init, in_features, out_features, (in_features, out_features), scale, dtype)
        self.b = np.full(out_features, bias_init, dtype)
        self.dW, self.db = np.zeros_like(self.W), np.zeros_like(self.b)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x @ self.W + self.b

    def backward(self, grad: np.ndarray) -> np.ndarray:
        self.dW[...] = self.x.T @ grad
        self.db[...] = grad.sum(axis=0)
        return grad @ self.W.T

    def params(self) -> List[np.ndarray]:
        return [self.W, self.b]

    def grads(self) -> List[np.ndarray]:
        return [self.dW, self.db]

    def __repr__(self) -> str:
        return f"Linear({self.W.shape[0]}, {self.W.shape[1]})"


class Identity(Layer):
    """No activation: the lecture's deep linear network."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad

    def derivative(self) -> np.ndarray:
        return np.ones_like(self.x)


class Activation(Layer):
    """Any activation of nonlin by name, e.g. ``Activation("leaky_relu", negative_slope=0.1)``.

    The forward keeps the output when the backward reads it (sigmoid, tanh, elu, ...), the
    input otherwise. ``derivative()`` gives f' at the last forward's inputs, entry by entry,
    from what was saved: one kernel call (the backward of ones).
    """

    def __init__(self, name: str, **params: Any) -> None:
        if name not in ACTIVATIONS:
            raise ValueError(f"no activation {name!r} in nonlin {nl.__version__}; have {', '.join(ACTIVATIONS)}")
        reads, defaults, *rest = _TABLE[name]
        self.name, self.reads = name, reads
        self.p = {**defaults, **params}
        self.bp = {k: v for k, v in self.p.items() if not rest or k in rest[0]}
        self._f, self._b = getattr(nl, name), getattr(nl, name + "_backward")

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = self._f(x, **self.p)
        self.saved = x if self.reads == "x" else y
        return y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        if self.reads == "output=":
            return self._b(grad, output=self.saved, **self.bp)
        return self._b(grad, self.saved, **self.bp)

    def derivative(self) -> np.ndarray:
        return self.backward(np.ones_like(self.saved))

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.p.items() if v != _TABLE[self.name][1].get(k))
        return f"Activation({self.name!r}{extra})"


class PReLU(Layer):
    """x if x > 0 else w_c·x, with one learnable slope per feature (axis 1), starting at ``init``."""

    def __init__(self, num_parameters: int, init: float = 0.25, dtype: DTypeLike = np.float64) -> None:
        self.weight = np.full(num_parameters, init, dtype)
        self.dweight = np.zeros_like(self.weight)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return nl.prelu(x, self.weight)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        dx, dw = nl.prelu_backward(grad, self.x, self.weight)
        self.dweight[...] = dw
        return dx

    def derivative(self) -> np.ndarray:
        return nl.prelu_derivative(self.x, self.weight)

    def params(self) -> List[np.ndarray]:
        return [self.weight]

    def grads(self) -> List[np.ndarray]:
        return [self.dweight]


class Maxout(Layer):
    """Goodfellow et al. 2013: h_i(x) = max_j (x W[:, i, j] + b[i, j]), W (d, m, k), b (m, k).

    The m·k pieces come from one matmul, laid out as m groups of k consecutive columns, and
    nonlin's ``maxout``/``maxout_backward`` take the max and route the gradient (to each
    group's first maximum) on that axis. Not in PyTorch, which has no Maxout layer.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 2, init: str = "xavier",
                 scale: float = 1.0, bias_init: float = 0.0, rng: Optional[np.random.Generator] = None,
                 dtype: DTypeLike = np.float64) -> None:
        rng = rng if rng is not None else np.random.default_rng(0)
        d, m, k = in_features, out_features, pieces
        self.k = k
        self.W = _init(rng, init, d, m, (d, m, k), scale, dtype)
        self.b = np.full((m, k), bias_init, dtype)
        self.dW, self.db = np.zeros_like(self.W), np.zeros_like(self.b)

    def forward(self, x: np.ndarray) -> np.ndarray:
        d, m, k = self.W.shape
        self.x = x
        self.z = x @ self.W.reshape(d, m * k) + self.b.reshape(m * k)
        return nl.maxout(self.z, self.k)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        d, m, k = self.W.shape
        dz = nl.maxout_backward(grad, self.z, self.k)
        self.dW[...] = (self.x.T @ dz).reshape(d, m, k)
        self.db[...] = dz.sum(axis=0).reshape(m, k)
        return dz @ self.W.reshape(d, m * k).T

    def derivative(self) -> np.ndarray:
        """d h_i / d (winning piece): 1 for every unit and sample; a Maxout unit always passes gradient."""
        return nl.maxout_backward(np.ones((self.z.shape[0], self.W.shape[1]), self.z.dtype), self.z, self.k) \
            .reshape(self.z.shape[0], self.W.shape[1], self.k).sum(axis=-1)

    def params(self) -> List[np.ndarray]:
        return [self.W, self.b]

    def grads(self) -> List[np.ndarray]:
        return [self.dW, self.db]

    def __repr__(self) -> str:
        d, m, k = self.W.shape
        return f"Maxout({d}, {m}, pieces={k})"


class Sequential(Layer):
    def __init__(self, *layers: Layer) -> None:
        self.layers = list(layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def params(self) -> List[np.ndarray]:
        return [p for layer in self.layers for p in layer.params()]

    def grads(self) -> List[np.ndarray]:
        return [g for layer in self.layers for g in layer.grads()]

    def __repr__(self) -> str:
        return "Sequential(" + ", ".join(map(repr, self.layers)) + ")"


class SoftmaxCrossEntropy:
    """Mean over the batch of -log softmax(z)[label], computed as z - max - log Σ e^(z - max)
    (no overflow, no log 0). ``backward()`` gives (softmax(z) - onehot) / batch."""

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        z = logits - logits.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        self.p, self.labels = np.exp(logp), labels
        return float(-logp[np.arange(len(labels)), labels].mean())

    def backward(self) -> np.ndarray:
        g = self.p.copy()
        g[np.arange(len(self.labels)), self.labels] -= 1
        return g / len(self.labels)


class MSE:
    """Mean over all entries of (y - target)²."""

    def forward(self, y: np.ndarray, target: np.ndarray) -> float:
        self.diff = y - target
        return float(np.mean(self.diff**2))

    def backward(self) -> np.ndarray:
        return 2 * self.diff / self.diff.size


class SGD:
    """Stochastic gradient descent with momentum, PyTorch's form: v = μ v + g; p -= lr v."""

    def __init__(self, model: Layer, lr: float = 0.01, momentum: float = 0.0) -> None:
        self.model, self.lr, self.momentum = model, lr, momentum
        self.velocity = [np.zeros_like(p) for p in model.params()]

    def step(self) -> None:
        for p, g, v in zip(self.model.params(), self.model.grads(), self.velocity):
            v *= self.momentum
            v += g
            p -= self.lr * v


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(logits.argmax(axis=1) == labels))
