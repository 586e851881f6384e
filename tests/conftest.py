"""Shared helpers: ULP comparison, value generators and the table of function cases."""

import dataclasses
from typing import Callable, Dict, Tuple

import numpy as np
import pytest
from hypothesis import settings

# The same examples on every run: CI results do not depend on luck.
settings.register_profile("nonlin", derandomize=True, database=None)
settings.load_profile("nonlin")

try:
    import nonlin.reference as reference
except ImportError:  # extension not built yet: test_reference.py can still run from the source tree
    import importlib.util
    import pathlib

    _path = pathlib.Path(__file__).resolve().parents[1] / "python" / "nonlin" / "reference.py"
    _spec = importlib.util.spec_from_file_location("nonlin_reference", _path)
    reference = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(reference)

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# ----------------------------------------------------------------------------- ULP comparison
def ulp_errors(got, ref64, dtype):
    """Elementwise distance of `got` from `ref64` rounded to `dtype`, in ULPs of `dtype`.

    The ULP is np.spacing of the rounded reference magnitude (spacing(0) and spacing of a
    subnormal is the smallest subnormal). NaN must meet NaN and inf must equal inf exactly,
    otherwise the error is inf."""
    dtype = np.dtype(dtype)
    got, ref64 = np.asarray(got), np.asarray(ref64, dtype=np.float64)
    assert got.shape == ref64.shape, f"shape {got.shape} != reference shape {ref64.shape}"
    with np.errstate(all="ignore"):
        ref = ref64.reshape(-1).astype(dtype)  # correctly rounded reference in the output dtype
        g, r = got.reshape(-1).astype(np.float64), ref.astype(np.float64)
        mag = np.abs(ref)
        ulp = np.spacing(mag)
        ulp = np.where(np.isinf(ulp), mag - np.nextafter(mag, dtype.type(0)), ulp)  # |ref| == max
        err = np.abs(g - r) / ulp.astype(np.float64)
    nan_r, nan_g = np.isnan(r), np.isnan(g)
    err = np.where(nan_r | nan_g, np.where(nan_r & nan_g, 0.0, np.inf), err)
    err = np.where(np.isinf(r) & ~nan_g, np.where(g == r, 0.0, np.inf), err)
    return err.reshape(got.shape)


def ulp_error(got, ref64, dtype):
    """Maximum ULP distance (0 for empty arrays)."""
    err = ulp_errors(got, ref64, dtype)
    return float(err.max()) if err.size else 0.0


def assert_close_ulp(got, ref, dtype, max_ulp=4, inputs=None, zero_sign=False):
    """Assert `got` has `dtype` and is within `max_ulp` of `ref`; print the worst input if not.
    With zero_sign, a zero result must also have the sign of the (rounded) reference zero."""
    dtype = np.dtype(dtype)
    got, ref = np.asarray(got), np.asarray(ref, dtype=np.float64)
    assert got.dtype == dtype, f"result dtype {got.dtype}, expected {dtype}"
    err = ulp_errors(got, ref, dtype)
    bad = err > max_ulp
    if zero_sign:
        with np.errstate(all="ignore"):
            r = ref.astype(dtype)
        bad |= (r == 0) & (got == 0) & (np.signbit(r) != np.signbit(got))
    if bad.any():
        idx = np.unravel_index(int(np.argmax(np.where(bad, err, -1.0))), got.shape)
        shown = {k: np.asarray(v)[idx] for k, v in (inputs or {}).items() if np.shape(v) == got.shape}
        pytest.fail(f"{int(bad.sum())}/{bad.size} elements off by > {max_ulp} ulp (or wrong zero sign);"
                    f" worst at {idx}: got {got[idx]!r}, reference {ref[idx]!r} ({err[idx]} ulp),"
                    f" inputs {shown!r}")


def contiguous(a):
    """C-contiguous copy that keeps 0-d arrays 0-d (np.ascontiguousarray makes them 1-d)."""
    return np.array(a, order="C", copy=True)


