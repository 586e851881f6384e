"""Uses the public API as a typed program would; `mypy --strict` must accept it (test_stubs.py).

The lines marked `type: ignore[...]` are misuses the stub must reject: with --strict (which
warns about unused ignores) mypy fails if one of them is accepted."""

from typing import Any

import numpy as np
import numpy.typing as npt

import nonlin


def forward_backward(x: npt.NDArray[np.float32], g: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    out = np.empty_like(x)
    y = nonlin.sigmoid(x, out=out)
    dx: npt.NDArray[np.float32] = nonlin.sigmoid_backward(g, y)
    nonlin.relu(x, out=x)
    nonlin.leaky_relu(x, 0.2)
    nonlin.leaky_relu_backward(g, x, negative_slope=0.1, out=out)
    nonlin.elu_backward(g, output=y, alpha=1.5)
    nonlin.gelu(x, approximate="tanh")
    nonlin.softplus_backward(g, x, beta=2.0, threshold=10.0)
    nonlin.hardtanh(x, min_val=-2.0, max_val=2.0)
    nonlin.threshold(x, 0.5, -1.0)
    nonlin.softmax(x, axis=-1)
    nonlin.log_softmax_backward(g, y, axis=0)
    nonlin.maxout(x, 2, axis=-1)
    nonlin.glu(x, axis=-1)
    grad_input, grad_weight = nonlin.prelu_backward(g, x, np.full(3, 0.25, np.float32))
    r, noise = nonlin.rrelu(x, training=True, seed=1)
    nonlin.rrelu_backward(g, x, noise)
    return dx


def python_values() -> float:
    v: Any = nonlin.tanh(0.5)  # array-likes: Python scalars and lists too
    nonlin.silu([1.0, -2.0, 3.0])
    nonlin.set_num_threads(2)
    info: dict[str, Any] = nonlin.info()
    return float(v) + len(info)


def misuse(x: npt.NDArray[np.float64]) -> None:
    nonlin.sigmoid(x, x)  # type: ignore[call-arg]
    nonlin.leaky_relu(x, negative_slope="0.2")  # type: ignore[arg-type]
    nonlin.threshold(x)  # type: ignore[call-arg]
    nonlin.set_num_threads(2.5)  # type: ignore[arg-type]
    nonlin.relu(x, inplace=True)  # type: ignore[call-arg]


if __name__ == "__main__":
    a = np.linspace(-2, 2, 12, dtype=np.float32).reshape(2, 3, 2)
    forward_backward(a, np.ones_like(a))
    python_values()
