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

import numpy as np

# inf / NaN produced by these formulas are intended answers (e.g. exp overflow in
# the branch np.where discards, or inf * 0), so the warnings are silenced.
_QUIET = dict(over="ignore", invalid="ignore")


def _f64(v):
    return np.asarray(v, dtype=np.float64)


def _check_same_shape(name, grad_output, other, other_name):
    if grad_output.shape != other.shape:
        raise ValueError(
            f"{name}: grad_output shape {grad_output.shape} does not match "
            f"{other_name} shape {other.shape}"
        )


def _piecewise(x, positive, non_positive):
    """``positive`` where x > 0, ``non_positive`` where x <= 0, NaN where x is NaN."""
    return np.where(x > 0, positive, np.where(np.isnan(x), np.nan, non_positive))


# ----------------------------------------------------------------------------- sigmoid

def sigmoid(x):
    """1 / (1 + exp(-x)), computed with e = exp(-|x|) so nothing overflows:
    1/(1+e) for x >= 0, e/(1+e) for x < 0. sigmoid(+-0) = 0.5, sigmoid(+inf) = 1,
    sigmoid(-inf) = +0, NaN -> NaN."""
    x = _f64(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _one_plus_squared(e):
    """(1 + e)**2 for 0 <= e <= 1, without the rounding error of 1 + e: with d = 1 + e rounded,
    d_err = (1 - d) + e is exact, and (1 + e)**2 = d*d + 2*d*d_err to first order."""
    d = 1.0 + e
    d_err = (1.0 - d) + e
    return d * d + 2.0 * d * d_err


def sigmoid_derivative(x):
    """sigmoid(x) * sigmoid(-x) = e / (1+e)**2 with e = exp(-|x|) (accurate in the
    tails). 0.25 at x = 0, +0 at +-inf, NaN -> NaN."""
    x = _f64(x)
    e = np.exp(-np.abs(x))
    return e / _one_plus_squared(e)


def sigmoid_backward(grad_output, output):
    """g * y * (1 - y) from the saved output y = sigmoid(x) (loses the tails)."""
    g, y = _f64(grad_output), _f64(output)
    _check_same_shape("sigmoid_backward", g, y, "output")
    with np.errstate(**_QUIET):
        return g * y * (1.0 - y)


# ----------------------------------------------------------------------------- tanh

def tanh(x):
    """tanh(x). tanh(-0) = -0, tanh(+-inf) = +-1, NaN -> NaN."""
    return np.tanh(_f64(x))


def tanh_derivative(x):
    """1 - tanh(x)**2 without cancellation: 4e / (1+e)**2 with e = exp(-2|x|).
    1 at x = 0, +0 at +-inf, NaN -> NaN."""
    x = _f64(x)
    with np.errstate(**_QUIET):  # 2|x| may overflow to inf; exp(-inf) = 0 is right
        e = np.exp(-2.0 * np.abs(x))
    return 4.0 * e / _one_plus_squared(e)


def tanh_backward(grad_output, output):
    """g * (1 - y*y) from the saved output y = tanh(x), evaluated as g * ((1 - y) * (1 + y)),
    which does not cancel near |y| = 1."""
    g, y = _f64(grad_output), _f64(output)
    _check_same_shape("tanh_backward", g, y, "output")
    with np.errstate(**_QUIET):
        return g * ((1.0 - y) * (1.0 + y))


# ----------------------------------------------------------------------------- relu

def relu(x):
    """x if x > 0 else +0. relu(-0) = +0, NaN -> NaN."""
    x = _f64(x)
    return _piecewise(x, x, 0.0)


def relu_derivative(x):
    """1 if x > 0, 0 if x <= 0 (0 at x = 0, as PyTorch/JAX), NaN if x is NaN."""
    x = _f64(x)
    return _piecewise(x, 1.0, 0.0)


def relu_backward(grad_output, x):
    """g if x > 0, 0 if x <= 0 (even if g is inf/NaN), NaN if x is NaN."""
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("relu_backward", g, x, "x")
    return _piecewise(x, g, 0.0)


# ----------------------------------------------------------------------------- leaky_relu

def leaky_relu(x, negative_slope=0.01):
    """x if x > 0 else negative_slope * x (so -0 -> -0 for slope > 0). NaN -> NaN."""
    x, s = _f64(x), float(negative_slope)
    with np.errstate(**_QUIET):
        return _piecewise(x, x, s * x)


def leaky_relu_derivative(x, negative_slope=0.01):
    """1 if x > 0, negative_slope if x <= 0 (slope at x = 0), NaN if x is NaN."""
    x, s = _f64(x), float(negative_slope)
    return _piecewise(x, 1.0, s)


def leaky_relu_backward(grad_output, x, negative_slope=0.01):
    """g if x > 0, negative_slope * g if x <= 0, NaN if x is NaN."""
    g, x, s = _f64(grad_output), _f64(x), float(negative_slope)
    _check_same_shape("leaky_relu_backward", g, x, "x")
    with np.errstate(**_QUIET):
        return _piecewise(x, g, s * g)


# ----------------------------------------------------------------------------- prelu

def _prelu_weight(name, x, weight):
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


def prelu(x, weight):
    """leaky_relu with slope weight[c] for channel c on axis 1:
    x if x > 0 else weight[c] * x. NaN -> NaN."""
    x = _f64(x)
    _, slope = _prelu_weight("prelu", x, weight)
    with np.errstate(**_QUIET):
        return _piecewise(x, x, slope * x)


def prelu_derivative(x, weight):
    """1 if x > 0 else weight[c] (weight[c] at x = 0), NaN if x is NaN."""
    x = _f64(x)
    _, slope = _prelu_weight("prelu_derivative", x, weight)
    return _piecewise(x, 1.0, slope)


def prelu_backward(grad_output, x, weight):
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

def elu(x, alpha=1.0):
    """x if x > 0 else alpha * expm1(x). elu(-0) = -0 (alpha > 0), elu(-inf) = -alpha,
    NaN -> NaN."""
    x, a = _f64(x), float(alpha)
    with np.errstate(**_QUIET):  # expm1 overflows in the discarded x > 0 branch
        return _piecewise(x, x, a * np.expm1(x))


def _mul_exp(g, a, x):
    """g * a * e^x, rounded about once: e^x = h*h with h = e^(x/2), applied last, so g*a
    cannot overflow on the way and e^x is never a subnormal on its own. For finite x, e^x > 0
    even where h underflows, so an infinite g stays infinite (g * a)."""
    h = np.exp(x / 2)
    return np.where(np.isinf(g) & np.isfinite(x), g * a, (g * (a * h)) * h)


def elu_derivative(x, alpha=1.0):
    """1 if x > 0 else alpha * exp(x) (alpha at x = 0), NaN if x is NaN."""
    x, a = _f64(x), float(alpha)
    with np.errstate(**_QUIET):
        return _piecewise(x, 1.0, _mul_exp(a, 1.0, x))


def elu_backward(grad_output, x=None, output=None, alpha=1.0):
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
        y = _f64(output)
        _check_same_shape("elu_backward", g, y, "output")
        return _piecewise(y, g, g * (y + a))


# ----------------------------------------------------------------------------- maxout

def _maxout_groups(name, x, pieces, axis):
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


def maxout(x, pieces, axis=-1):
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


def maxout_backward(grad_output, x, pieces, axis=-1):
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

def _axis(name, x, axis):
    """x (0-d counts as shape (1,), as PyTorch takes dim 0 or -1 for it) and the axis, checked."""
    axis = operator.index(axis)
    xs = x.reshape(1) if x.ndim == 0 else x
    if not -xs.ndim <= axis < xs.ndim:
        raise ValueError(f"{name}: axis {axis} out of range for x of shape {x.shape}")
    return xs, axis % xs.ndim


def _shifted(x, m):
    """x - m as s + err exactly (TwoSum); err = 0 where s is not finite."""
    s = x - m
    bb = s - x
    err = (x - (s - bb)) - (m + bb)
    return s, np.where(np.isnan(err), 0.0, err)


def _fsum(a, axis):
    """Correctly rounded sums along axis (math.fsum), kept as an axis of length 1: the kernels'
    compensated sums are more accurate than np.sum's."""
    return np.expand_dims(np.apply_along_axis(math.fsum, axis, a), axis)


def _exp_parts(name, x, axis):
    """(x, axis, m, s, err, e): m the max along axis (at least the lowest finite float, so
    that -inf entries give e = 0 and a row of -inf gives 0 / 0), x - m = s + err exactly, and
    e = exp(x - m) = exp(s) (1 + err) (exp alone would turn the rounding of x - m into a
    relative error of |x - m| eps)."""
    xs, axis = _axis(name, _f64(x), axis)
    m = np.maximum(np.max(xs, axis=axis, keepdims=True), -np.finfo(np.float64).max)
    s, err = _shifted(xs, m)
    ex = np.exp(s)
    return xs, axis, m, s, err, ex + ex * err


def softmax(x, axis=-1):
    """exp(x - max) / sum(exp(x - max)) along axis. A 0-d x is one element (1.0). A row with NaN
    or +inf, or of -inf only, gives NaN (as PyTorch)."""
    x = _f64(x)
    if x.size == 0:
        _axis("softmax", x, axis)
        return x.copy()
    with np.errstate(**_QUIET):
        xs, axis, m, s, err, e = _exp_parts("softmax", x, axis)
        return (e / _fsum(e, axis)).reshape(x.shape)


def log_softmax(x, axis=-1):
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
        return ((s - lse) + err).reshape(x.shape)


def softmax_backward(grad_output, output, axis=-1):
    """y * (g - sum(g * y)) along axis, from the saved output y (ATen's _softmax_backward_data)."""
    g, y = _f64(grad_output), _f64(output)
    _check_same_shape("softmax_backward", g, y, "output")
    gs, axis = _axis("softmax_backward", g, axis)
    ys = y.reshape(gs.shape)
    with np.errstate(**_QUIET):
        return (ys * (gs - np.sum(gs * ys, axis=axis, keepdims=True))).reshape(y.shape)


def log_softmax_backward(grad_output, output, axis=-1):
    """g - exp(y) * sum(g) along axis, from the saved output y (ATen's
    _log_softmax_backward_data)."""
    g, y = _f64(grad_output), _f64(output)
    _check_same_shape("log_softmax_backward", g, y, "output")
    gs, axis = _axis("log_softmax_backward", g, axis)
    ys = y.reshape(gs.shape)
    with np.errstate(**_QUIET):
        return (gs - np.exp(ys) * np.sum(gs, axis=axis, keepdims=True)).reshape(y.shape)


# ----------------------------------------------------------------------------- glu

def _glu_halves(name, x, axis):
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


def _mul_sigmoid(a, b):
    """a * sigmoid(b) without sigmoid(b) underflowing: a / (1 + e) times e (e = exp(-|b|),
    applied last by _mul_exp) for b < 0."""
    e = np.exp(-np.abs(b))
    with np.errstate(**_QUIET):
        return np.where(b >= 0, a / (1 + e), _mul_exp(a / (1 + e), 1.0, -np.abs(b)))


def _mul_sigmoid_derivative(a, b):
    """a * sigmoid'(b) = a / (1 + e)**2 times e (e = exp(-|b|), applied last)."""
    e = np.exp(-np.abs(b))
    with np.errstate(**_QUIET):
        return _mul_exp(a / _one_plus_squared(e), 1.0, -np.abs(b))


def glu(x, axis=-1):
    """a * sigmoid(b), a and b the first and second halves of x along axis (a large and b very
    negative: full precision, and inf * sigmoid(finite b) = inf)."""
    a, b, _ = _glu_halves("glu", _f64(x), axis)
    return _mul_sigmoid(a, b)


def glu_backward(grad_output, x, axis=-1):
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


def _splitmix64(z):
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _mix32(x):
    """lowbias32 (C. Wellons) on uint32 arrays (multiplication wraps mod 2**32)."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def rrelu_noise(shape, lower, upper, seed, dtype=np.float64):
    """The slopes of rrelu in training: element i (C order) gets
    min(lower + (upper - lower) u_i, upper) rounded to dtype (lower and upper rounded to dtype
    first), with u_i uniform in [0, 1) from a hash of (seed, i):
    k = splitmix64(splitmix64(seed) ^ (i >> 32)), h1 = mix32((i mod 2^32) ^ k_lo),
    h2 = mix32(h1 ^ k_hi), u = (h1 >> 5) 2^-27 + (h2 >> 6) 2^-53."""
    dtype = np.dtype(dtype)
    lower, upper = (float(dtype.type(v)) for v in (lower, upper))
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


def _rrelu_check(name, lower, upper):
    if not (np.isfinite(lower) and np.isfinite(upper) and lower <= upper):
        raise ValueError(f"{name}: need finite lower <= upper, got lower={lower}, upper={upper}")


def rrelu(x, lower=1.0 / 8, upper=1.0 / 3, training=False, seed=None, noise=None):
    """Eval: leaky_relu(x, (lower + upper) / 2). Training: (prelu(x, r), r) with r the slopes
    from rrelu_noise (seed required here; the dtype of the slopes is x's if it is float32)."""
    _rrelu_check("rrelu", lower, upper)
    if not training:
        return leaky_relu(x, (lower + upper) / 2)
    x_in = np.asarray(x)
    dtype = x_in.dtype if x_in.dtype == np.float32 else np.float64
    r = rrelu_noise(x_in.shape, lower, upper, seed, dtype)
    x = _f64(x)
    return _piecewise(x, x, _f64(r) * x), r


def rrelu_derivative(x, lower=1.0 / 8, upper=1.0 / 3, noise=None):
    """1 if x > 0 else the slope: noise (training) or (lower + upper) / 2 (eval)."""
    _rrelu_check("rrelu_derivative", lower, upper)
    x = _f64(x)
    slope = (lower + upper) / 2 if noise is None else _f64(noise)
    return _piecewise(x, 1.0, slope * np.ones_like(x))


def rrelu_backward(grad_output, x, noise=None, lower=1.0 / 8, upper=1.0 / 3):
    """g if x > 0 else g * slope, the slope from noise (training) or (lower + upper) / 2."""
    _rrelu_check("rrelu_backward", lower, upper)
    g, x = _f64(grad_output), _f64(x)
    _check_same_shape("rrelu_backward", g, x, "x")
    slope = (lower + upper) / 2 if noise is None else _f64(noise)
    with np.errstate(**_QUIET):
        return _piecewise(x, g, slope * g)
