"""``python -m nonlin check``: every kernel against the NumPy reference, on random data.

For each function and dtype it prints the largest error in ULP of the output dtype (against
the float64 reference rounded to that dtype) and the kernel's time relative to the reference's.
It exits non-zero if any error exceeds the tolerance.
"""

from __future__ import annotations

import time
from typing import Callable, Dict, List, Tuple

import numpy as np

from . import reference

TOLERANCE_ULP = 4.0
# Functions whose measured error is above TOLERANCE_ULP today (not goals). In float64 the
# reference itself is the weaker side for gelu' and mish' (its plain float64 formulas cancel):
# at the worst inputs (x = -1.68 and -1.19) reference.py is 7.5 and 9.5 ulp from mpmath, the
# kernels 0.50 and 0.45 (tests/test_roots.py checks the kernels against mpmath around the roots).
TOLERANCE_OVER = {"gelu": 6.0, "gelu_derivative": 10.0, "gelu_backward": 10.0, "mish_derivative": 20.0,
                  "mish_backward": 20.0}

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


def _others(name: str, x: np.ndarray):
    """The same function as NumPy (the usual formulation) and PyTorch compute it, where they have
    it: {library: result}. Derivatives are taken the way each library's autograd would, from
    the saved output."""
    out = {}
    with np.errstate(all="ignore"):
        numpy_forms = {
            "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
            "tanh": np.tanh,
            "elu": lambda v: np.where(v > 0, v, np.expm1(v)),
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
    t = torch.from_numpy(x)
    ones = torch.ones_like(t)
    aten = torch.ops.aten
    torch_forms = {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "elu": torch.nn.functional.elu,
        "sigmoid_derivative": lambda v: aten.sigmoid_backward(ones, torch.sigmoid(v)),
        "tanh_derivative": lambda v: aten.tanh_backward(ones, torch.tanh(v)),
        "elu_derivative": lambda v: aten.elu_backward(ones, 1.0, 1.0, 1.0, False, v),
    }
    if name in torch_forms:
        out["torch"] = torch_forms[name](t).numpy()
    return out


def compare(n: int = 2_000_000, seed: int = 0) -> List[Dict[str, object]]:
    """Max ULP of nonlin, NumPy and PyTorch (if installed) on the same inputs, spread over
    [-30, 30]: float32 against the float64 reference, float64 against extended precision."""
    import nonlin

    rows = []
    rng = np.random.default_rng(seed)
    precise = _precise_forms(alpha=1.0) if extended_precision() else {}
    for dtype in (np.float32, np.float64):
        x = rng.uniform(-30, 30, n).astype(dtype)
        for name in ("sigmoid", "sigmoid_derivative", "tanh", "tanh_derivative", "elu", "elu_derivative"):
            if dtype == np.float64 and name in precise:  # float64 against extended precision
                with np.errstate(all="ignore"):
                    want = precise[name][1](x.astype(np.longdouble))
                errs = lambda got: float(ulp_errors64(np.asarray(got, dtype=np.float64), want).max())
            else:
                with np.errstate(all="ignore"):
                    want = getattr(reference, name)(x)
                errs = lambda got: float(ulp_errors(got, want, dtype).max())
            row = {"function": name, "dtype": np.dtype(dtype).name, "nonlin": errs(getattr(nonlin, name)(x))}
            for lib, got in _others(name, x).items():
                row[lib] = errs(got)
            rows.append(row)
    return rows


def main_compare(n: int = 2_000_000, seed: int = 0) -> int:
    rows = compare(n, seed)
    print(f"max ULP on {n:,} inputs uniform in [-30, 30], float32 against nonlin.reference, float64 against")
    print("extended precision (derivatives of NumPy and PyTorch as their autograd computes them: from the")
    print("saved output)\n")
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
    changes regime, sampled densely)."""
    import nonlin

    L = np.longdouble
    ALPHA = alpha

    def one_plus_sq(e):
        return (1 + e) * (1 + e)

    def sig(x):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

    a = L(ALPHA)
    def g(x):  # a deterministic gradient in [-1.7, 1.7] (NaN for non-finite x)
        with np.errstate(all="ignore"):
            return np.cos(x.astype(np.float64) * 3.0) * 1.7

    return {
        "sigmoid": (nonlin.sigmoid, sig, [0.0, 36.7, 709.0, 745.0]),
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


def samples64(n: int, points: List[float], rng: np.random.Generator) -> np.ndarray:
    """float64 inputs: 40% uniform in bit pattern over all finite values, 20% near 0 (|x| from
    1e-300 to 1), 20% uniform in [-750, 750] (the range of exp), 20% within 5% of +-each point."""
    k = n // 5
    bits = rng.integers(0, 2**63 - 2**52, 2 * k, dtype=np.uint64)  # below the exponent of inf
    wide = bits.view(np.float64) * rng.choice([-1.0, 1.0], 2 * k)
    near0 = rng.choice([-1.0, 1.0], k) * 10.0 ** rng.uniform(-300, 0, k)
    tails = rng.uniform(-750, 750, k)
    p = np.asarray(points, dtype=np.float64)[rng.integers(0, len(points), n - 4 * k)]
    dense = rng.choice([-1.0, 1.0], p.size) * (p + np.maximum(np.abs(p), 1e-3) * rng.uniform(-0.05, 0.05, p.size))
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 2.2250738585072014e-308, 1.0, -1.0])
    return np.concatenate([special, wide, near0, tails, dense])


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
    rows = []
    for name, (ours, precise, points) in _precise_forms().items():
        if only and name not in only:
            continue
        rng = np.random.default_rng(seed)
        worst, at, count, not_rounded = 0.0, 0.0, 0, 0
        for start in range(0, n, chunk):
            x = samples64(min(chunk, n - start), points, rng)
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
        rows.append({"function": name, "n": count, "max_ulp": worst, "at": at,
                     "not_rounded": not_rounded / count})
    return rows


def precise_agrees_with_mpmath(name: str, x: np.ndarray) -> float:
    """Largest distance, in float64 ULPs, between the longdouble formula and mpmath at 60 digits
    on the inputs `x` (finite values)."""
    import mpmath

    mpmath.mp.dps = 60
    exact = {
        "sigmoid": lambda v: 1 / (1 + mpmath.exp(-v)),
        "sigmoid_derivative": lambda v: mpmath.exp(-v) / (1 + mpmath.exp(-v)) ** 2,
        "tanh": mpmath.tanh,
        "tanh_derivative": lambda v: 1 / mpmath.cosh(v) ** 2,
        "elu": lambda v: v if v > 0 else mpmath.mpf(ALPHA64) * mpmath.expm1(v),
        "elu_derivative": lambda v: 1 if v > 0 else mpmath.mpf(ALPHA64) * mpmath.exp(v),
    }[name]
    _, precise, _ = _precise_forms()[name]
    with np.errstate(all="ignore"):
        ld = precise(x.astype(np.longdouble))
    worst = 0.0
    for v, p in zip(x, ld):
        e = exact(mpmath.mpf(float(v)))
        ulp = max(float(np.spacing(abs(float(e)))), 5e-324)
        m, ex = np.frexp(p)  # p = m 2^ex exactly, m * 2^64 an integer
        pm = mpmath.ldexp(mpmath.mpf(int(np.ldexp(m, 64))), int(ex) - 64)
        worst = max(worst, float(abs(pm - e) / ulp))
    return worst


def main_accuracy64(n: int, seed: int = 0, only=None) -> int:
    if not extended_precision():
        print("np.longdouble has no extra precision on this platform: float64 accuracy not measured")
        return 0
    print(f"float64 against longdouble formulas, {n:,} inputs per function (see nonlin.check.samples64)\n")
    print(f"{'function':<22}{'inputs':>12}{'max ULP':>9}{'at x':>26}{'not rounded':>13}")
    bad = 0
    for r in accuracy64(n, seed, only):
        over = r["max_ulp"] > 1.0
        bad += over
        print(f"{r['function']:<22}{r['n']:>12,}{r['max_ulp']:>9.3f}{r['at']:>26.17g}{100 * r['not_rounded']:>12.4f}%"
              + ("  OVER 1 ULP" if over else ""))
    return 1 if bad else 0
