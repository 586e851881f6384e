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
    ]


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
                    "ok": bool(err <= TOLERANCE_ULP and ok_w),
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
    [-30, 30], against the float64 reference."""
    import nonlin

    rows = []
    rng = np.random.default_rng(seed)
    for dtype in (np.float32, np.float64):
        x = rng.uniform(-30, 30, n).astype(dtype)
        for name in ("sigmoid", "sigmoid_derivative", "tanh", "tanh_derivative", "elu", "elu_derivative"):
            with np.errstate(all="ignore"):
                want = getattr(reference, name)(x)
            row = {"function": name, "dtype": np.dtype(dtype).name,
                   "nonlin": float(ulp_errors(getattr(nonlin, name)(x), want, dtype).max())}
            for lib, got in _others(name, x).items():
                row[lib] = float(ulp_errors(got, want, dtype).max())
            rows.append(row)
    return rows


def main_compare(n: int = 2_000_000, seed: int = 0) -> int:
    rows = compare(n, seed)
    print(f"max ULP against nonlin.reference on {n:,} inputs uniform in [-30, 30] (derivatives of NumPy and")
    print("PyTorch as their autograd computes them: from the saved output)\n")
    print(f"{'function':<22}{'dtype':<9}{'nonlin':>10}{'numpy':>12}{'torch':>12}")
    fmt = lambda v: f"{'-':>12}" if v is None else f"{v:>12.3g}"
    for r in rows:
        print(f"{r['function']:<22}{r['dtype']:<9}{r['nonlin']:>10.2f}{fmt(r.get('numpy'))}{fmt(r.get('torch'))}")
    return 0
