"""nonlin: neural-network activation functions and their gradients for NumPy arrays.

Every function takes array-likes and an optional ``out=``; float32 and float64 are computed
natively (the result keeps the dtype), other real inputs are converted as by a NumPy ufunc
with float32 then float64 loops (bool, float16, 8- and 16-bit ints compute in float32).
``nonlin.reference`` holds the plain-NumPy float64 specification the kernels are tested against.
"""

import os as _os
from typing import Any, Dict

from . import _core
from ._core import (
    celu,
    celu_backward,
    celu_derivative,
    elu,
    elu_backward,
    elu_derivative,
    gelu,
    gelu_backward,
    gelu_derivative,
    hardshrink,
    hardshrink_backward,
    hardshrink_derivative,
    hardsigmoid,
    hardsigmoid_backward,
    hardsigmoid_derivative,
    hardswish,
    hardswish_backward,
    hardswish_derivative,
    hardtanh,
    hardtanh_backward,
    hardtanh_derivative,
    leaky_relu,
    leaky_relu_backward,
    leaky_relu_derivative,
    logsigmoid,
    logsigmoid_backward,
    logsigmoid_derivative,
    maxout,
    maxout_backward,
    mish,
    mish_backward,
    mish_derivative,
    prelu,
    prelu_backward,
    prelu_derivative,
    relu,
    relu6,
    relu6_backward,
    relu6_derivative,
    relu_backward,
    relu_derivative,
    selu,
    selu_backward,
    selu_derivative,
    set_num_threads,
    sigmoid,
    sigmoid_backward,
    sigmoid_derivative,
    silu,
    silu_backward,
    silu_derivative,
    softplus,
    softplus_backward,
    softplus_derivative,
    softshrink,
    softshrink_backward,
    softshrink_derivative,
    softsign,
    softsign_backward,
    softsign_derivative,
    tanh,
    tanh_backward,
    tanh_derivative,
    tanhshrink,
    tanhshrink_backward,
    tanhshrink_derivative,
    threshold,
    threshold_backward,
    threshold_derivative,
    two_relu,
    two_relu_backward,
    two_relu_derivative,
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

__version__: str = _core.__version__

__all__ = [
    "celu",
    "celu_backward",
    "celu_derivative",
    "elu",
    "elu_backward",
    "elu_derivative",
    "gelu",
    "gelu_backward",
    "gelu_derivative",
    "hardshrink",
    "hardshrink_backward",
    "hardshrink_derivative",
    "hardsigmoid",
    "hardsigmoid_backward",
    "hardsigmoid_derivative",
    "hardswish",
    "hardswish_backward",
    "hardswish_derivative",
    "hardtanh",
    "hardtanh_backward",
    "hardtanh_derivative",
    "info",
    "leaky_relu",
    "leaky_relu_backward",
    "leaky_relu_derivative",
    "logsigmoid",
    "logsigmoid_backward",
    "logsigmoid_derivative",
    "maxout",
    "maxout_backward",
    "mish",
    "mish_backward",
    "mish_derivative",
    "prelu",
    "prelu_backward",
    "prelu_derivative",
    "relu",
    "relu6",
    "relu6_backward",
    "relu6_derivative",
    "relu_backward",
    "relu_derivative",
    "selu",
    "selu_backward",
    "selu_derivative",
    "set_num_threads",
    "sigmoid",
    "sigmoid_backward",
    "sigmoid_derivative",
    "silu",
    "silu_backward",
    "silu_derivative",
    "softplus",
    "softplus_backward",
    "softplus_derivative",
    "softshrink",
    "softshrink_backward",
    "softshrink_derivative",
    "softsign",
    "softsign_backward",
    "softsign_derivative",
    "tanh",
    "tanh_backward",
    "tanh_derivative",
    "tanhshrink",
    "tanhshrink_backward",
    "tanhshrink_derivative",
    "threshold",
    "threshold_backward",
    "threshold_derivative",
    "two_relu",
    "two_relu_backward",
    "two_relu_derivative",
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


def info() -> Dict[str, Any]:
    """The version, the SIMD level in use and the number of threads of large calls."""
    level, threads = _core._runtime()
    return {"version": __version__, "simd": level, "threads": threads}


# The parent's worker threads do not exist in a forked child: run serially there.
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_core._after_fork)


def _check_environment() -> None:
    """Warn about a NONLIN_* setting the runtime cannot read (it then keeps its default)."""
    import warnings

    for var, value, what in _core._ignored_settings():
        warnings.warn(f"nonlin: {var}={value!r} is not {what}; ignored", RuntimeWarning, stacklevel=3)


_check_environment()
