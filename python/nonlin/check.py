"""``python -m nonlin check``: every kernel against the NumPy reference, on random data.

For each function and dtype it prints the largest error in ULP of the output dtype (against
the float64 reference rounded to that dtype) and the kernel's time relative to the reference's.
It exits non-zero if any error exceeds the tolerance.
"""

from __future__ import annotations

import functools
import time
from typing import Callable, Dict, List, ParamSpec, Tuple, TypeVar

import numpy as np

from . import reference

TOLERANCE_ULP = 4.0
# Functions whose measured error is above TOLERANCE_ULP today (not goals). For float64 gelu (erf
# form) the reference is the weaker side: its math.erfc-based forward is up to 3.7 ulp from mpmath
# on [-30, -3.6] (the kernel is within 1 ulp of the extended-precision form of `check --f64`).
# reference.py's gelu', mish' and silu' carry their roots and stay within 1.2 ulp of mpmath there.
TOLERANCE_OVER = {"gelu": 6.0}

SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, 1e-3, -1e-3, 0.5, -0.5, 20.0, -20.0, 88.0, -88.0]


def ulp_errors(got: np.ndarray, ref: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """|got - ref| in ULPs of `dtype` at the rounded reference; NaN must meet NaN and inf must
    meet the same inf (else the error is inf)."""
    dtype = np.dtype(dtype)
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    with np.errstate(all="ignore"):
        rounded = ref.astype(dtype)
        ulp = np.spacing(np.abs(rounded)).astype(np.float64)
        ulp = np.maximum(ulp, float(np.finfo(dtype).smallest_subnormal))
        err = np.abs(got - ref) / ulp
    both_nan = np.isnan(got) & np.isnan(ref)
    exact = got == rounded.astype(np.float64)
    err = np.where(both_nan | exact, 0.0, err)
    return np.where(np.isnan(err), np.inf, err)


def _data(n: int, dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    x = rng.uniform(-50, 50, n)
    x[: len(SPECIAL)] = SPECIAL
    near0 = slice(len(SPECIAL), len(SPECIAL) + n // 20)
    x[near0] = rng.choice([-1, 1], n // 20) * 10.0 ** rng.uniform(-30, 0, n // 20)
    return x.astype(dtype)


def _cases(n: int, dtype: np.dtype, rng: np.random.Generator) -> List[Tuple[str, tuple, dict]]:
    """(function name, positional arrays, keyword parameters) for every function."""
    x = _data(n, dtype, rng)
    g = rng.uniform(-2, 2, n).astype(dtype)
    rounded = lambda v: float(np.asarray(v, dtype=dtype))  # parameters are rounded to the dtype
    slope, alpha = {"negative_slope": rounded(0.01)}, {"alpha": rounded(1.0)}
    with np.errstate(all="ignore"):
        y_sig = reference.sigmoid(x).astype(dtype)
        y_tanh = reference.tanh(x).astype(dtype)
        y_elu = reference.elu(x, **alpha).astype(dtype)
        y_selu = reference.selu(x).astype(dtype)
        y_celu = reference.celu(x, **alpha).astype(dtype)
    c = 10
    xc = x[: (n // c) * c].reshape(-1, c)
    gc = g[: xc.size].reshape(xc.shape)
    w = np.linspace(0.05, 0.5, c).astype(dtype)
    xm = x[: (n // 4) * 4].reshape(-1, 4)
    gm = g[: xm.shape[0]].reshape(-1, 1)
    return [
        ("sigmoid", (x,), {}),
        ("sigmoid_derivative", (x,), {}),
        ("sigmoid_backward", (g, y_sig), {}),
        ("tanh", (x,), {}),
        ("tanh_derivative", (x,), {}),
        ("tanh_backward", (g, y_tanh), {}),
        ("relu", (x,), {}),
        ("relu_derivative", (x,), {}),
        ("relu_backward", (g, x), {}),
        ("leaky_relu", (x,), slope),
        ("leaky_relu_derivative", (x,), slope),
        ("leaky_relu_backward", (g, x), slope),
        ("prelu", (xc, w), {}),
        ("prelu_derivative", (xc, w), {}),
        ("prelu_backward", (gc, xc, w), {}),
        ("elu", (x,), alpha),
        ("elu_derivative", (x,), alpha),
        ("elu_backward", (g,), {"x": x, **alpha}),
        ("elu_backward[output]", (g,), {"output": y_elu, **alpha}),
        ("maxout", (xm, 2), {}),
        ("maxout_backward", (np.repeat(gm, 2, axis=1), xm, 2), {}),
    ] + _elementwise_cases(x, g, y_selu, y_celu, alpha, rounded)


def _elementwise_cases(x, g, y_selu, y_celu, alpha, rounded) -> List[Tuple[str, tuple, dict]]:
    """The elementwise functions of torch.nn.functional: forward, derivative, backward of each
    (PyTorch's default parameters; selu and celu backward both from x and from the output)."""
    tanh = {"approximate": "tanh"}
    params = {
        "gelu": {}, "gelu[tanh]": tanh, "silu": {}, "mish": {}, "softplus": {}, "logsigmoid": {}, "softsign": {},
        "tanhshrink": {}, "selu": {}, "celu": alpha, "hardtanh": {}, "relu6": {}, "hardsigmoid": {},
        "hardswish": {}, "softshrink": {"lambd": rounded(0.5)}, "hardshrink": {"lambd": rounded(0.5)},
        "threshold": {"threshold": rounded(0.1)}, "two_relu": {},
    }
    rows = []
    for label, kw in params.items():
        name, form = (label.split("[") + [""])[:2]
        form = "[" + form if form else ""
        fwd_kw = dict(kw, value=rounded(20.0)) if name == "threshold" else kw
        rows.append((label, (x,), fwd_kw))
        rows.append((name + "_derivative" + form, (x,), kw))
        if name in ("selu", "celu"):
            rows.append((name + "_backward", (g,), dict(kw, x=x)))
        if name == "celu":
            # (selu's saved-output form adds y to the constant scale*alpha rounded to the dtype,
            # which cancels against y: it cannot be compared with a float64 reference there.)
            rows.append((name + "_backward[output]", (g,), dict(kw, output=y_celu)))
        elif name != "selu":
            rows.append((name + "_backward" + form, (g, x), kw))
    return rows


def _best_time(f: Callable[[], object], repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def run(n: int = 1_000_000, seed: int = 0, repeat: int = 3) -> List[Dict[str, object]]:
    """Check every function for float32 and float64; returns one row per (function, dtype)."""
    import nonlin

    rows = []
    for dtype in (np.float32, np.float64):
        rng = np.random.default_rng(seed)
        for label, args, kw in _cases(n, np.dtype(dtype), rng):
            name = label.split("[")[0]
            ours, ref = getattr(nonlin, name), getattr(reference, name)
            got = ours(*args, **kw)
            with np.errstate(all="ignore"):
                want = ref(*args, **kw)
            if name == "prelu_backward":
                err = ulp_errors(got[0], want[0], dtype).max()
                # The weight gradient is a sum: its error is measured against the sum's
                # condition (eps * sum|terms| * log2(n)), not in ULPs of the result.
                g_, x_, _ = (np.asarray(a, dtype=np.float64) for a in args)
                terms = np.abs(np.where(x_ > 0, 0.0, g_ * x_)).sum(axis=0)
                bound = terms * np.finfo(dtype).eps * np.log2(x_.shape[0] + 1)
                gw = np.asarray(got[1], dtype=np.float64)
                with np.errstate(all="ignore"):
                    close = np.abs(gw - want[1]) <= bound
                ok_w = bool(np.all(close | (gw == want[1]) | (np.isnan(gw) & np.isnan(want[1]))))
            else:
                err = ulp_errors(got, want, dtype).max()
                ok_w = True
            t_ours = _best_time(lambda: ours(*args, **kw), repeat)
            with np.errstate(all="ignore"):
                t_ref = _best_time(lambda: ref(*args, **kw), repeat)
            rows.append(
                {
                    "function": label,
                    "dtype": np.dtype(dtype).name,
                    "max_ulp": float(err),
                    "ok": bool(err <= TOLERANCE_OVER.get(label, TOLERANCE_ULP) and ok_w),
                    "time_ratio": t_ours / t_ref,
                }
            )
    return rows


def main(n: int = 1_000_000, seed: int = 0) -> int:
    import nonlin

    info = nonlin.info()
    print(f"nonlin {info['version']}  simd={info['simd']}  threads={info['threads']}  n={n:,}  seed={seed}")
    print(f"tolerance: {TOLERANCE_ULP:g} ULP of the output dtype against nonlin.reference (float64)\n")
    rows = run(n, seed)
    print(f"{'function':<24}{'dtype':<9}{'max ULP':>9}{'time / ref':>12}  ")
    for r in rows:
        flag = "" if r["ok"] else "  FAIL"
        print(f"{r['function']:<24}{r['dtype']:<9}{r['max_ulp']:>9.2f}{r['time_ratio']:>12.3f}{flag}")
    bad = [r for r in rows if not r["ok"]]
    print(f"\n{len(rows) - len(bad)} passed, {len(bad)} failed")
    return 1 if bad else 0


# The smooth functions PyTorch also has, with their keyword arguments (defaults as PyTorch).
COMPARED = {"sigmoid": {}, "tanh": {}, "elu": {}, "silu": {}, "mish": {}, "softplus": {}, "logsigmoid": {},
            "softsign": {}, "tanhshrink": {}, "selu": {}, "celu": {}, "gelu": {}, "gelu[tanh]": {"approximate": "tanh"}}


def _split(name: str) -> Tuple[str, str]:
    """'gelu_derivative[tanh]' -> ('gelu', '_derivative[tanh]'): the function and the rest."""
    base = name.replace("_derivative", "")
    return base.split("[")[0], name[len(base.split("[")[0]):]


def _others(name: str, x: np.ndarray):
    """The same function as NumPy (the usual formulation, where there is one) and PyTorch compute
    it: {library: result}. Derivatives as each library's autograd computes them (sigmoid', tanh'
    from the saved output)."""
    out = {}
    with np.errstate(all="ignore"):
        sp = lambda v: np.logaddexp(0, v)
        numpy_forms = {
            "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
            "tanh": np.tanh,
            "elu": lambda v: np.where(v > 0, v, np.expm1(v)),
            "silu": lambda v: v / (1 + np.exp(-v)),
            "mish": lambda v: v * np.tanh(sp(v)),
            "softplus": sp,
            "logsigmoid": lambda v: -sp(-v),
            "softsign": lambda v: v / (1 + np.abs(v)),
            "tanhshrink": lambda v: v - np.tanh(v),
            "sigmoid_derivative": lambda v: (lambda s: s * (1 - s))(1 / (1 + np.exp(-v))),
            "tanh_derivative": lambda v: 1 - np.tanh(v) ** 2,
            "elu_derivative": lambda v: np.where(v > 0, 1, np.exp(v)),
        }
        if name in numpy_forms:
            out["numpy"] = numpy_forms[name](x).astype(x.dtype)
    try:
        import torch
    except Exception:
        return out
    F = torch.nn.functional
    fn, rest = _split(name)
    kw = COMPARED[fn + rest.replace("_derivative", "")]
    f = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}.get(fn) or getattr(F, fn)
    t = torch.from_numpy(x)
    if "_derivative" in rest:
        v = t.clone().requires_grad_(True)
        (d,) = torch.autograd.grad(f(v, **kw), v, torch.ones_like(v))
        out["torch"] = d.numpy()
    else:
        out["torch"] = f(t, **kw).numpy()
    return out


def compare(n: int = 2_000_000, seed: int = 0) -> List[Dict[str, object]]:
    """Max ULP of nonlin, NumPy and PyTorch (if installed) on the same inputs, spread over
    [-30, 30], for every function of COMPARED and its derivative: float32 against the float64
    reference, float64 against extended precision."""
    import nonlin

    rows = []
    rng = np.random.default_rng(seed)
    precise = _precise_forms(alpha=1.0) if extended_precision() else {}
    names = [f for name in COMPARED for f in (name, name.replace("[", "_derivative[") if "[" in name
                                              else name + "_derivative")]
    for dtype in (np.float32, np.float64):
        x = rng.uniform(-30, 30, n).astype(dtype)
        for name in names:
            fn, rest = _split(name)
            kw = COMPARED[fn + rest.replace("_derivative", "")]
            func = fn + ("_derivative" if "_derivative" in rest else "")
            if dtype == np.float64 and name in precise:  # float64 against extended precision
                with np.errstate(all="ignore"):
                    want = precise[name][1](x.astype(np.longdouble))
                errs = lambda got: float(ulp_errors64(np.asarray(got, dtype=np.float64), want).max())
            else:
                with np.errstate(all="ignore"):
                    want = getattr(reference, func)(x, **kw)
                errs = lambda got: float(ulp_errors(got, want, dtype).max())
            row = {"function": name, "dtype": np.dtype(dtype).name, "nonlin": errs(getattr(nonlin, func)(x, **kw))}
            for lib, got in _others(name, x).items():
                row[lib] = errs(got)
            rows.append(row)
    return rows


def main_compare(n: int = 2_000_000, seed: int = 0) -> int:
    rows = compare(n, seed)
    print(f"max ULP on {n:,} inputs uniform in [-30, 30], float32 against nonlin.reference, float64 against")
    print("extended precision (derivatives of PyTorch as its autograd computes them; NumPy's sigmoid' and")
    print("tanh' from the saved output, as backprop code in NumPy does)\n")
    print(f"{'function':<22}{'dtype':<9}{'nonlin':>10}{'numpy':>12}{'torch':>12}")
    fmt = lambda v: f"{'-':>12}" if v is None else f"{v:>12.3g}"
    for r in rows:
        print(f"{r['function']:<22}{r['dtype']:<9}{r['nonlin']:>10.2f}{fmt(r.get('numpy'))}{fmt(r.get('torch'))}")
    return 0


# ----------------------------------------------------------------------------- float64 accuracy
# float64 results are measured against the same formulas evaluated in np.longdouble, which has a
# 64-bit significand on x86-64 (113 bits on aarch64 Linux): its own error is below 0.01 float64
# ULP, which `precise_agrees_with_mpmath` checks on a sample.
ALPHA64 = 1.3  # elu's alpha: not 1, so the products with alpha are exercised


def extended_precision() -> bool:
    return np.finfo(np.longdouble).nmant >= 63


def _precise_forms(alpha: float = ALPHA64) -> Dict[str, Tuple[Callable, Callable, List[float]]]:
    """name: (nonlin call on float64 x, longdouble formula, points where the function saturates or
    changes regime, sampled densely). Backward forms use the deterministic gradient `_g64(x)`.

    Each formula is arranged so that longdouble does not cancel: arguments that are rounded
    products (beta x, x / alpha, x^2 / 2, the cubic of gelu's tanh form) are carried as exact
    pairs, x - tanh(x) uses its series near 0, and the derivatives with a root (silu', mish',
    gelu' of both forms) use their Taylor series around the root, computed once with mpmath."""
    import nonlin

    L = np.longdouble
    ALPHA = alpha
    a = L(ALPHA)
    g = _g64

    def one_plus_sq(e):
        return (1 + e) * (1 + e)

    def backward(name, deriv):
        """(nonlin's name_backward(g(x), x), its longdouble form g(x) f'(x))."""
        fn = getattr(nonlin, name + "_backward")
        return (lambda x: fn(g(x), x)), (lambda x: g(x).astype(L) * deriv(x))

    def sp_call(fn, beta):
        return lambda *args: fn(*args, beta=beta, threshold=SOFTPLUS_THRESHOLD64)

    forms = {
        "sigmoid": (nonlin.sigmoid, _sig_ld, [0.0, 36.7, 709.0, 745.0]),
        "sigmoid_derivative": (nonlin.sigmoid_derivative,
                               lambda x: np.exp(-np.abs(x)) / one_plus_sq(np.exp(-np.abs(x))), [0.0, 709.0, 745.0]),
        "tanh": (nonlin.tanh, np.tanh, [0.0, 1e-8, 0.55, 19.1]),
        "tanh_derivative": (nonlin.tanh_derivative,
                            lambda x: 4 * np.exp(-2 * np.abs(x)) / one_plus_sq(np.exp(-2 * np.abs(x))),
                            [0.0, 354.0, 373.0]),
        "elu": (lambda x: nonlin.elu(x, alpha=ALPHA), lambda x: np.where(x > 0, x, a * np.expm1(x)),
                [0.0, -1e-8, -37.0]),
        "elu_derivative": (lambda x: nonlin.elu_derivative(x, alpha=ALPHA),
                           lambda x: np.where(x > 0, 1, a * np.exp(x)), [0.0, -708.0, -745.0]),
        "elu_backward": (lambda x: nonlin.elu_backward(g(x), x=x, alpha=ALPHA),
                         lambda x: np.where(x > 0, g(x).astype(L), g(x).astype(L) * a * np.exp(x)),
                         [0.0, -708.0, -745.0]),
    }
    # silu, mish: their derivatives have a root (carried: `_near_root`)
    silu_d = _near_root("silu_derivative", lambda x: _sig_ld(x) * (1 + x * _sig_ld(-x)))
    mish_d = _near_root("mish_derivative", _mish_d_ld)
    for name, f, d, points in [
        ("silu", lambda x: x * _sig_ld(x), silu_d, [0.0, -1.2785, -1.03, -1.53, -37.0, -709.0, -745.0, 745.0]),
        ("mish", lambda x: x * _tanh_softplus_ld(x), mish_d, [0.0, -1.1948, -37.0, -709.0, -745.0, 20.0]),
    ]:
        forms[name] = (getattr(nonlin, name), _at_inf(f, np.inf, 0.0), points)
        forms[name + "_derivative"] = (getattr(nonlin, name + "_derivative"), _at_inf(d, 1.0, 0.0), points)
        forms[name + "_backward"] = backward(name, d) + (points,)
    # softplus (PyTorch's threshold: x where beta x > threshold, computed in float64), logsigmoid
    for label, beta in [("softplus", 1.0), (f"softplus[beta={SOFTPLUS_BETA64:g}]", SOFTPLUS_BETA64)]:
        b = L(beta)
        over = lambda x, b=beta: x.astype(np.float64) * b > SOFTPLUS_THRESHOLD64
        f = lambda x, b=b, over=over: np.where(over(x), x, _softplus_ld(b * x) / b)
        d = lambda x, b=b, over=over: np.where(over(x), 1, _sig_ld(b * x))
        t = SOFTPLUS_THRESHOLD64 / beta
        points = [0.0, t, -37.0 / beta, -745.0 / beta, -11355.0 / beta]
        forms[label] = (sp_call(nonlin.softplus, beta), f, points)
        forms[label.replace("softplus", "softplus_derivative")] = (sp_call(nonlin.softplus_derivative, beta), d, points)
        bfn = sp_call(nonlin.softplus_backward, beta)
        forms[label.replace("softplus", "softplus_backward")] = (
            lambda x, bfn=bfn: bfn(g(x), x), lambda x, d=d: g(x).astype(L) * d(x), points)
    points = [0.0, 37.0, -37.0, 745.0, 11355.0]
    forms["logsigmoid"] = (nonlin.logsigmoid, lambda x: -_softplus_ld(-x), points)
    forms["logsigmoid_derivative"] = (nonlin.logsigmoid_derivative, lambda x: _sig_ld(-x), points)
    forms["logsigmoid_backward"] = backward("logsigmoid", lambda x: _sig_ld(-x)) + (points,)
    # softsign, tanhshrink
    points = [0.0, 1.0, 2.0**26, 2.0**53]
    forms["softsign"] = (nonlin.softsign, _at_inf(lambda x: x / (1 + np.abs(x)), 1.0, -1.0), points)
    ss_d = lambda x: 1 / one_plus_sq(np.abs(x))
    forms["softsign_derivative"] = (nonlin.softsign_derivative, ss_d, points)
    forms["softsign_backward"] = backward("softsign", ss_d) + (points,)
    points = [0.0, 1e-5, 0.5, 1.0, 22.0]
    forms["tanhshrink"] = (nonlin.tanhshrink, _at_inf(_tanhshrink_ld, np.inf, -np.inf), points)
    forms["tanhshrink_derivative"] = (nonlin.tanhshrink_derivative, lambda x: np.tanh(x) ** 2, points)
    forms["tanhshrink_backward"] = backward("tanhshrink", lambda x: np.tanh(x) ** 2) + (points,)
    # selu (the kernel multiplies the float64 constants exactly: long double holds their
    # product to 2^-64), celu
    sc, sa = L(reference.SELU_SCALE), L(reference.SELU_SCALE) * L(reference.SELU_ALPHA)
    points = [0.0, -1e-8, -37.0, -708.0, -745.0]
    forms["selu"] = (nonlin.selu, lambda x: np.where(x > 0, sc * x, sa * np.expm1(x)), points)
    selu_d = lambda x: np.where(x > 0, sc, sa * np.exp(x))
    forms["selu_derivative"] = (nonlin.selu_derivative, selu_d, points)
    forms["selu_backward"] = (lambda x: nonlin.selu_backward(g(x), x=x), lambda x: g(x).astype(L) * selu_d(x), points)
    for label, al in [("celu", 1.0), (f"celu[alpha={CELU_ALPHA64:g}]", CELU_ALPHA64)]:
        la = L(al)
        f = lambda x, al=al, la=la: np.where(x > 0, x, la * _expm1_div(x, al))
        d = lambda x, al=al: np.where(x > 0, 1, _exp_div(x, al))
        points = [0.0, -1e-8 * al, -37.0 * al, -708.0 * al, -745.0 * al]
        call = lambda fn, al=al: (lambda x: fn(x, alpha=al))
        forms[label] = (call(nonlin.celu), f, points)
        forms[label.replace("celu", "celu_derivative")] = (call(nonlin.celu_derivative), d, points)
        forms[label.replace("celu", "celu_backward")] = (
            lambda x, al=al: nonlin.celu_backward(g(x), x=x, alpha=al), lambda x, d=d: g(x).astype(L) * d(x), points)
    # gelu, both forms
    for form, f, d, root in [("none", _gelu_ld, _gelu_d_ld, -0.7518), ("tanh", _gelu_tanh_ld, _gelu_tanh_d_ld, -0.7525)]:
        sfx = "" if form == "none" else "[tanh]"
        d = _at_inf(_near_root("gelu_derivative" + sfx, d), 1.0, 0.0)
        points = [0.0, root, -5.0, -10.0, -37.7, -38.6, 1e-8, 5.0, 8.3]
        forms["gelu" + sfx] = (lambda x, form=form: nonlin.gelu(x, approximate=form), _at_inf(f, np.inf, 0.0), points)
        forms["gelu_derivative" + sfx] = (lambda x, form=form: nonlin.gelu_derivative(x, approximate=form), d, points)
        forms["gelu_backward" + sfx] = (lambda x, form=form: nonlin.gelu_backward(g(x), x, approximate=form),
                                        lambda x, d=d: g(x).astype(L) * d(x), points)
    return forms


def _g64(x: np.ndarray) -> np.ndarray:
    """A deterministic float64 gradient in [-1.7, 1.7] (NaN for non-finite x)."""
    with np.errstate(all="ignore"):
        return np.cos(np.asarray(x, dtype=np.float64) * 3.0) * 1.7


SOFTPLUS_BETA64 = 2.5  # beta x is exact in longdouble
SOFTPLUS_THRESHOLD64 = 20.0
CELU_ALPHA64 = 1.7  # x / alpha is rounded: carried as a pair


def _at_inf(f: Callable, pos: float, neg: float) -> Callable:
    """f with its limits at +-inf (where the formula would give NaN or the wrong sign)."""
    return lambda x: np.where(np.isposinf(x), pos, np.where(np.isneginf(x), neg, f(x)))


def _sig_ld(z):
    """sigmoid(z), stable for both signs."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _softplus_ld(z):
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|)."""
    return np.where(z > 0, z, 0) + np.log1p(np.exp(-np.abs(z)))


def _split_ld(a):
    c = np.longdouble(4294967297) * a  # 2^32 + 1: halves of 32 bits, their products exact
    hi = c - (c - a)
    return hi, a - hi


def _two_prod_ld(a, b):
    """a b = p + e exactly (Dekker, in longdouble); e = 0 where p is not finite."""
    p = a * b
    (ah, al), (bh, bl) = _split_ld(a), _split_ld(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, np.where(np.isfinite(e), e, 0)


def _div_ld(x, alpha: float):
    """x / alpha = q + d: q rounded, d = r / alpha from the exact remainder x = q alpha + r."""
    la = np.longdouble(alpha)
    q = x / la
    p, e = _two_prod_ld(q, la)
    return q, np.where(np.isfinite(q), ((x - p) - e) / la, 0)


def _expm1_div(x, alpha: float):
    """expm1(x / alpha) = expm1(q) + e^q d (x / alpha = q + d, `_div_ld`)."""
    q, d = _div_ld(x, alpha)
    return np.expm1(q) + np.exp(q) * d


def _exp_div(x, alpha: float):
    """e^(x / alpha) = e^q (1 + d)."""
    q, d = _div_ld(x, alpha)
    return np.exp(q) * (1 + d)


def _tanh_softplus_ld(x):
    """tanh(log(1 + e^x)) = u (u + 2) / (u (u + 2) + 2), u = e^x; for x > 0, with v = e^-x,
    (1 + 2v) / (1 + 2v + 2v^2)."""
    u = np.exp(np.minimum(x, 0))
    v = np.exp(-np.maximum(x, 0))
    w = u * (u + 2)
    return np.where(x > 0, (1 + 2 * v) / (1 + 2 * v + 2 * v * v), w / (w + 2))


def _mish_d_ld(x):
    """tanh(sp) + x sech(sp)^2 sigmoid(x), sp = softplus(x); sech(sp)^2 = 4 (1+u)^2 / ((1+u)^2 + 1)^2
    (for x > 0 in v = e^-x: 4 v^2 (1+v)^2 / ((1+v)^2 + v^2)^2)."""
    u = np.exp(np.minimum(x, 0))
    v = np.exp(-np.maximum(x, 0))
    pu, pv = (1 + u) ** 2, (1 + v) ** 2
    sech2 = np.where(x > 0, 4 * v * v * pv / (pv + v * v) ** 2, 4 * pu / (pu + 1) ** 2)
    return _tanh_softplus_ld(x) + x * sech2 * _sig_ld(x)


def _split_eval(mask, f_in: Callable, f_out: Callable, x):
    """f_in(x) where mask, f_out(x) elsewhere, each evaluated only on its own elements."""
    out = np.empty(x.shape, dtype=np.longdouble)
    out[mask] = f_in(x[mask])
    out[~mask] = f_out(x[~mask])
    return out


def _horner(c, t):
    acc = np.zeros_like(t)
    for ck in c[::-1]:
        acc = acc * t + ck
    return acc


def _tanhshrink_ld(x):
    """x - tanh(x); its Taylor series for |x| < 1 (where the difference would cancel)."""
    c = _series_coefficients("tanhshrink")
    return _split_eval(np.abs(x) < 1, lambda v: v * (v * v) * _horner(c, v * v), lambda v: v - np.tanh(v), x)


def _gauss_ld(x):
    """e^(-x^2/2) with x^2 = p + e exact."""
    p, e = _two_prod_ld(x, x)
    return np.exp(-p / 2) * (1 - e / 2)


def _phi_upper_ld(x):
    """(Q, G): Q = Phi(-|x|) = e^(-x^2/2) erfcx(|x|/sqrt 2) / 2 (no cancellation), G = e^(-x^2/2)."""
    G = _gauss_ld(x)
    s = np.abs(x) * _const_ld("sqrt1_2")[0]
    return G * _erfcx_ld(s) / 2, G


def _gelu_ld(x):
    q, _ = _phi_upper_ld(x)
    return x * np.where(x < 0, q, 1 - q)


def _gelu_d_ld(x):
    """Phi(x) + x phi(x)."""
    q, G = _phi_upper_ld(x)
    return np.where(x < 0, q, 1 - q) + x * G * _const_ld("inv_sqrt_2pi")[0]


def _gelu_tanh_z_ld(x):
    """z = 2 sqrt(2/pi) (x + 0.044715 x^3) as a pair (zh, zl), and z'."""
    (kh, kl), (ch, cl) = _const_ld("gelu_k"), _const_ld("gelu_kc")
    p, e = _two_prod_ld(x, x)  # x^2
    q, f = _two_prod_ld(p, x)  # x^3 = q + f + e x
    r, gg = _two_prod_ld(ch, q)
    s, h = _two_prod_ld(kh, x)
    zh = s + r  # same signs
    bb = zh - s  # two_sum: zh + err = s + r exactly
    err = (s - (zh - bb)) + (r - bb)
    zl = err + gg + ch * (f + e * x) + cl * q + h + kl * x
    dz = kh * (1 + 3 * L_0044715 * p)
    return zh, np.where(np.isfinite(zl), zl, 0), dz


def _sig_pair_ld(zh, zl):
    """(sigmoid(z), sigmoid(z) sigmoid(-z)) for z = zh + zl."""
    e = np.exp(-np.abs(zh)) * (1 - np.sign(zh) * zl)
    s = np.where(zh >= 0, 1 / (1 + e), e / (1 + e))
    return s, e / ((1 + e) * (1 + e))


def _gelu_tanh_ld(x):
    zh, zl, _ = _gelu_tanh_z_ld(x)
    return x * _sig_pair_ld(zh, zl)[0]


def _gelu_tanh_d_ld(x):
    """sigmoid(z) + x sigmoid(z) sigmoid(-z) z'."""
    zh, zl, dz = _gelu_tanh_z_ld(x)
    s, ss = _sig_pair_ld(zh, zl)
    return s + x * ss * dz


L_0044715 = np.longdouble("0.044715")

# The functions with mpmath: the exact definitions (checking the longdouble forms) and the
# constants and series the forms need, computed once.
_SERIES_TERMS = 48
_ROOT_RADIUS = 0.6  # the Taylor series around a derivative's root is used for |x - x0| < this


def _mp_exact(name: str) -> Callable:
    """The function `name` (a key of `_precise_forms`) in mpmath; its constants are computed at
    the working precision of the call."""
    import mpmath as mp

    sig = lambda v: 1 / (1 + mp.exp(-v))
    sp = lambda v: mp.log1p(mp.exp(v)) if v < 0 else v + mp.log1p(mp.exp(-v))
    tsp = lambda v: mp.tanh(sp(v))
    sech2_sp = lambda v: 1 / mp.cosh(sp(v)) ** 2
    phi = lambda v: mp.exp(-v * v / 2) / mp.sqrt(2 * mp.pi)
    # (mpmath's erfc overflows for huge arguments: there Phi(-s) = phi(s)/s (1 - 1/s^2 + 3/s^4))
    Phi = lambda v: (mp.erfc(-v / mp.sqrt(2)) / 2 if abs(v) < 1e6 else
                     1 if v > 0 else phi(v) / -v * (1 - 1 / v**2 + 3 / v**4))
    k = 2 * mp.sqrt(2 / mp.pi)
    z = lambda v: k * (v + mp.mpf("0.044715") * v**3)
    dz = lambda v: k * (1 + 3 * mp.mpf("0.044715") * v * v)
    sa, sc = mp.mpf(reference.SELU_SCALE) * mp.mpf(reference.SELU_ALPHA), mp.mpf(reference.SELU_SCALE)

    def softplus(beta):
        over = lambda v: float(v) * beta > SOFTPLUS_THRESHOLD64
        return (lambda v: v if over(v) else sp(beta * v) / beta), (lambda v: 1 if over(v) else sig(beta * v))

    def celu(al):
        al = mp.mpf(al)
        return (lambda v: v if v > 0 else al * mp.expm1(v / al)), (lambda v: 1 if v > 0 else mp.exp(v / al))

    pairs = {
        "sigmoid": (sig, lambda v: mp.exp(-v) / (1 + mp.exp(-v)) ** 2),
        "tanh": (mp.tanh, lambda v: 1 / mp.cosh(v) ** 2),
        "elu": (lambda v: v if v > 0 else mp.mpf(ALPHA64) * mp.expm1(v),
                lambda v: 1 if v > 0 else mp.mpf(ALPHA64) * mp.exp(v)),
        "silu": (lambda v: v * sig(v), lambda v: sig(v) * (1 + v * (1 - sig(v)))),
        "mish": (lambda v: v * tsp(v), lambda v: tsp(v) + v * sech2_sp(v) * sig(v)),
        "softplus": softplus(1.0),
        f"softplus[beta={SOFTPLUS_BETA64:g}]": softplus(SOFTPLUS_BETA64),
        "logsigmoid": (lambda v: -sp(-v), lambda v: sig(-v)),
        "softsign": (lambda v: v / (1 + abs(v)), lambda v: 1 / (1 + abs(v)) ** 2),
        "tanhshrink": (lambda v: v - mp.tanh(v), lambda v: mp.tanh(v) ** 2),
        "selu": (lambda v: sc * v if v > 0 else sa * mp.expm1(v), lambda v: sc if v > 0 else sa * mp.exp(v)),
        "celu": celu(1.0),
        f"celu[alpha={CELU_ALPHA64:g}]": celu(CELU_ALPHA64),
        "gelu": (lambda v: v * Phi(v), lambda v: Phi(v) + v * phi(v)),
        "gelu[tanh]": (lambda v: v * sig(z(v)), lambda v: sig(z(v)) * (1 + v * (1 - sig(z(v))) * dz(v))),
    }
    base, _, form = name.partition("[")
    form = "[" + form if form else ""
    for kind, i in (("_derivative", 1), ("_backward", 2)):
        if base.endswith(kind):
            f = pairs[base[: -len(kind)] + form][min(i, 1)]
            if i == 2:
                return lambda v: mp.mpf(float(_g64(np.array([float(v)]))[0])) * f(v)
            return f
    return pairs[name][0]


def _mp_to_ld(v) -> np.longdouble:
    import mpmath

    return np.longdouble(mpmath.nstr(v, 30, min_fixed=-np.inf, max_fixed=np.inf))


def _ld_to_mp(p):
    import mpmath

    m, ex = np.frexp(p)  # p = m 2^ex exactly, m * 2^64 an integer
    return mpmath.ldexp(mpmath.mpf(int(np.ldexp(m, 64))), int(ex) - 64)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _memo(f: Callable[_P, _R]) -> Callable[_P, _R]:
    """functools.cache with f's own signature (for mypy and stubtest)."""
    return functools.cache(f)  # type: ignore[return-value]


@_memo
def _const_ld(name: str) -> Tuple[np.longdouble, np.longdouble]:
    """A constant as a longdouble pair hi + lo."""
    import mpmath as mp

    with mp.workdps(50):
        v = {"sqrt1_2": mp.sqrt(0.5), "inv_sqrt_2pi": 1 / mp.sqrt(2 * mp.pi),
             "inv_sqrt_pi": 1 / mp.sqrt(mp.pi), "gelu_k": 2 * mp.sqrt(2 / mp.pi),
             "gelu_kc": 2 * mp.sqrt(2 / mp.pi) * mp.mpf("0.044715")}[name]
        hi = _mp_to_ld(v)
        return hi, _mp_to_ld(v - _ld_to_mp(hi))


@_memo
def _series_coefficients(name: str) -> np.ndarray:
    """Taylor coefficients (longdouble): "tanhshrink": (x - tanh x) / x^3 in powers of x^2."""
    import mpmath as mp

    with mp.workdps(50):
        # tanh x = sum 2^2n (2^2n - 1) B_2n x^(2n-1) / (2n)!; x - tanh x drops n = 1
        c = [-(2 ** (2 * n)) * (2 ** (2 * n) - 1) * mp.bernoulli(2 * n) / mp.factorial(2 * n)
             for n in range(2, 2 + 56)]
        return np.array([_mp_to_ld(v) for v in c])


@_memo
def _root_series(name: str):
    """(x0 as a longdouble pair, Taylor coefficients at x0) of the derivative `name`, which
    has a root x0 where its longdouble formula cancels."""
    import mpmath as mp

    guess = {"silu_derivative": -1.2785, "mish_derivative": -1.1948, "gelu_derivative": -0.7518,
             "gelu_derivative[tanh]": -0.7525}[name]
    with mp.workdps(50):
        f = _mp_exact(name)
        x0 = mp.findroot(f, guess)
        c = mp.taylor(f, x0, _SERIES_TERMS)
        hi = _mp_to_ld(x0)
        return hi, _mp_to_ld(x0 - _ld_to_mp(hi)), np.array([_mp_to_ld(v) for v in c])


def _near_root(name: str, direct: Callable) -> Callable:
    """`direct`, but its Taylor series around the root where |x - x0| < _ROOT_RADIUS."""

    def f(x):
        hi, lo, c = _root_series(name)
        near = np.abs((x - hi) - lo) < _ROOT_RADIUS
        return _split_eval(near, lambda v: _horner(c, (v - hi) - lo), direct, x)

    return f


_ERFCX_STEP, _ERFCX_TOP, _ERFCX_TERMS = 1 / 8, 8.0, 24


@_memo
def _erfcx_table() -> np.ndarray:
    """Taylor coefficients of erfcx(s) = e^(s^2) erfc(s) at s = k/8, k = 0..64: y' = 2 s y - 2/sqrt(pi),
    so a_1 = 2c a_0 - 2/sqrt(pi), a_(n+1) = (2c a_n + 2 a_(n-1)) / (n + 1)."""
    import mpmath as mp

    rows = []
    with mp.workdps(60):
        for k in range(int(_ERFCX_TOP / _ERFCX_STEP) + 1):
            c = mp.mpf(k) * mp.mpf(_ERFCX_STEP)
            a = [mp.erfc(c) * mp.exp(c * c)]
            a.append(2 * c * a[0] - 2 / mp.sqrt(mp.pi))
            for n in range(1, _ERFCX_TERMS - 1):
                a.append((2 * c * a[n] + 2 * a[n - 1]) / (n + 1))
            rows.append([_mp_to_ld(v) for v in a])
    return np.array(rows)


def _erfcx_ld(s):
    """erfcx(s) for s >= 0 (longdouble): the Taylor table below 8, the asymptotic series above
    (1/(s sqrt pi)) sum (-1)^n (2n-1)!! / (2 s^2)^n (30 terms: below 2^-70 for s >= 8)."""
    table = _erfcx_table()

    def taylor(s):
        k = np.rint(s / _ERFCX_STEP).astype(np.intp)
        t = s - k * np.longdouble(_ERFCX_STEP)
        acc = np.zeros_like(t)
        for n in range(_ERFCX_TERMS - 1, -1, -1):
            acc = acc * t + table[k, n]
        return acc

    def asymptotic(s):
        w, term, acc = 1 / (2 * s * s), np.ones_like(s), np.ones_like(s)
        for n in range(1, 30):
            term = -term * (2 * n - 1) * w
            acc = acc + term
        return acc * _const_ld("inv_sqrt_pi")[0] / s

    return _split_eval(s < _ERFCX_TOP, taylor, asymptotic, s)


def samples64(n: int, points: List[float], rng: np.random.Generator) -> np.ndarray:
    """float64 inputs: 40% uniform in bit pattern over all finite values, 20% near 0 (|x| from
    1e-300 to 1), 20% uniform in [-750, 750] (the range of exp), 20% within 5% of +-each point."""
    k = n // 5
    return np.concatenate([_spread_samples(k, rng), _dense_samples(n - 4 * k, points, rng)])


_SPECIAL64 = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 2.2250738585072014e-308, 1.0, -1.0])


def _spread_samples(k: int, rng: np.random.Generator) -> np.ndarray:
    """The special values, then 2k uniform in bit pattern, k near 0, k in [-750, 750]."""
    bits = rng.integers(0, 2**63 - 2**52, 2 * k, dtype=np.uint64)  # below the exponent of inf
    wide = bits.view(np.float64) * rng.choice([-1.0, 1.0], 2 * k)
    near0 = rng.choice([-1.0, 1.0], k) * 10.0 ** rng.uniform(-300, 0, k)
    tails = rng.uniform(-750, 750, k)
    return np.concatenate([_SPECIAL64, wide, near0, tails])


def _dense_samples(m: int, points: List[float], rng: np.random.Generator) -> np.ndarray:
    """m inputs within 5% (at least 5e-5) of +-each point."""
    p = np.asarray(points, dtype=np.float64)[rng.integers(0, len(points), m)]
    return rng.choice([-1.0, 1.0], m) * (p + np.maximum(np.abs(p), 1e-3) * rng.uniform(-0.05, 0.05, m))


def ulp_errors64(got: np.ndarray, precise: np.ndarray) -> np.ndarray:
    """|got - precise| in float64 ULPs at precise rounded to float64 (NaN must meet NaN, inf the
    same inf)."""
    L = np.longdouble
    with np.errstate(all="ignore"):
        r = precise.astype(np.float64)
        ulp = np.maximum(np.spacing(np.abs(r)), 5e-324).astype(L)
        err = (np.abs(got.astype(L) - precise) / ulp).astype(np.float64)
    nan_r, nan_g = np.isnan(precise), np.isnan(got)
    err = np.where(nan_r | nan_g, np.where(nan_r & nan_g, 0.0, np.inf), err)
    return np.where(np.isinf(r) & ~nan_g, np.where(got == r, 0.0, np.inf), err)


def accuracy64(n: int = 1_000_000, seed: int = 0, only=None, chunk: int = 1_000_000) -> List[Dict[str, object]]:
    """Max ULP of each smooth float64 function over `n` samples (see `samples64`)."""
    return list(_accuracy64_rows(n, seed, only, chunk))


def precise_names() -> List[str]:
    """The functions ``check --f64`` measures (the names ``--only`` takes)."""
    return list(_precise_forms())


def _accuracy64_rows(n: int, seed: int, only, chunk: int):
    """One row per function, as each is done. The spread 80% of the samples are drawn once and
    shared by every function; the dense 20% around each function's points are its own."""
    sizes = [min(chunk, n - start) for start in range(0, n, chunk)]
    rng = np.random.default_rng(seed)
    spread = [_spread_samples(m // 5, rng) for m in sizes]
    for name, (ours, precise, points) in _precise_forms().items():
        if only and name not in only:
            continue
        rng = np.random.default_rng([seed, len(name)] + [ord(ch) for ch in name])
        worst, at, count, not_rounded = 0.0, 0.0, 0, 0
        for m, shared in zip(sizes, spread):
            x = np.concatenate([shared, _dense_samples(m - 4 * (m // 5), points, rng)])
            got = np.asarray(ours(x))
            with np.errstate(all="ignore"):
                want = precise(x.astype(np.longdouble))
            err = ulp_errors64(got, want)
            i = int(np.argmax(err))
            if err[i] > worst:
                worst, at = float(err[i]), float(x[i])
            count += x.size
            with np.errstate(all="ignore"):
                not_rounded += int(np.sum((got != want.astype(np.float64)) & ~(np.isnan(got) & np.isnan(want))))
        yield {"function": name, "n": count, "max_ulp": worst, "at": at, "not_rounded": not_rounded / count}


def precise_agrees_with_mpmath(name: str, x: np.ndarray) -> float:
    """Largest distance, in float64 ULPs, between the longdouble formula and mpmath (60 digits;
    more for x - tanh x near 0) on the inputs `x` (finite values)."""
    import mpmath

    with mpmath.workprec(200):  # the constants of the definitions
        exact = _mp_exact(name)
    _, precise, _ = _precise_forms()[name]
    with np.errstate(all="ignore"):
        ld = precise(x.astype(np.longdouble))
    worst = 0.0
    for v, p in zip(x, ld):
        extra = 3 * max(0, -int(np.frexp(v)[1])) if name.startswith("tanhshrink") and v != 0 else 0
        with mpmath.workprec(200 + extra):
            e = exact(mpmath.mpf(float(v)))
            ulp = max(float(np.spacing(abs(float(e)))), 5e-324)
            worst = max(worst, float(abs(_ld_to_mp(p) - e) / ulp))
    return worst


def main_accuracy64(n: int, seed: int = 0, only=None) -> int:
    if not extended_precision():
        print("np.longdouble has no extra precision on this platform: float64 accuracy not measured")
        return 0
    print(f"float64 against longdouble formulas, {n:,} inputs per function (see nonlin.check.samples64)\n")
    print(f"{'function':<22}{'inputs':>12}{'max ULP':>9}{'at x':>26}{'not rounded':>13}")
    bad = 0
    for r in _accuracy64_rows(n, seed, only, 1_000_000):
        over = r["max_ulp"] > 1.0
        bad += over
        print(f"{r['function']:<22}{r['n']:>12,}{r['max_ulp']:>9.3f}{r['at']:>26.17g}{100 * r['not_rounded']:>12.4f}%"
              + ("  OVER 1 ULP" if over else ""), flush=True)
    return 1 if bad else 0