def assert_same_bits(a, b):
    """Bitwise equality (any NaN matches any NaN); tuples are compared element by element."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        assert isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)
        for u, v in zip(a, b):
            assert_same_bits(u, v)
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
    if a.dtype.kind != "f" or a.itemsize > 8:  # e.g. an unsupported input checked for being unchanged
        assert a.tobytes() == b.tobytes()
        return
    na, nb = np.isnan(a).reshape(-1), np.isnan(b).reshape(-1)
    ua, ub = (v.reshape(-1).view(f"u{v.itemsize}") for v in (a, b))
    assert np.array_equal(na, nb), "NaN positions differ"
    diff = np.flatnonzero((ua != ub) & ~na)
    assert diff.size == 0, f"{diff.size} elements differ, first {a.reshape(-1)[diff[0]]!r} vs {b.reshape(-1)[diff[0]]!r}"


# ----------------------------------------------------------------------------- value generators
def special_values(dtype):
    fi = np.finfo(dtype)
    sub = float(fi.smallest_subnormal)
    vals = [0.0, -0.0, np.inf, -np.inf, np.nan, sub, -sub, 3 * sub, float(fi.tiny) / 2, -float(fi.tiny) * 0.75,
            float(fi.tiny), -float(fi.tiny), float(fi.max), -float(fi.max), 1.0, -1.0, float(fi.eps), 0.5, -2.0]
    return np.array(vals, dtype=dtype)


def _sign(rng, n):
    return rng.choice([-1.0, 1.0], n)


GENERATORS: Dict[str, Callable] = {
    "uniform": lambda rng, n, dt: rng.uniform(-50, 50, n),
    "near_zero": lambda rng, n, dt: _sign(rng, n) * 10.0 ** rng.uniform(-30, -3, n),
    "wide": lambda rng, n, dt: _sign(rng, n) * 10.0 ** rng.uniform(0, 3, n),  # tails, exp overflow
    "subnormal": lambda rng, n, dt: _sign(rng, n) * rng.integers(1, 2 ** (np.finfo(dt).nmant), n)
    * float(np.finfo(dt).smallest_subnormal),
    "largest": lambda rng, n, dt: _sign(rng, n) * float(np.finfo(dt).max) * rng.uniform(0.5, 1, n),
    "special": lambda rng, n, dt: rng.permutation(np.resize(special_values(dt), n)),
}


def make_values(kind, dtype, n, rng):
    """n values of the given kind in dtype; kind "mixed" draws from every generator."""
    if kind == "mixed":
        parts = [make_values(k, dtype, n // len(GENERATORS) + 1, rng) for k in GENERATORS]
        return rng.permutation(np.concatenate(parts))[:n]
    with np.errstate(over="ignore"):
        return np.asarray(GENERATORS[kind](rng, n, np.dtype(dtype))).astype(dtype)


# ----------------------------------------------------------------------------- function cases
def call_reference(name, *args, **kwargs):
    with np.errstate(all="ignore"):  # the oracle's intermediate overflow is not under test
        return getattr(reference, name)(*args, **kwargs)


def saved_output(name, x, **params):
    """Forward output as a caller would have saved it: reference rounded to the result dtype."""
    with np.errstate(all="ignore"):
        y = np.asarray(call_reference(name, x, **params))
        return y.astype(x.dtype if x.dtype in FLOAT_DTYPES else np.float64)


def prelu_weight(x):
    """One slope per channel on axis 1 (multiples of 1/8, exact in float32), else a scalar."""
    if x.ndim >= 2 and x.shape[1] > 0:
        return ((np.arange(x.shape[1]) % 7) - 2) * 0.125
    return 0.25


def maxout_params(x, axis):
    length = x.shape[axis]
    return {"pieces": next(p for p in (3, 2, 1) if length % p == 0), "axis": axis}


def maxout_grad(x, g, p):
    """The grad_output operand of maxout_backward: g cut down to maxout's output shape."""
    ax = p["axis"] % x.ndim
    return g[(slice(None),) * ax + (slice(0, x.shape[ax] // p["pieces"]),)]


@dataclasses.dataclass(frozen=True)
class Case:
    id: str  # function name, optionally followed by "-variant"
    data: Callable  # (x, g, params) -> data operands (arrays)
    params: Callable = lambda x: {}  # x -> keyword parameters
    data_kw: Tuple[str, ...] = ()  # keyword names of the trailing data operands
    min_ndim: int = 0
    zero_sign: bool = False  # sign of zero results is fixed by the spec
    same_shape: bool = True  # result shape == x shape == every data operand's shape

    @property
    def name(self):
        return self.id.split("-")[0]

    def call(self, module, data, params, **kw):
        npos = len(data) - len(self.data_kw)
        kws = dict(zip(self.data_kw, data[npos:]))
        if module is reference:
            return call_reference(self.name, *data[:npos], **kws, **params, **kw)
        return getattr(module, self.name)(*data[:npos], **kws, **params, **kw)

    def build(self, x, g):
        params = self.params(x)
        return tuple(self.data(x, g, params)), params


def _x(x, g, p):
    return (x,)


def _gx(x, g, p):
    return (g, x)


def _gy(fwd, **kw):
    return lambda x, g, p: (g, saved_output(fwd, x, **kw))


SLOPE = {"negative_slope": 0.2}
ALPHA = {"alpha": 1.3}
TANH = {"approximate": "tanh"}
BETA = {"beta": 2.0, "threshold": 15.0}  # beta * x and the threshold are exact in float32 too
HT = {"min_val": -1.5, "max_val": 2.25}
LAMBD = {"lambd": 0.75}
THRESHOLD = {"threshold": 0.5, "value": -2.0}
CASES = [
    Case("sigmoid", _x, zero_sign=True),
    Case("sigmoid_derivative", _x, zero_sign=True),
    Case("sigmoid_backward", _gy("sigmoid")),
    Case("tanh", _x, zero_sign=True),
    Case("tanh_derivative", _x, zero_sign=True),
    Case("tanh_backward", _gy("tanh")),
    Case("relu", _x, zero_sign=True),
    Case("relu_derivative", _x),
    Case("relu_backward", _gx),
    Case("leaky_relu", _x, lambda x: SLOPE, zero_sign=True),
    Case("leaky_relu_derivative", _x, lambda x: SLOPE),
    Case("leaky_relu_backward", _gx, lambda x: SLOPE),
    Case("prelu", _x, lambda x: {"weight": prelu_weight(x)}, zero_sign=True),
    Case("prelu_derivative", _x, lambda x: {"weight": prelu_weight(x)}),
    Case("prelu_backward", _gx, lambda x: {"weight": prelu_weight(x)}),
    Case("elu", _x, lambda x: ALPHA, zero_sign=True),
    Case("elu_derivative", _x, lambda x: ALPHA, zero_sign=True),
    Case("elu_backward-x", _gx, lambda x: ALPHA),
    Case("elu_backward-output", _gy("elu", **ALPHA), lambda x: ALPHA, data_kw=("output",)),
    Case("gelu", _x, zero_sign=True),
    Case("gelu-tanh", _x, lambda x: TANH, zero_sign=True),
    Case("gelu_derivative", _x),
    Case("gelu_derivative-tanh", _x, lambda x: TANH),
    Case("gelu_backward", _gx),
    Case("gelu_backward-tanh", _gx, lambda x: TANH),
    Case("silu", _x, zero_sign=True),
    Case("silu_derivative", _x),
    Case("silu_backward", _gx),
    Case("mish", _x, zero_sign=True),
    Case("mish_derivative", _x),
    Case("mish_backward", _gx),
    Case("softplus", _x, zero_sign=True),
    Case("softplus-beta", _x, lambda x: BETA, zero_sign=True),
    Case("softplus_derivative", _x, lambda x: BETA),
    Case("softplus_backward", _gx, lambda x: BETA),
    Case("logsigmoid", _x, zero_sign=True),
    Case("logsigmoid_derivative", _x),
    Case("logsigmoid_backward", _gx),
    Case("softsign", _x, zero_sign=True),
    Case("softsign_derivative", _x),
    Case("softsign_backward", _gx),
    Case("tanhshrink", _x, zero_sign=True),
    Case("tanhshrink_derivative", _x),
    Case("tanhshrink_backward", _gx),
    Case("selu", _x, zero_sign=True),
    Case("selu_derivative", _x),
    Case("selu_backward-x", _gx),
    Case("celu", _x, lambda x: ALPHA, zero_sign=True),
    Case("celu_derivative", _x, lambda x: ALPHA),
    Case("celu_backward-x", _gx, lambda x: ALPHA),
    Case("celu_backward-output", _gy("celu", **ALPHA), lambda x: ALPHA, data_kw=("output",)),
    Case("hardtanh", _x, lambda x: HT, zero_sign=True),
    Case("hardtanh_derivative", _x, lambda x: HT),
    Case("hardtanh_backward", _gx, lambda x: HT),
    Case("hardtanh_backward-output", _gy("hardtanh", **HT), lambda x: HT),
    Case("relu6", _x, zero_sign=True),
    Case("relu6_derivative", _x),
    Case("relu6_backward", _gx),
    Case("hardsigmoid", _x, zero_sign=True),
    Case("hardsigmoid_derivative", _x),
    Case("hardsigmoid_backward", _gx),
    Case("hardswish", _x, zero_sign=True),
    Case("hardswish_derivative", _x),
    Case("hardswish_backward", _gx),
    Case("softshrink", _x, lambda x: LAMBD, zero_sign=True),
    Case("softshrink_derivative", _x, lambda x: LAMBD),
    Case("softshrink_backward", _gx, lambda x: LAMBD),
    Case("hardshrink", _x, lambda x: LAMBD, zero_sign=True),
    Case("hardshrink_derivative", _x, lambda x: LAMBD),
    Case("hardshrink_backward", _gx, lambda x: LAMBD),
    Case("threshold", _x, lambda x: THRESHOLD, zero_sign=True),
    Case("threshold_derivative", _x, lambda x: {"threshold": THRESHOLD["threshold"]}),
    Case("threshold_backward", _gx, lambda x: {"threshold": THRESHOLD["threshold"]}),
    Case("two_relu", _x, zero_sign=True),
    Case("two_relu_derivative", _x),
    Case("two_relu_backward", _gx),
    Case("maxout", _x, lambda x: maxout_params(x, -1), min_ndim=1, same_shape=False),
    Case("maxout-axis0", _x, lambda x: maxout_params(x, 0), min_ndim=1, same_shape=False),
    Case("maxout_backward", lambda x, g, p: (maxout_grad(x, g, p), x), lambda x: maxout_params(x, -1),
         min_ndim=1, same_shape=False),
    Case("maxout_backward-axis0", lambda x, g, p: (maxout_grad(x, g, p), x), lambda x: maxout_params(x, 0),
         min_ndim=1, same_shape=False),
]
CASE_IDS = [c.id for c in CASES]

# Error budgets in ULP (default 4). float32 results are measured against the float64 reference,
# whose own error is negligible at that precision, so the smooth functions' 1-ulp budget is
# checked directly; float64's budget is checked against extended precision in test_accuracy64.
# Piecewise-linear functions are one rounding of their formula in both dtypes.
F32_BUDGET = {name: 1.0 for name in ("sigmoid", "sigmoid_derivative", "tanh", "tanh_derivative", "elu",
                                     "elu_derivative", "elu_backward-x", "gelu-tanh", "gelu_derivative-tanh",
                                     "gelu_backward-tanh")}
EXACT_BUDGET = {name: 0.5 for name in ("relu", "relu_derivative", "relu_backward", "leaky_relu",
                                       "leaky_relu_derivative", "leaky_relu_backward", "prelu", "prelu_derivative",
                                       "maxout", "maxout-axis0", "maxout_backward", "maxout_backward-axis0")}


# Over 4 ulp against reference.py, whose float64 gelu' cancels (7.5 ulp from mpmath at x = -1.68,
# where the kernel is 0.50): the kernel is held to mpmath around the root in test_roots.
F64_OVER = {"gelu_derivative": 6.0, "gelu_backward": 6.0}


def budget(case, dtype):
    if case.id in EXACT_BUDGET:
        return EXACT_BUDGET[case.id]
    if np.dtype(dtype) == np.float32:
        return F32_BUDGET.get(case.id, 4.0)
    return F64_OVER.get(case.id, 4.0)
BACKWARD = [c for c in CASES if c.name.endswith("_backward")]


# float32 backward kernels that evaluate g d(x) in float64 (src/simd/mod.rs `via_f64`): an
# infinite g times a derivative that underflows float64 (the reference keeps it in long double)
# is inf * 0 = NaN, as in PyTorch.
THROUGH_F64 = {"gelu_backward", "gelu_backward-tanh", "silu_backward", "mish_backward", "tanhshrink_backward",
               "logsigmoid_backward"}


def check_result(case, got, data, params, dtype):
    """Compare a kernel result with the reference (prelu_backward: both outputs). Scalar
    parameters are rounded to the dtype first, as the kernels (and PyTorch) round them."""
    params = {k: float(np.asarray(v, dtype=dtype)) if isinstance(v, float) else v for k, v in params.items()}
    ref = case.call(reference, data, params)
    if case.name in THROUGH_F64 and np.dtype(dtype) == np.float32:
        g = np.asarray(data[0], dtype=np.float64)
        d = case.call(reference, (np.ones_like(g), data[1]), params)  # d(x), rounded to float64
        ref = np.where(np.isinf(g) & (d == 0), np.nan, ref)
    names = dict(zip(("x",) if len(data) == 1 else ("grad_output", "operand"), data))
    if case.name in AXIS_CHECKS:
        return AXIS_CHECKS[case.name](got, ref, data, params, dtype)
    if case.name != "prelu_backward":
        return assert_close_ulp(got, ref, dtype, budget(case, dtype), inputs=names, zero_sign=case.zero_sign)
    assert isinstance(got, tuple) and len(got) == 2, type(got)
    assert_close_ulp(got[0], ref[0], dtype, 0.5, inputs=names)
    g, x = (np.asarray(d, dtype=np.float64) for d in data)
    gw, rw = np.asarray(got[1]), np.asarray(ref[1], dtype=np.float64)
    assert gw.dtype == dtype and gw.shape == np.shape(params["weight"]) == rw.shape
    with np.errstate(all="ignore"):  # sum of g*x where not x > 0; bound valid for any order
        terms = np.where(x > 0, 0.0, g * x)
        per_channel = terms.ndim >= 2 and rw.size > 1
        axes = tuple(a for a in range(terms.ndim) if not (per_channel and a == 1))
        bound = np.abs(terms).sum(axis=axes) * (terms.size + 2) * np.finfo(dtype).eps
        bound = bound + terms.size * float(np.finfo(dtype).smallest_subnormal)
        finite_terms = np.isfinite(terms).all(axis=axes)
        # if the finite terms cannot overflow dtype in any order, the bound holds for any order,
        # and NaN/inf terms fix the sum exactly; otherwise the result may go either way: not checked
        no_overflow = 2 * np.abs(np.where(np.isfinite(terms), terms, 0)).sum(axis=axes) < np.finfo(dtype).max
        bad = finite_terms & no_overflow & ~(np.abs(gw.astype(np.float64) - rw) <= bound)
    assert not bad.any(), f"grad_weight {gw!r} vs reference {rw!r}, bound {bound!r}"
    exact = ~finite_terms & no_overflow
    assert_close_ulp(gw[exact], rw[exact], dtype)


# ----------------------------------------------------------------------------- axis-wise and random functions
def _even_axis(x, axis):
    """x cut to an even length along axis (glu halves it)."""
    ax = axis % x.ndim
    return x[(slice(None),) * ax + (slice(0, x.shape[ax] - x.shape[ax] % 2),)]


def glu_data(x, g, p):
    return (_even_axis(x, p["axis"]),)


def glu_backward_data(x, g, p):
    """(grad_output of glu's output shape, x cut to an even length)."""
    x = _even_axis(x, p["axis"])
    ax = p["axis"] % x.ndim
    return g[tuple(slice(0, n // 2 if a == ax else n) for a, n in enumerate(x.shape))], x


def rrelu_noise(x):
    """Slopes for the training-mode cases: deterministic in x's shape, in [0.1, 0.3]."""
    x = np.asarray(x)
    r = np.random.default_rng(x.size).uniform(0.1, 0.3, x.shape)
    return r.astype(x.dtype) if x.dtype in FLOAT_DTYPES else r


def _rows(a, params):
    """a with the function's axis moved last (0-d: shape (1,))."""
    a = np.asarray(a, dtype=np.float64)
    a = a.reshape(1) if a.ndim == 0 else a
    return np.moveaxis(a, params.get("axis", -1) % a.ndim, -1)


def _check_bound(got, ref, bound, skip, dtype):
    """Within 4 ulp of ref, or within the absolute bound, except where skip."""
    dtype = np.dtype(dtype)
    got = np.asarray(got)
    assert got.dtype == dtype and got.shape == np.shape(ref), (got.dtype, got.shape, np.shape(ref))
    with np.errstate(all="ignore"):
        ok = ulp_errors(got, ref, dtype) <= 4
        ok |= np.abs(got.astype(np.float64) - ref) <= bound
    bad = ~ok & ~skip
    if bad.any():
        i = np.unravel_index(int(np.argmax(bad)), bad.shape)
        pytest.fail(f"{int(bad.sum())}/{bad.size} off; first at {i}: got {got[i]!r}, reference {ref[i]!r},"
                    f" bound {np.broadcast_to(bound, bad.shape)[i]!r}")


def check_log_softmax(got, ref, data, params, dtype):
    """4 ulp of the result or of log(sum(exp(x - max))) (= -max of the row), whichever is larger:
    near 0 the result cannot be known better than that sum's logarithm."""
    ref = np.asarray(ref, dtype=np.float64)
    if ref.size == 0:
        return assert_close_ulp(got, ref, dtype)
    with np.errstate(all="ignore"):
        lse = -np.max(_rows(ref, params), axis=-1, keepdims=True)
        lse = np.moveaxis(np.broadcast_to(lse, _rows(ref, params).shape), -1, params.get("axis", -1) % max(ref.ndim, 1))
        bound = 4 * np.spacing(np.abs(lse).astype(dtype)).astype(np.float64).reshape(ref.shape)
    _check_bound(got, ref, np.where(np.isfinite(bound), bound, 0.0), np.zeros(ref.shape, bool), dtype)


def _backward_check(terms_fn):
    """Checks a softmax-family backward: 4 ulp, or 8 eps (dtype) times the magnitude of the
    terms (cancellation in g - sum); rows whose sums could overflow dtype are not checked."""
    def check(got, ref, data, params, dtype):
        ref = np.asarray(ref, dtype=np.float64)
        if ref.size == 0:
            return assert_close_ulp(got, ref, dtype)
        g, y = (_rows(d, params) for d in data)
        with np.errstate(all="ignore"):
            scale, total = terms_fn(g, y)
            big = ~(total < np.finfo(dtype).max / 8) | ~np.isfinite(g).all(-1, keepdims=True) | \
                ~np.isfinite(y).all(-1, keepdims=True)
            bound = 8 * float(np.finfo(dtype).eps) * scale + 4 * float(np.finfo(dtype).smallest_subnormal)
            skip = np.broadcast_to(big, g.shape)
            ax = params.get("axis", -1) % max(ref.ndim, 1)
            bound, skip = (np.moveaxis(v, -1, ax).reshape(ref.shape) for v in (bound, skip))
        _check_bound(got, ref, np.where(np.isnan(bound), 0.0, bound), skip, dtype)
    return check


def _softmax_terms(g, y):
    s = np.sum(np.abs(g * y), axis=-1, keepdims=True)
    return np.abs(y) * (np.abs(g) + s), s


def _log_softmax_terms(g, y):
    s = np.sum(np.abs(g), axis=-1, keepdims=True)
    return np.abs(g) + np.exp(y) * s, s


def check_glu_backward(got, ref, data, params, dtype):
    """4 ulp (float64: 6, the float64 reference of g a sigmoid'(b) being itself off by up to
    about 2.5), except where a sigmoid'(b) is below the normal range and |g| > 1: the product
    a sigmoid'(b) is rounded there before g multiplies it."""
    g, x = (np.asarray(d, dtype=np.float64) for d in data)
    ax = params["axis"] % x.ndim
    a, b = np.split(x, 2, axis=ax)
    with np.errstate(all="ignore"):
        t = np.abs(reference._mul_sigmoid_derivative(a, b))
        skip = (t < np.finfo(dtype).tiny) & (np.abs(g) > 1)
    skip = np.concatenate([np.zeros_like(skip), skip], axis=ax)
    ref = np.asarray(ref, dtype=np.float64)
    with np.errstate(all="ignore"):
        bound = 6 * np.spacing(np.abs(ref)) if np.dtype(dtype) == np.float64 else 0.0
    _check_bound(got, ref, bound, skip, dtype)


AXIS_CHECKS = {
    "glu_backward": check_glu_backward,
    "log_softmax": check_log_softmax,
    "softmax_backward": _backward_check(_softmax_terms),
    "log_softmax_backward": _backward_check(_log_softmax_terms),
}

RRELU = {"lower": 0.1, "upper": 0.3}
CASES += [
    Case("softmax", _x, lambda x: {"axis": -1}),
    Case("softmax-axis0", _x, lambda x: {"axis": 0}),
    Case("log_softmax", _x, lambda x: {"axis": -1}),
    Case("log_softmax-axis0", _x, lambda x: {"axis": 0}),
    Case("softmax_backward", lambda x, g, p: (g, saved_output("softmax", x, **p)), lambda x: {"axis": -1}),
    Case("softmax_backward-axis0", lambda x, g, p: (g, saved_output("softmax", x, **p)), lambda x: {"axis": 0}),
    Case("log_softmax_backward", lambda x, g, p: (g, saved_output("log_softmax", x, **p)), lambda x: {"axis": -1}),
    Case("log_softmax_backward-axis0", lambda x, g, p: (g, saved_output("log_softmax", x, **p)),
         lambda x: {"axis": 0}),
    Case("glu", glu_data, lambda x: {"axis": -1}, min_ndim=1, same_shape=False),
    Case("glu-axis0", glu_data, lambda x: {"axis": 0}, min_ndim=1, same_shape=False),
    Case("glu_backward", glu_backward_data, lambda x: {"axis": -1}, min_ndim=1, same_shape=False),
    Case("glu_backward-axis0", glu_backward_data, lambda x: {"axis": 0}, min_ndim=1, same_shape=False),
    Case("rrelu", _x, lambda x: RRELU, zero_sign=True),
    Case("rrelu_derivative", _x, lambda x: RRELU),
    Case("rrelu_derivative-noise", lambda x, g, p: (x, rrelu_noise(x)), lambda x: RRELU, data_kw=("noise",)),
    Case("rrelu_backward", _gx, lambda x: RRELU),
    Case("rrelu_backward-noise", lambda x, g, p: (g, x, rrelu_noise(x)), lambda x: RRELU),
]
CASE_IDS = [c.id for c in CASES]
BACKWARD = [c for c in CASES if c.name.endswith("_backward")]
