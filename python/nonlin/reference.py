"""Plain NumPy float64 reference implementations of every ``nonlin`` function.

This module is the readable spec (see spec.md): same names and parameters as
``nonlin._core`` but without ``out=``. Every function converts its inputs to
float64 and returns float64 arrays (0-d arrays for 0-d input); prelu_backward
returns ``(grad_input, grad_weight)``. The kernels are tested against these
values at 4 ULP, so the formulas below are the numerically stable ones.

Conventions shared by the piecewise functions: the "x > 0" branch is taken
only for x > 0; x <= 0 (including -0) takes the other branch; NaN gives NaN.
It never imports nonlin._core.
"""

import math
import operator

from typing import Any, Dict, Optional, Tuple, Union, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

# inf / NaN produced by these formulas are intended answers (e.g. exp overflow in
# the branch np.where discards, or inf * 0), so the warnings are silenced.
_QUIET: Dict[str, Any] = dict(over="ignore", invalid="ignore")


def _f64(v: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(v, dtype=np.float64)


def _check_same_shape(
    name: str,
    grad_output: Any,
    other: Any,
    other_name: str,
) -> None:
    if grad_output.shape != other.shape:
        raise ValueError(
            f"{name}: grad_output shape {grad_output.shape} does not match "
            f"{other_name} shape {other.shape}"
        )


def _piecewise(
    x: Any,
    positive: Any,
    non_positive: Any,
) -> NDArray[np.float64]:
    """``positive`` where x > 0, ``non_positive`` where x <= 0, NaN where x is NaN."""
    return np.where(x > 0, positive, np.where(np.isnan(x), np.nan, non_positive))


# ----------------------------------------------------------------------------- sigmoid

def sigmoid(x: ArrayLike) -> NDArray[np.float64]:
    """1 / (1 + exp(-x)), computed with e = exp(-|x|) so nothing overflows:
    1/(1+e) for x >= 0, e/(1+e) for x < 0. sigmoid(+-0) = 0.5, sigmoid(+inf) = 1,
    sigmoid(-inf) = +0, NaN -> NaN."""
    x = _f64(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _one_plus_squared(e: NDArray[np.float64]) -> NDArray[np.float64]:
    """(1 + e)**2 for 0 <= e <= 1, without the rounding error of 1 + e: with d = 1 + e rounded,
    d_err = (1 - d) + e is exact, and (1 + e)**2 = d*d + 2*d*d_err to first order."""
    d = 1.0 + e
    d_err = (1.0 - d) + e
    return d * d + 2.0 * d * d_err


def sigmoid_derivative(x: ArrayLike) -> NDArray[np.float64]:
    """sigmoid(x) * sigmoid(-x) = e / (1+e)**2 with e = exp(-|x|) (accurate in the
    tails). 0.25 at x = 0, +0 at +-inf, NaN -> NaN."""
    x = _f64(x)
    e = np.exp(-np.abs(x))
    return e / _one_plus_squared(e)


def sigmoid_backward(grad_output: ArrayLike, output: ArrayLike) -> NDArray[np.float64]:
    """g * y * (1 - y) from the saved output y = sigmoid(x) (loses the tails)."""
    g, y = _f64(grad_output), _f64(output)
    _check_same_shape("sigmoid_backward", g, y, "output")
    with np.errstate(**_QUIET):
        return g * y * (1.0 - y)


# ----------------------------------------------------------------------------- tanh

def tanh(x: ArrayLike) -> NDArray[np.float64]:
    """tanh(x). tanh(-0) = -0, tanh(+-inf) = +-1, NaN -> NaN."""
    return np.tanh(_f64(x))


def tanh_derivative(x: ArrayLike) -> NDArray[np.float64]:
    """1 - tanh(x)**2 without cancellation: 4e / (1+e)**2 with e = exp(-2|x|).
    1 at x = 0, +0 at +-inf, NaN -> NaN."""
    x = _f64(x)
    with np.errstate(**_QUIET):  # 2|x| may overflow to inf; exp(-inf) = 0 is right
        e = np.exp(-2.0 * np.abs(x))
    return 4.0 * e / _one_plus_squared(e)


def tanh_backward(grad_output: ArrayLike, output: ArrayLike) -> NDArray[np.float64]:
    """g * (1 - y*y) from the saved output y = tanh(x), evaluated as g * ((1 - y) * (1 + y)),
    which does not cancel near |y| = 1."""
    g, y = _f64(grad_output), _f64(output)
    _check_same_shape("tanh_backward", g, y, "output")
    with np.errstate(**_QUIET):
        return g * ((1.0 - y) * (1.0 + y))


# ----------------------------------------------------------------------------- relu

def relu(x: ArrayLike) -> NDArray[np.float64]:
    """x if x > 0 else +0. relu(-0) = +0, NaN -> NaN."""
    x = _f64(x)
    return _piecewise(x, x, 0.0)


def relu_derivative(x: ArrayLike) -> NDArray[np.float64]:
    """1 if x > 0, 0 if x <= 0 (0 at x = 0, as PyTorch/JAX), NaN if x is NaN."""
    x = _f64(x)
    return _piecewise(x, 1.0, 0.0)


def relu_backward(grad_output: ArrayLike, x: ArrayLike) -> NDArray[np.float64]:
    """g if x > 0, 0 if x <= 0 (even if g is inf/NaN), NaN if x is NaN."""
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("relu_backward", g, x, "x")
    return _piecewise(x, g, 0.0)


# ----------------------------------------------------------------------------- leaky_relu

def leaky_relu(x: ArrayLike, negative_slope: float = 0.01) -> NDArray[np.float64]:
    """x if x > 0 else negative_slope * x (so -0 -> -0 for slope > 0). NaN -> NaN."""
    x, s = _f64(x), float(negative_slope)
    with np.errstate(**_QUIET):
        return _piecewise(x, x, s * x)


def leaky_relu_derivative(x: ArrayLike, negative_slope: float = 0.01) -> NDArray[np.float64]:
    """1 if x > 0, negative_slope if x <= 0 (slope at x = 0), NaN if x is NaN."""
    x, s = _f64(x), float(negative_slope)
    return _piecewise(x, 1.0, s)


def leaky_relu_backward(grad_output: ArrayLike, x: ArrayLike, negative_slope: float = 0.01) -> NDArray[np.float64]:
    """g if x > 0, negative_slope * g if x <= 0, NaN if x is NaN."""
    g, x, s = _f64(grad_output), _f64(x), float(negative_slope)
    _check_same_shape("leaky_relu_backward", g, x, "x")
    with np.errstate(**_QUIET):
        return _piecewise(x, g, s * g)


# ----------------------------------------------------------------------------- prelu

def _prelu_weight(name: str, x: Any, weight: Any) -> Any:
    """Return (w, slope): w = weight as float64, slope = w broadcastable against x.

    A 1-element weight (scalar, 0-d or 1-D) applies everywhere. Otherwise the
    weight must be 1-D with one entry per channel on axis 1 of x."""
    w = _f64(weight)
    if w.ndim > 1:
        raise ValueError(f"{name}: weight must be 0-d or 1-D, got shape {w.shape}")
    if w.size == 1:
        return w, w.reshape(())
    if x.ndim < 2 or x.shape[1] != w.size:
        raise ValueError(
            f"{name}: weight of shape {w.shape} needs x with ndim >= 2 and "
            f"x.shape[1] == {w.size}, got x shape {x.shape}"
        )
    return w, w.reshape((w.size,) + (1,) * (x.ndim - 2))


def prelu(x: ArrayLike, weight: ArrayLike) -> NDArray[np.float64]:
    """leaky_relu with slope weight[c] for channel c on axis 1:
    x if x > 0 else weight[c] * x. NaN -> NaN."""
    x = _f64(x)
    _, slope = _prelu_weight("prelu", x, weight)
    with np.errstate(**_QUIET):
        return _piecewise(x, x, slope * x)


def prelu_derivative(x: ArrayLike, weight: ArrayLike) -> NDArray[np.float64]:
    """1 if x > 0 else weight[c] (weight[c] at x = 0), NaN if x is NaN."""
    x = _f64(x)
    _, slope = _prelu_weight("prelu_derivative", x, weight)
    return _piecewise(x, 1.0, slope)


def prelu_backward(
    grad_output: ArrayLike, x: ArrayLike, weight: ArrayLike
) -> Tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Returns (grad_input, grad_weight).

    grad_input = g if x > 0, weight[c] * g if x <= 0, NaN if x is NaN.
    grad_weight[c] = sum of g * x over the entries of channel c where NOT (x > 0)
    (so a NaN x gives NaN); summed over everything for a 1-element weight.
    grad_weight has weight's shape."""
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("prelu_backward", g, x, "x")
    w, slope = _prelu_weight("prelu_backward", x, weight)
    with np.errstate(**_QUIET):
        grad_input = _piecewise(x, g, slope * g)
        contrib = np.where(x > 0, 0.0, g * x)
    if w.size == 1:
        grad_weight = np.sum(contrib)
    else:
        grad_weight = np.sum(contrib, axis=(0,) + tuple(range(2, x.ndim)))
    return grad_input, np.reshape(grad_weight, w.shape)


# ----------------------------------------------------------------------------- elu

def elu(x: ArrayLike, alpha: float = 1.0) -> NDArray[np.float64]:
    """x if x > 0 else alpha * expm1(x). elu(-0) = -0 (alpha > 0), elu(-inf) = -alpha,
    NaN -> NaN."""
    x, a = _f64(x), float(alpha)
    with np.errstate(**_QUIET):  # expm1 overflows in the discarded x > 0 branch
        return _piecewise(x, x, a * np.expm1(x))


def _mul_exp(g: Any, a: Any, x: Any) -> Any:
    """g * a * e^x, rounded about once: e^x = h*h with h = e^(x/2), applied last, so g*a
    cannot overflow on the way and e^x is never a subnormal on its own. For finite x, e^x > 0
    even where h underflows, so an infinite g stays infinite (g * a)."""
    h = np.exp(x / 2)
    return np.where(np.isinf(g) & np.isfinite(x), g * a, (g * (a * h)) * h)


def elu_derivative(x: ArrayLike, alpha: float = 1.0) -> NDArray[np.float64]:
    """1 if x > 0 else alpha * exp(x) (alpha at x = 0), NaN if x is NaN."""
    x, a = _f64(x), float(alpha)
    with np.errstate(**_QUIET):
        return _piecewise(x, 1.0, _mul_exp(a, 1.0, x))


def elu_backward(
    grad_output: ArrayLike,
    x: Optional[ArrayLike] = None,
    output: Optional[ArrayLike] = None,
    alpha: float = 1.0,
) -> NDArray[np.float64]:
    """Exactly one of x / output must be given.
    From x:          g if x > 0 else g * (alpha * exp(x)).
    From output y:   g if y > 0 else g * (y + alpha).
    NaN in x / y gives NaN."""
    if (x is None) == (output is None):
        raise ValueError("elu_backward: pass exactly one of x= or output=")
    g, a = _f64(grad_output), float(alpha)
    with np.errstate(**_QUIET):
        if x is not None:
            x = _f64(x)
            _check_same_shape("elu_backward", g, x, "x")
            return _piecewise(x, g, _mul_exp(g, a, x))
        if output is None:
            raise TypeError("elu_backward: give x or output")
        y = _f64(output)
        _check_same_shape("elu_backward", g, y, "output")
        return _piecewise(y, g, g * (y + a))


# ----------------------------------------------------------------------------- maxout

def _maxout_groups(name: str, x: Any, pieces: int, axis: int) -> Any:
    """Validate and return (groups, axis): x with `axis` moved last and split into
    (L // pieces, pieces), and the normalized axis."""
    pieces, axis = operator.index(pieces), operator.index(axis)
    if x.ndim == 0:
        raise ValueError(f"{name}: x must have at least 1 dimension, got shape ()")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{name}: axis {axis} out of range for x of shape {x.shape}")
    axis %= x.ndim
    length = x.shape[axis]
    if pieces < 1 or length % pieces != 0:
        raise ValueError(
            f"{name}: pieces={pieces} must be >= 1 and divide the length {length} "
            f"of axis {axis} (x shape {x.shape})"
        )
    moved = np.moveaxis(x, axis, -1)
    return moved.reshape(moved.shape[:-1] + (length // pieces, pieces)), axis


def maxout(x: ArrayLike, pieces: int, axis: int = -1) -> NDArray[np.float64]:
    """Split `axis` (length L, a multiple of pieces) into L // pieces groups of
    `pieces` consecutive entries and take the max of each group. A NaN in a group
    gives NaN. Ties return the first maximal entry (so max(-0, +0) = -0 and
    max(+0, -0) = +0), the same entry maxout_backward routes to."""
    x = _f64(x)
    groups, axis = _maxout_groups("maxout", x, pieces, axis)
    # np.argmax returns the first maximum, and the first NaN if there is one.
    first = np.argmax(groups, axis=-1)[..., None]
    out = np.take_along_axis(groups, first, axis=-1)[..., 0]
    return np.moveaxis(out, -1, axis)


def maxout_backward(grad_output: ArrayLike, x: ArrayLike, pieces: int, axis: int = -1) -> NDArray[np.float64]:
    """Gradient of maxout: each g value goes to the FIRST maximal entry of its group
    (the first NaN if the group has a NaN; ties incl. -0 vs +0 -> the first),
    zeros elsewhere. g must have maxout's output shape; the result has x's shape."""
    g, x = _f64(grad_output), _f64(x)
    groups, axis = _maxout_groups("maxout_backward", x, pieces, axis)
    expected = x.shape[:axis] + (groups.shape[-2],) + x.shape[axis + 1:]
    if g.shape != expected:
        raise ValueError(
            f"maxout_backward: grad_output shape {g.shape} does not match "
            f"maxout output shape {expected} (x shape {x.shape})"
        )
    first = np.argmax(groups, axis=-1)[..., None]
    grad_groups = np.zeros_like(groups)
    np.put_along_axis(grad_groups, first, np.moveaxis(g, axis, -1)[..., None], axis=-1)
    grad_moved = grad_groups.reshape(groups.shape[:-2] + (x.shape[axis],))
    return np.moveaxis(grad_moved, -1, axis)


# ----------------------------------------------------------------------------- softmax, log_softmax

def _axis(name: str, x: Any, axis: int) -> Tuple[NDArray[np.float64], int]:
    """x (0-d counts as shape (1,), as PyTorch takes dim 0 or -1 for it) and the axis, checked."""
    axis = operator.index(axis)
    xs = x.reshape(1) if x.ndim == 0 else x
    if not -xs.ndim <= axis < xs.ndim:
        raise ValueError(f"{name}: axis {axis} out of range for x of shape {x.shape}")
    return xs, axis % xs.ndim


def _shifted(x: Any, m: Any) -> Any:
    """x - m as s + err exactly (TwoSum); err = 0 where s is not finite."""
    s = x - m
    bb = s - x
    err = (x - (s - bb)) - (m + bb)
    return s, np.where(np.isnan(err), 0.0, err)


def _fsum(a: Any, axis: int) -> NDArray[np.float64]:
    """Correctly rounded sums along axis (math.fsum), kept as an axis of length 1: the kernels'
    compensated sums are more accurate than np.sum's."""
    return np.expand_dims(np.apply_along_axis(math.fsum, axis, a), axis)


def _exp_parts(name: str, x: Any, axis: int) -> Any:
    """(x, axis, m, s, err, e): m the max along axis (at least the lowest finite float, so
    that -inf entries give e = 0 and a row of -inf gives 0 / 0), x - m = s + err exactly, and
    e = exp(x - m) = exp(s) (1 + err) (exp alone would turn the rounding of x - m into a
    relative error of |x - m| eps)."""
    xs, axis = _axis(name, _f64(x), axis)
    m = np.maximum(np.max(xs, axis=axis, keepdims=True), -np.finfo(np.float64).max)
    s, err = _shifted(xs, m)
    ex = np.exp(s)
    return xs, axis, m, s, err, ex + ex * err


def softmax(x: ArrayLike, axis: int = -1) -> NDArray[np.float64]:
    """exp(x - max) / sum(exp(x - max)) along axis. A 0-d x is one element (1.0). A row with NaN
    or +inf, or of -inf only, gives NaN (as PyTorch)."""
    x = _f64(x)
    if x.size == 0:
        _axis("softmax", x, axis)
        return x.copy()
    with np.errstate(**_QUIET):
        xs, axis, m, s, err, e = _exp_parts("softmax", x, axis)
        return cast(NDArray[np.float64], (e / _fsum(e, axis)).reshape(x.shape))


def log_softmax(x: ArrayLike, axis: int = -1) -> NDArray[np.float64]:
    """(x - max) - log(sum(exp(x - max))) along axis. The sum is 1 (the maximum) + the rest, so
    log(sum) = log1p(rest): the maximum of a row whose other entries are far below gets
    -sum(rest), not 0. -inf gives -inf; NaN rows as softmax."""
    x = _f64(x)
    if x.size == 0:
        _axis("log_softmax", x, axis)
        return x.copy()
    with np.errstate(**_QUIET):
        xs, axis, m, s, err, e = _exp_parts("log_softmax", x, axis)
        ones = e >= 1  # the maxima (e == 1)
        rest = _fsum(np.where(ones, 0.0, e), axis)
        lse = np.log1p((np.sum(ones, axis=axis, keepdims=True) - 1) + rest)
        return cast(NDArray[np.float64], ((s - lse) + err).reshape(x.shape))


def softmax_backward(grad_output: ArrayLike, output: ArrayLike, axis: int = -1) -> NDArray[np.float64]:
    """y * (g - sum(g * y)) along axis, from the saved output y (ATen's _softmax_backward_data)."""
    g, y = _f64(grad_output), _f64(output)
    _check_same_shape("softmax_backward", g, y, "output")
    gs, axis = _axis("softmax_backward", g, axis)
    ys = y.reshape(gs.shape)
    with np.errstate(**_QUIET):
        return cast(NDArray[np.float64], (ys * (gs - np.sum(gs * ys, axis=axis, keepdims=True))).reshape(y.shape))


def log_softmax_backward(grad_output: ArrayLike, output: ArrayLike, axis: int = -1) -> NDArray[np.float64]:
    """g - exp(y) * sum(g) along axis, from the saved output y (ATen's
    _log_softmax_backward_data)."""
    g, y = _f64(grad_output), _f64(output)
    _check_same_shape("log_softmax_backward", g, y, "output")
    gs, axis = _axis("log_softmax_backward", g, axis)
    ys = y.reshape(gs.shape)
    with np.errstate(**_QUIET):
        return cast(NDArray[np.float64], (gs - np.exp(ys) * np.sum(gs, axis=axis, keepdims=True)).reshape(y.shape))


# ----------------------------------------------------------------------------- glu

def _glu_halves(name: str, x: Any, axis: int) -> Any:
    axis = operator.index(axis)
    if x.ndim == 0:
        raise ValueError(f"{name}: x must have at least 1 dimension, got shape ()")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{name}: axis {axis} out of range for x of shape {x.shape}")
    axis %= x.ndim
    if x.shape[axis] % 2:
        raise ValueError(f"{name}: axis {axis} of x (shape {x.shape}) has odd length {x.shape[axis]}")
    a, b = np.split(x, 2, axis=axis)
    return a, b, axis


def _mul_sigmoid(a: Any, b: Any) -> NDArray[np.float64]:
    """a * sigmoid(b) without sigmoid(b) underflowing: a / (1 + e) times e (e = exp(-|b|),
    applied last by _mul_exp) for b < 0."""
    e = np.exp(-np.abs(b))
    with np.errstate(**_QUIET):
        return cast(NDArray[np.float64], np.where(b >= 0, a / (1 + e), _mul_exp(a / (1 + e), 1.0, -np.abs(b))))


def _mul_sigmoid_derivative(a: Any, b: Any) -> NDArray[np.float64]:
    """a * sigmoid'(b) = a / (1 + e)**2 times e (e = exp(-|b|), applied last)."""
    e = np.exp(-np.abs(b))
    with np.errstate(**_QUIET):
        return cast(NDArray[np.float64], _mul_exp(a / _one_plus_squared(e), 1.0, -np.abs(b)))


def glu(x: ArrayLike, axis: int = -1) -> NDArray[np.float64]:
    """a * sigmoid(b), a and b the first and second halves of x along axis (a large and b very
    negative: full precision, and inf * sigmoid(finite b) = inf)."""
    a, b, _ = _glu_halves("glu", _f64(x), axis)
    return _mul_sigmoid(a, b)


def glu_backward(grad_output: ArrayLike, x: ArrayLike, axis: int = -1) -> NDArray[np.float64]:
    """The gradient for x (x's shape): [g * sigmoid(b), g * a * sigmoid'(b)] along axis, with
    sigmoid'(b) = sigmoid(b) sigmoid(-b) accurate in the tails."""
    g, x = _f64(grad_output), _f64(x)
    a, b, axis = _glu_halves("glu_backward", x, axis)
    if g.shape != a.shape:
        raise ValueError(f"glu_backward: grad_output shape {g.shape} does not match glu's output shape {a.shape}")
    with np.errstate(**_QUIET):
        return np.concatenate([_mul_sigmoid(g, b), g * _mul_sigmoid_derivative(a, b)], axis=axis)


# ----------------------------------------------------------------------------- rrelu

_M64 = (1 << 64) - 1


def _splitmix64(z: Any) -> Any:
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _mix32(x: Any) -> Any:
    """lowbias32 (C. Wellons) on uint32 arrays (multiplication wraps mod 2**32)."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def rrelu_noise(
    shape: Tuple[int, ...],
    lower: float,
    upper: float,
    seed: int,
    dtype: DTypeLike = np.float64,
) -> NDArray[Any]:
    """The slopes of rrelu in training: element i (C order) gets
    min(lower + (upper - lower) u_i, upper) rounded to dtype (lower and upper rounded to dtype
    first), with u_i uniform in [0, 1) from a hash of (seed, i):
    k = splitmix64(splitmix64(seed) ^ (i >> 32)), h1 = mix32((i mod 2^32) ^ k_lo),
    h2 = mix32(h1 ^ k_hi), u = (h1 >> 5) 2^-27 + (h2 >> 6) 2^-53."""
    dtype = np.dtype(dtype)
    lower, upper = (float(np.asarray(v, dtype=dtype)) for v in (lower, upper))
    n = int(np.prod(shape, dtype=np.int64))
    out = np.empty(n, dtype=np.float64)
    s = _splitmix64(int(seed) & _M64)
    for start in range(0, n, 1 << 32):
        k = _splitmix64(s ^ (start >> 32))
        lo = np.arange(min(n - start, 1 << 32), dtype=np.uint64).astype(np.uint32)
        with np.errstate(over="ignore"):
            h1 = _mix32(lo ^ np.uint32(k & 0xFFFFFFFF))
            h2 = _mix32(h1 ^ np.uint32(k >> 32))
        u = (h1 >> np.uint32(5)) * 2.0 ** -27 + (h2 >> np.uint32(6)) * 2.0 ** -53
        out[start:start + lo.size] = np.minimum(lower + (upper - lower) * u, upper)
    return out.astype(dtype).reshape(shape)


def _rrelu_check(name: str, lower: float, upper: float) -> None:
    if not (np.isfinite(lower) and np.isfinite(upper) and lower <= upper):
        raise ValueError(f"{name}: need finite lower <= upper, got lower={lower}, upper={upper}")


def rrelu(
    x: ArrayLike,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    seed: Optional[int] = None,
    noise: Optional[ArrayLike] = None,
) -> Union[NDArray[np.float64], Tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Eval: leaky_relu(x, (lower + upper) / 2). Training: (prelu(x, r), r) with r the slopes
    from rrelu_noise (seed required here; the dtype of the slopes is x's if it is float32)."""
    _rrelu_check("rrelu", lower, upper)
    if not training:
        return leaky_relu(x, (lower + upper) / 2)
    if seed is None:
        raise TypeError("rrelu: training=True needs a seed")
    x_in = np.asarray(x)
    dtype = x_in.dtype if x_in.dtype == np.float32 else np.float64
    r = rrelu_noise(x_in.shape, lower, upper, seed, dtype)
    x = _f64(x)
    return _piecewise(x, x, _f64(r) * x), r


def rrelu_derivative(
    x: ArrayLike,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    noise: Optional[ArrayLike] = None,
) -> NDArray[np.float64]:
    """1 if x > 0 else the slope: noise (training) or (lower + upper) / 2 (eval)."""
    _rrelu_check("rrelu_derivative", lower, upper)
    x = _f64(x)
    slope = (lower + upper) / 2 if noise is None else _f64(noise)
    return _piecewise(x, 1.0, slope * np.ones_like(x))


def rrelu_backward(
    grad_output: ArrayLike,
    x: ArrayLike,
    noise: Optional[ArrayLike] = None,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
) -> NDArray[np.float64]:
    """g if x > 0 else g * slope, the slope from noise (training) or (lower + upper) / 2."""
    _rrelu_check("rrelu_backward", lower, upper)
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("rrelu_backward", g, x, "x")
    slope = (lower + upper) / 2 if noise is None else _f64(noise)
    with np.errstate(**_QUIET):
        return _piecewise(x, g, slope * g)
# ----------------------------------------------------------------------------- helpers of the smooth functions
# Where float64 itself is not enough (a tail whose relative slope is large, a root of a
# derivative, a subnormal result), the formulas are evaluated in np.longdouble (the 64-bit
# significand of x87 extended precision on x86) and rounded to float64 once at the end.
_LD = np.longdouble


def _ld(x: Any) -> NDArray[np.float64]:
    return np.asarray(x, dtype=_LD)


def _sigmoid_ld(z: Any) -> Any:
    """sigmoid(z) in long double, stable for both signs."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _softplus_ld(z: Any) -> Any:
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|) in long double."""
    with np.errstate(**_QUIET):
        return np.where(z > 0, z, 0) + np.log1p(np.exp(-np.abs(z)))


def _out(v: Any, x: Any) -> NDArray[np.float64]:
    """Round a long double result to float64; NaN where x is NaN."""
    return np.where(np.isnan(x), np.nan, np.asarray(v, dtype=np.float64))


# ----------------------------------------------------------------------------- gelu

_SQRT1_2 = (0.7071067811865476, -4.833646656726457e-17)  # 1/sqrt(2) as hi + lo
_erfc = np.vectorize(math.erfc, otypes=[np.float64])
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _veltkamp(a: Any) -> Any:
    c = 134217729.0 * a  # 2^27 + 1
    hi = c - (c - a)
    return hi, a - hi


def _two_prod(a: Any, b: Any) -> Any:
    """a * b as (p, err) with p + err exact (Dekker); err = 0 where p is not finite."""
    with np.errstate(**_QUIET):
        p = a * b
        (ah, al), (bh, bl) = _veltkamp(a), _veltkamp(b)
        err = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, np.where(np.isfinite(p) & np.isfinite(err), err, 0.0)


def _erfcx_asymptotic_ld(s: Any) -> Any:
    """erfc(s) e^(s^2) = 1/(s sqrt(pi)) sum (-1)^n (2n-1)!! / (2s^2)^n, in long double, for s >= 20."""
    w, term, acc = 1 / (2 * s * s), _LD(1), _LD(1)
    for n in range(1, 12):
        term = -term * (2 * n - 1) * w
        acc = acc + term
    return acc / (s * np.sqrt(_LD(np.pi)))


def _gelu_tail_ld(x: Any) -> Any:
    """(e^(-x^2/2), erfcx(-x/sqrt(2))) in long double for x <= -20 sqrt(2) (no subnormal on the way)."""
    xl = _ld(np.where(x < -30, x, -30.0))
    with np.errstate(**_QUIET):
        s = -xl / np.sqrt(_LD(2))
        return np.exp(-xl * xl / 2), _erfcx_asymptotic_ld(s)


def _gelu_erfc(x: Any) -> Any:
    """erfc(-x / sqrt(2)) with the rounding of the argument corrected: for s + ds = -x / sqrt(2),
    erfc(s + ds) = erfc(s) (1 - M ds), M = 2/sqrt(pi) e^(-s^2) / erfc(s) (its asymptote
    2s + 1/s where erfc(s) underflows)."""
    s, ds = _two_prod(-x, _SQRT1_2[0])
    ds = ds + np.where(np.isfinite(x), -x * _SQRT1_2[1], 0.0)
    r = _erfc(s)
    with np.errstate(all="ignore"):
        m = 2 / math.sqrt(math.pi) * np.exp(-s * s) / r
        m = np.where(r > 1e-300, m, 2 * s + 1 / s)
    return r * (1 - np.where(np.isfinite(m), m, 0.0) * ds)


def _gauss(x: Any) -> Any:
    """e^(-x^2/2) from x^2 split exactly into hi + lo."""
    hi, lo = _two_prod(x, x)
    with np.errstate(**_QUIET):
        return np.exp(-hi / 2) * (1 - lo / 2)


# gelu'(x) = Phi(x) + x phi(x) has a root x0; around it, its Taylor series:
# gelu^(n+1)(x) = (-1)^n (He_n(x) - He_{n+2}(x)) phi(x) (He the probabilists' Hermite polynomials).
_GELU_X0 = (-0.7517915246935645, 1.4956759177009883e-17)
_PI_LD = _LD("3.14159265358979323846264338327950288")


def _gelu_taylor() -> Any:
    """The coefficients in long double (float64 ones are ~2 ulp off, enough to double the error
    where gelu' is small)."""
    x0, n_terms = _LD(_GELU_X0[0]) + _LD(_GELU_X0[1]), 44
    he = [_LD(1), x0]
    for k in range(1, n_terms + 2):
        he.append(x0 * he[k] - k * he[k - 1])
    phi0 = np.exp(-x0 * x0 / 2) / np.sqrt(2 * _PI_LD)
    return np.array([_LD(0)] + [(-1) ** n * (he[n] - he[n + 2]) * phi0 / _LD(math.factorial(n + 1))
                                for n in range(n_terms)])


_GELU_TAYLOR = _gelu_taylor()
_TWO_K = math.sqrt(2 / math.pi)  # sqrt(2/pi); the tanh form uses z = 2 K (x + 0.044715 x^3)


def _check_approximate(name: str, approximate: str) -> None:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{name}: approximate must be 'none' or 'tanh', got {approximate!r}")


def _gelu_tanh_z(x: Any) -> Any:
    x = _ld(x)
    k = _LD(2) * _LD("0.797884560802865355879892119868763737")  # 2 sqrt(2/pi)
    with np.errstate(**_QUIET):
        return x, k * (x + _LD("0.044715") * x ** 3), k * (1 + 3 * _LD("0.044715") * x * x)


def _gelu_tanh_d_ld(x: Any, g: Any) -> NDArray[np.float64]:
    """g * sigmoid(z) (1 + x sigmoid(-z) z') in long double, rounded once."""
    xl, z, dz = _gelu_tanh_z(x)
    with np.errstate(**_QUIET):
        s = _sigmoid_ld(z)
        d = _out(_ld(g) * (s + xl * s * _sigmoid_ld(-z) * dz), x)
    return np.where(np.isposinf(x), g * 1.0, np.where(np.isneginf(x), g * 0.0, d))


def gelu(x: ArrayLike, approximate: str = "none") -> NDArray[np.float64]:
    """x Phi(x) = x/2 erfc(-x/sqrt(2)) ("none"), or x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    = x sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)) ("tanh"). gelu(-inf) = -0, gelu(-0) = -0."""
    _check_approximate("gelu", approximate)
    x = _f64(x)
    if approximate == "tanh":
        xl, z, _ = _gelu_tanh_z(x)
        with np.errstate(**_QUIET):
            y = np.where(np.isneginf(x), -0.0, _out(xl * _sigmoid_ld(z), x))
        return np.asarray(y)
    with np.errstate(**_QUIET):
        y = 0.5 * x * _gelu_erfc(x)
        gauss, erfcx = _gelu_tail_ld(x)
        tail = _out(_ld(x) / 2 * gauss * erfcx, x)
    return np.where(np.isneginf(x), -0.0, np.where(x < -30, tail, y))


def gelu_derivative(x: ArrayLike, approximate: str = "none") -> NDArray[np.float64]:
    """Phi(x) + x phi(x) ("none"; its Taylor series around the root x0 = -0.7518 for |x - x0| < 1),
    or the derivative of the tanh form, sigmoid(z) (1 + x sigmoid(-z) z'). 1/2 at 0, 1 at inf,
    0 at -inf."""
    _check_approximate("gelu_derivative", approximate)
    x = _f64(x)
    if approximate == "tanh":
        return _gelu_tanh_d_ld(x, np.ones_like(x))
    t = (_ld(x) - _GELU_X0[0]) - _GELU_X0[1]  # x - x0 in long double
    with np.errstate(**_QUIET):
        hi, lo = _two_prod(x, x)  # x phi(x) in long double, from x^2 = hi + lo exactly
        x_phi = _ld(x) * np.exp(-_ld(hi) / 2) * (1 - _ld(lo) / 2) / np.sqrt(2 * _PI_LD)
        direct = _out(0.5 * _ld(_gelu_erfc(x)) + x_phi, x)
        gauss, erfcx = _gelu_tail_ld(x)
        tail = _out(gauss * (erfcx / 2 + _ld(x) / np.sqrt(2 * _LD(np.pi))), x)
        direct = np.where(x < -30, tail, direct)
        taylor = _out(np.polynomial.polynomial.polyval(np.where(np.abs(t) < 1, t, 0), _GELU_TAYLOR), x)
    d = np.where(np.abs(t) < 1, taylor, direct)
    return np.where(np.isposinf(x), 1.0, np.where(np.isneginf(x), 0.0, d))


def gelu_backward(grad_output: ArrayLike, x: ArrayLike, approximate: str = "none") -> NDArray[np.float64]:
    """g * gelu'(x) of the chosen form."""
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("gelu_backward", g, x, "x")
    _check_approximate("gelu_backward", approximate)
    with np.errstate(**_QUIET):
        if approximate == "tanh":
            return _gelu_tanh_d_ld(x, g)
        gauss, erfcx = _gelu_tail_ld(x)
        tail = _out(_ld(g) * gauss * (erfcx / 2 + _ld(x) / np.sqrt(2 * _LD(np.pi))), x)
        return np.where(np.isneginf(x), g * 0.0, np.where(x < -30, tail, g * gelu_derivative(x)))


# ----------------------------------------------------------------------------- silu, mish

def silu(x: ArrayLike) -> NDArray[np.float64]:
    """x sigmoid(x). silu(-0) = -0, silu(-inf) = -0."""
    x = _f64(x)
    with np.errstate(**_QUIET):
        y = _out(_ld(x) * _sigmoid_ld(_ld(x)), x)
    return np.where(np.isneginf(x), -0.0, y)


# silu' = sigmoid(x) (1 + x sigmoid(-x)) = sigmoid(x) N / (1 + u), N = 1 + u + x, u = e^x. N has
# a root x0 (u0 = e^x0 = -1 - x0), where it cancels; with t = x - x0, N = u0 expm1(t) + t: two
# terms of the sign of t.
_SILU_X0 = (-1.2784645427610737, -1.0946994183093437e-16)


def _silu_d(x: Any) -> NDArray[np.float64]:
    """sigmoid(x) (1 + x sigmoid(-x)) in long double (near the root: sigmoid(x) N / (1 + u))."""
    xl = _ld(x)
    with np.errstate(**_QUIET):
        direct = _sigmoid_ld(xl) * (1 + xl * _sigmoid_ld(-xl))
        t = (xl - _SILU_X0[0]) - _SILU_X0[1]
        near = np.abs(t) < 1
        t = np.where(near, t, 0)
        u0 = -1 - (_LD(_SILU_X0[0]) + _LD(_SILU_X0[1]))
        n = u0 * np.expm1(t) + t
        return cast(NDArray[np.float64], np.where(near, _sigmoid_ld(xl) * n / (1 + u0 * np.exp(t)), direct))


def silu_derivative(x: ArrayLike) -> NDArray[np.float64]:
    """sigmoid(x) (1 + x sigmoid(-x)). 1/2 at 0, 1 at inf, 0 at -inf."""
    x = _f64(x)
    d = _out(_silu_d(x), x)
    return np.where(np.isposinf(x), 1.0, np.where(np.isneginf(x), 0.0, d))


def silu_backward(grad_output: ArrayLike, x: ArrayLike) -> NDArray[np.float64]:
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("silu_backward", g, x, "x")
    with np.errstate(**_QUIET):
        return np.where(np.isinf(x), g * silu_derivative(x), _out(_ld(g) * _silu_d(x), x))


def mish(x: ArrayLike) -> NDArray[np.float64]:
    """x tanh(softplus(x)). mish(-0) = -0, mish(-inf) = -0."""
    x = _f64(x)
    xl = _ld(x)
    with np.errstate(**_QUIET):
        y = _out(xl * np.tanh(_softplus_ld(xl)), x)
    return np.where(np.isneginf(x), -0.0, y)


# mish' has a root x0 (u0 = e^x0). With u = e^x, D = u^2 + 2u + 2: tanh(sp) = u (u + 2) / D,
# sech(sp)^2 = 4 (1 + u)^2 / D^2, so mish'(x) = u N / D^2 with N = P(u) + 4x (1 + u),
# P(u) = (u + 2) D = u^3 + 4u^2 + 6u + 4. N cancels near x0; as N(x) - N(x0) with t = x - x0,
# u - u0 = u0 expm1(t), it is (u - u0) (u^2 + u u0 + u0^2 + 4(u + u0) + 6 + 4 x0) + 4t (1 + u):
# two terms of the sign of t (6 + 4 x0 > 0), no cancellation.
_MISH_X0 = (-1.1924312145154952, -4.8484829848031044e-17)
_MISH_U0 = _LD("0.30348253528152892882143674353964306")


def _mish_d(x: Any) -> Any:
    xl = _ld(x)
    with np.errstate(**_QUIET):
        t = np.tanh(_softplus_ld(xl))
        direct = t + xl * ((1 - t) * (1 + t)) * _sigmoid_ld(xl)
        s = (xl - _MISH_X0[0]) - _MISH_X0[1]
        near = np.abs(s) < 1
        s = np.where(near, s, 0)
        u0, x0 = _MISH_U0, _LD(_MISH_X0[0])
        u = u0 * np.exp(s)
        n = u0 * np.expm1(s) * (u * u + u * u0 + u0 * u0 + 4 * (u + u0) + 6 + 4 * x0) + 4 * s * (1 + u)
        d = u * u + 2 * u + 2
        return np.where(near, u * n / (d * d), direct)


def mish_derivative(x: ArrayLike) -> NDArray[np.float64]:
    """tanh(sp) + x sech(sp)^2 sigmoid(x), sp = softplus(x). 0.6 at 0, 1 at inf, 0 at -inf."""
    x = _f64(x)
    d = _out(_mish_d(x), x)
    return np.where(np.isposinf(x), 1.0, np.where(np.isneginf(x), 0.0, d))


def mish_backward(grad_output: ArrayLike, x: ArrayLike) -> NDArray[np.float64]:
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("mish_backward", g, x, "x")
    with np.errstate(**_QUIET):
        return np.where(np.isinf(x), g * mish_derivative(x), _out(_ld(g) * _mish_d(x), x))


# ----------------------------------------------------------------------------- softplus, logsigmoid

def _check_beta(name: str, beta: float) -> None:
    if beta == 0:
        raise ValueError(f"{name}: beta must not be 0")


def softplus(x: ArrayLike, beta: float = 1.0, threshold: float = 20.0) -> NDArray[np.float64]:
    """log(1 + e^(beta x)) / beta, and x where beta x > threshold (as PyTorch)."""
    _check_beta("softplus", beta)
    x = _f64(x)
    with np.errstate(**_QUIET):
        y = _out(_softplus_ld(_LD(beta) * _ld(x)) / _LD(beta), x)
        return np.where(x * beta > threshold, x, y)


def softplus_derivative(x: ArrayLike, beta: float = 1.0, threshold: float = 20.0) -> NDArray[np.float64]:
    """sigmoid(beta x), and 1 where beta x > threshold."""
    _check_beta("softplus_derivative", beta)
    x = _f64(x)
    with np.errstate(**_QUIET):
        return np.where(x * beta > threshold, 1.0, _out(_sigmoid_ld(_LD(beta) * _ld(x)), x))


def softplus_backward(
    grad_output: ArrayLike,
    x: ArrayLike,
    beta: float = 1.0,
    threshold: float = 20.0,
) -> NDArray[np.float64]:
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("softplus_backward", g, x, "x")
    _check_beta("softplus_backward", beta)
    with np.errstate(**_QUIET):
        return np.where(x * beta > threshold, g, _out(_ld(g) * _sigmoid_ld(_LD(beta) * _ld(x)), x))


def logsigmoid(x: ArrayLike) -> NDArray[np.float64]:
    """log(sigmoid(x)) = -softplus(-x)."""
    x = _f64(x)
    return _out(-_softplus_ld(-_ld(x)), x)


def logsigmoid_derivative(x: ArrayLike) -> NDArray[np.float64]:
    """sigmoid(-x)."""
    x = _f64(x)
    return _out(_sigmoid_ld(-_ld(x)), x)


def logsigmoid_backward(grad_output: ArrayLike, x: ArrayLike) -> NDArray[np.float64]:
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("logsigmoid_backward", g, x, "x")
    with np.errstate(**_QUIET):
        return _out(_ld(g) * _sigmoid_ld(-_ld(x)), x)


# ----------------------------------------------------------------------------- softsign, tanhshrink

def softsign(x: ArrayLike) -> NDArray[np.float64]:
    """x / (1 + |x|); +-1 at +-inf."""
    x = _f64(x)
    with np.errstate(**_QUIET):
        return np.where(np.isinf(x), np.sign(x), x / (1 + np.abs(x)))


def softsign_derivative(x: ArrayLike) -> NDArray[np.float64]:
    """1 / (1 + |x|)^2."""
    x = _f64(x)
    return (1 / (1 + np.abs(x))) ** 2


def softsign_backward(grad_output: ArrayLike, x: ArrayLike) -> NDArray[np.float64]:
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("softsign_backward", g, x, "x")
    r = 1 / (1 + np.abs(x))
    with np.errstate(**_QUIET):
        return (g * r) * r


# x - tanh x = x^3/3 - 2x^5/15 + ... (Taylor, for |x| < 0.09 where the long double difference cancels)
_TANHSHRINK_SERIES = [1 / 3, -2 / 15, 17 / 315, -62 / 2835, 1382 / 155925, -21844 / 6081075,
                      929569 / 638512875]


def tanhshrink(x: ArrayLike) -> NDArray[np.float64]:
    """x - tanh(x); its Taylor series near 0 (no cancellation). tanhshrink(-0) = -0."""
    x = _f64(x)
    xl = _ld(x)
    with np.errstate(**_QUIET):
        direct = xl - np.tanh(xl)
        z = xl * xl
        series = xl * z * np.polynomial.polynomial.polyval(z, [_LD(c) for c in _TANHSHRINK_SERIES])
    return _out(np.where(np.abs(xl) < 0.09, series, direct), x)


def tanhshrink_derivative(x: ArrayLike) -> NDArray[np.float64]:
    """tanh(x)^2."""
    x = _f64(x)
    return _out(np.tanh(_ld(x)) ** 2, x)


def tanhshrink_backward(grad_output: ArrayLike, x: ArrayLike) -> NDArray[np.float64]:
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("tanhshrink_backward", g, x, "x")
    t = np.tanh(_ld(x))
    with np.errstate(**_QUIET):
        return _out((_ld(g) * t) * t, x)


# ----------------------------------------------------------------------------- selu, celu

SELU_SCALE = 1.0507009873554805
SELU_ALPHA = 1.6732632423543772


def selu(x: ArrayLike) -> NDArray[np.float64]:
    """scale x for x > 0, scale alpha expm1(x) otherwise."""
    x = _f64(x)
    with np.errstate(**_QUIET):
        return _piecewise(x, SELU_SCALE * x, (SELU_SCALE * SELU_ALPHA) * np.expm1(x))


def selu_derivative(x: ArrayLike) -> NDArray[np.float64]:
    """scale for x > 0, scale alpha e^x otherwise."""
    x = _f64(x)
    with np.errstate(**_QUIET):
        return _piecewise(x, SELU_SCALE, _mul_exp(SELU_SCALE * SELU_ALPHA, 1.0, x))


def selu_backward(
    grad_output: ArrayLike, x: Optional[ArrayLike] = None, output: Optional[ArrayLike] = None
) -> NDArray[np.float64]:
    """From x: scale g if x > 0 else g scale alpha e^x. From y: scale g if y > 0 else g (y + scale alpha)."""
    if (x is None) == (output is None):
        raise ValueError("selu_backward: pass exactly one of x= or output=")
    g = _f64(grad_output)
    with np.errstate(**_QUIET):
        if x is not None:
            x = _f64(x)
            _check_same_shape("selu_backward", g, x, "x")
            return _piecewise(x, SELU_SCALE * g, _mul_exp(g, 1.0, x) * (SELU_SCALE * SELU_ALPHA))
        if output is None:
            raise TypeError("selu_backward: give x or output")
        y = _f64(output)
        _check_same_shape("selu_backward", g, y, "output")
        return _piecewise(y, SELU_SCALE * g, g * (y + SELU_SCALE * SELU_ALPHA))


def _check_alpha(name: str, alpha: float) -> None:
    if alpha == 0:
        raise ValueError(f"{name}: alpha must not be 0")


def celu(x: ArrayLike, alpha: float = 1.0) -> NDArray[np.float64]:
    """max(0, x) + min(0, alpha (e^(x/alpha) - 1)) = x if x > 0 else alpha expm1(x / alpha)."""
    _check_alpha("celu", alpha)
    x, a = _f64(x), float(alpha)
    with np.errstate(**_QUIET):
        return _piecewise(x, x, a * _out(np.expm1(_ld(x) / _LD(a)), x))


def celu_derivative(x: ArrayLike, alpha: float = 1.0) -> NDArray[np.float64]:
    """1 if x > 0 else e^(x / alpha)."""
    _check_alpha("celu_derivative", alpha)
    x, a = _f64(x), float(alpha)
    with np.errstate(**_QUIET):
        return _piecewise(x, 1.0, _out(np.exp(_ld(x) / _LD(a)), x))


def celu_backward(
    grad_output: ArrayLike,
    x: Optional[ArrayLike] = None,
    output: Optional[ArrayLike] = None,
    alpha: float = 1.0,
) -> NDArray[np.float64]:
    """From x: g if x > 0 else g e^(x / alpha). From y: g if y > 0 else g (y + alpha) / alpha."""
    _check_alpha("celu_backward", alpha)
    if (x is None) == (output is None):
        raise ValueError("celu_backward: pass exactly one of x= or output=")
    g, a = _f64(grad_output), float(alpha)
    with np.errstate(**_QUIET):
        if x is not None:
            x = _f64(x)
            _check_same_shape("celu_backward", g, x, "x")
            q = _ld(x) / _LD(a)
            d = _ld(g) * np.exp(q)
            # alpha < 0: e^q overflows where a tiny g e^q need not; there, e^q in three factors
            third = np.exp(q / 3)
            d = np.where(np.isfinite(d) | ~np.isfinite(q), d, _ld(g) * third * third * third)
            d = _out(np.where(g == 0, g, d), x)  # a zero g stays zero (signed), even past overflow
            # an infinite g times e^(x/a) > 0 stays infinite
            return _piecewise(x, g, np.where(np.isinf(g) & np.isfinite(x), g, d))
        if output is None:
            raise TypeError("celu_backward: give x or output")
        y = _f64(output)
        _check_same_shape("celu_backward", g, y, "output")
        return _piecewise(y, g, g * ((y + a) / a))


# ----------------------------------------------------------------------------- hardtanh family

def _mask(x: Any, inside: Any, g: Any) -> NDArray[np.float64]:
    """g where inside, 0 elsewhere, NaN where x is NaN."""
    return np.where(np.isnan(x), np.nan, np.where(inside, g, 0.0))


def _check_hardtanh(name: str, min_val: float, max_val: float) -> None:
    if min_val > max_val:
        raise ValueError(f"{name}: min_val ({min_val}) must not be greater than max_val ({max_val})")


def hardtanh(x: ArrayLike, min_val: float = -1.0, max_val: float = 1.0) -> NDArray[np.float64]:
    """min(max(x, min_val), max_val); -0 stays -0, NaN -> NaN."""
    _check_hardtanh("hardtanh", min_val, max_val)
    x = _f64(x)
    return np.where(x < min_val, min_val, np.where(x > max_val, max_val, x))


def hardtanh_derivative(x: ArrayLike, min_val: float = -1.0, max_val: float = 1.0) -> NDArray[np.float64]:
    """1 if min_val < x < max_val else 0 (0 at both ends, as ATen), NaN for NaN."""
    _check_hardtanh("hardtanh_derivative", min_val, max_val)
    x = _f64(x)
    return _mask(x, (x > min_val) & (x < max_val), 1.0)


def hardtanh_backward(
    grad_output: ArrayLike,
    x: ArrayLike,
    min_val: float = -1.0,
    max_val: float = 1.0,
) -> NDArray[np.float64]:
    """g where min_val < x < max_val, else 0 (x may be the saved output: same mask)."""
    _check_hardtanh("hardtanh_backward", min_val, max_val)
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("hardtanh_backward", g, x, "x")
    return _mask(x, (x > min_val) & (x < max_val), g)


def relu6(x: ArrayLike) -> NDArray[np.float64]:
    """hardtanh(x, 0, 6)."""
    return hardtanh(x, 0.0, 6.0)


def relu6_derivative(x: ArrayLike) -> NDArray[np.float64]:
    return hardtanh_derivative(x, 0.0, 6.0)


def relu6_backward(grad_output: ArrayLike, x: ArrayLike) -> NDArray[np.float64]:
    return hardtanh_backward(grad_output, x, 0.0, 6.0)


def hardsigmoid(x: ArrayLike) -> NDArray[np.float64]:
    """relu6(x + 3) / 6."""
    x = _f64(x)
    with np.errstate(**_QUIET):
        return np.clip((x + 3) / 6, 0.0, 1.0)


def hardsigmoid_derivative(x: ArrayLike) -> NDArray[np.float64]:
    """1/6 if -3 < x < 3 else 0 (ATen's hardsigmoid_backward)."""
    x = _f64(x)
    return _mask(x, (x > -3) & (x < 3), 1 / 6)


def hardsigmoid_backward(grad_output: ArrayLike, x: ArrayLike) -> NDArray[np.float64]:
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("hardsigmoid_backward", g, x, "x")
    return _mask(x, (x > -3) & (x < 3), g / 6)


def hardswish(x: ArrayLike) -> NDArray[np.float64]:
    """x relu6(x + 3) / 6 (-0 for x < -3, as the formula gives)."""
    x = _f64(x)
    with np.errstate(**_QUIET):
        return np.where(x > 3, x, np.where(x < -3, -0.0, x * np.clip(x + 3, 0.0, 6.0) / 6))


def hardswish_derivative(x: ArrayLike) -> NDArray[np.float64]:
    """0 for x <= -3, x/3 + 1/2 for -3 < x < 3, 1 for x >= 3 (ATen's hardswish_backward)."""
    x = _f64(x)
    with np.errstate(**_QUIET):
        d = np.where(x <= -3, 0.0, np.where(x >= 3, 1.0, (2 * x + 3) / 6))
    return np.where(np.isnan(x), np.nan, d)


def hardswish_backward(grad_output: ArrayLike, x: ArrayLike) -> NDArray[np.float64]:
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("hardswish_backward", g, x, "x")
    with np.errstate(**_QUIET):
        return g * hardswish_derivative(x)


def _check_lambd(name: str, lambd: float) -> None:
    if lambd < 0:
        raise ValueError(f"{name}: lambd must be greater or equal to 0, got {lambd}")


def softshrink(x: ArrayLike, lambd: float = 0.5) -> NDArray[np.float64]:
    """x - lambd if x > lambd, x + lambd if x < -lambd, else +0; NaN -> NaN."""
    _check_lambd("softshrink", lambd)
    x = _f64(x)
    with np.errstate(**_QUIET):
        y = np.where(x > lambd, x - lambd, np.where(x < -lambd, x + lambd, 0.0))
    return np.where(np.isnan(x), np.nan, y)


def softshrink_derivative(x: ArrayLike, lambd: float = 0.5) -> NDArray[np.float64]:
    """1 if |x| > lambd else 0 (0 at +-lambd, as ATen)."""
    _check_lambd("softshrink_derivative", lambd)
    x = _f64(x)
    return _mask(x, np.abs(x) > lambd, 1.0)


def softshrink_backward(grad_output: ArrayLike, x: ArrayLike, lambd: float = 0.5) -> NDArray[np.float64]:
    _check_lambd("softshrink_backward", lambd)
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("softshrink_backward", g, x, "x")
    return _mask(x, np.abs(x) > lambd, g)


def hardshrink(x: ArrayLike, lambd: float = 0.5) -> NDArray[np.float64]:
    """x if |x| > lambd else +0; NaN -> NaN."""
    x = _f64(x)
    return _mask(x, np.abs(x) > lambd, x)


def hardshrink_derivative(x: ArrayLike, lambd: float = 0.5) -> NDArray[np.float64]:
    x = _f64(x)
    return _mask(x, np.abs(x) > lambd, 1.0)


def hardshrink_backward(grad_output: ArrayLike, x: ArrayLike, lambd: float = 0.5) -> NDArray[np.float64]:
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("hardshrink_backward", g, x, "x")
    return _mask(x, np.abs(x) > lambd, g)


def threshold(x: ArrayLike, threshold: float, value: float) -> NDArray[np.float64]:
    """x if x > threshold else value; NaN -> NaN."""
    x = _f64(x)
    return np.where(x <= threshold, float(value), x)


def threshold_derivative(x: ArrayLike, threshold: float) -> NDArray[np.float64]:
    x = _f64(x)
    return _mask(x, x > threshold, 1.0)


def threshold_backward(grad_output: ArrayLike, x: ArrayLike, threshold: float) -> NDArray[np.float64]:
    """g if x > threshold else 0 (ATen's threshold_backward); NaN where x is NaN."""
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("threshold_backward", g, x, "x")
    return _mask(x, x > threshold, g)


def two_relu(x: ArrayLike) -> NDArray[np.float64]:
    """max(0, x + 1) - max(0, x - 1), the lecture's two-ReLU unit: equal to hardtanh(x) + 1."""
    # The literal difference gives (x + 1) - (x - 1) = 0 for huge x; the clamp is exact.
    return hardtanh(x) + 1.0


def two_relu_derivative(x: ArrayLike) -> NDArray[np.float64]:
    """relu'(x + 1) - relu'(x - 1) with relu'(0) = 0: 1 for -1 < x <= 1, else 0."""
    x = _f64(x)
    return _mask(x, (x > -1) & (x <= 1), 1.0)


def two_relu_backward(grad_output: ArrayLike, x: ArrayLike) -> NDArray[np.float64]:
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("two_relu_backward", g, x, "x")
    return _mask(x, (x > -1) & (x <= 1), g)
