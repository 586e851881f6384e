"""nonlin: neural-network activation functions and their gradients for NumPy arrays.

Every function takes array-likes and an optional ``out=``; float32 and float64 are computed
natively (the result keeps the dtype), other real inputs are converted to float64.
``nonlin.reference`` holds the plain-NumPy float64 specification the kernels are tested against.
"""

import os as _os

from . import _core
from ._core import (
    __version__,
    elu,
    elu_backward,
    elu_derivative,
    leaky_relu,
    leaky_relu_backward,
    leaky_relu_derivative,
    maxout,
    maxout_backward,
    prelu,
    prelu_backward,
    prelu_derivative,
    relu,
    relu_backward,
    relu_derivative,
    set_num_threads,
    sigmoid,
    sigmoid_backward,
    sigmoid_derivative,
    tanh,
    tanh_backward,
    tanh_derivative,
)
from ._core import (  # axis-wise and random activations
    glu,
    glu_backward,
    log_softmax,
    log_softmax_backward,
    rrelu,
    rrelu_backward,
    rrelu_derivative,
    softmax,
    softmax_backward,
)

__all__ = [
    "elu",
    "elu_backward",
    "elu_derivative",
    "info",
    "leaky_relu",
    "leaky_relu_backward",
    "leaky_relu_derivative",
    "maxout",
    "maxout_backward",
    "prelu",
    "prelu_backward",
    "prelu_derivative",
    "relu",
    "relu_backward",
    "relu_derivative",
    "set_num_threads",
    "sigmoid",
    "sigmoid_backward",
    "sigmoid_derivative",
    "tanh",
    "tanh_backward",
    "tanh_derivative",
    # axis-wise and random activations
    "glu",
    "glu_backward",
    "log_softmax",
    "log_softmax_backward",
    "rrelu",
    "rrelu_backward",
    "rrelu_derivative",
    "softmax",
    "softmax_backward",
]


def info() -> dict:
    """The version, the SIMD level in use and the number of threads of large calls."""
    level, threads = _core._runtime()
    return {"version": __version__, "simd": level, "threads": threads}


# The parent's worker threads do not exist in a forked child: run serially there.
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_core._after_fork)
