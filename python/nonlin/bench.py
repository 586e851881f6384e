"""``python -m nonlin bench``: nonlin against NumPy, PyTorch, JAX and numexpr, in one run.

Every cell is the median of repeated timings, in ns per element, taken in the same process.
Sides that are not installed are left out. The floor is a streaming copy of the same bytes
(read the inputs, write the output) on as many threads as nonlin uses.
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple

import numpy as np
from numpy.typing import DTypeLike

import nonlin

FORWARD = ["sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "maxout",
           # the elementwise functions of torch.nn.functional; "gelu:tanh" is gelu(approximate="tanh")
           "gelu", "gelu:tanh", "silu", "mish", "softplus", "logsigmoid", "softsign", "tanhshrink", "selu",
           "celu", "hardtanh", "relu6", "hardsigmoid", "hardswish", "softshrink", "hardshrink", "threshold",
           "two_relu"]
BACKWARD = [f.replace(":", "_backward:") if ":" in f else f + "_backward" for f in FORWARD]
SIZES = [1_000, 100_000, 1_000_000, 16_000_000]
QUICK_SIZES = [1_000, 100_000]
SLOPE, ALPHA, CHANNELS, PIECES = 0.01, 1.0, 16, 4
BETA, SOFTPLUS_THRESHOLD, LAMBD, THRESHOLD, VALUE = 1.0, 20.0, 0.5, 0.1, 20.0  # PyTorch's defaults and doc example
SELU_SCALE, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772
SAVED_OUTPUT = ("sigmoid", "tanh", "elu", "selu", "celu")  # backward timed from the saved output, as PyTorch does


def _split(name: str) -> Tuple[str, str, str]:
    """"gelu_backward:tanh" -> ("gelu_backward", "gelu", "tanh"): function, its forward, gelu's form."""
    fname, _, form = name.partition(":")
    return fname, fname.replace("_backward", ""), form or "none"


def _plain_inputs(name: str, n: int, dtype: DTypeLike) -> Dict[str, np.ndarray]:
    """x, g (gradient), y (saved output), w (prelu weight) with the shapes each function needs."""
    rng = np.random.default_rng(0)
    base = _split(name)[1]
    shape: Tuple[int, ...]
    channels = CHANNELS if n >= CHANNELS else 1  # one element: one weight
    if base == "prelu" and channels == 1:
        shape = (n,)
    elif base == "prelu":
        inner = max(1, n // (CHANNELS * 8))
        shape = (max(1, n // (CHANNELS * inner)), CHANNELS, inner)
    elif base == "maxout":
        shape = (max(1, n // (2 * PIECES)), 2 * PIECES)
    else:
        shape = (n,)
    x = rng.uniform(-8, 8, shape).astype(dtype)
    g = rng.uniform(-1, 1, shape).astype(dtype)
    d = {"x": x, "g": g, "w": np.linspace(0.05, 0.5, CHANNELS).astype(dtype)[:channels]}
    if base in SAVED_OUTPUT:
        d["y"] = getattr(nonlin, base)(x)
    if name == "maxout_backward":
        d["g"] = np.ascontiguousarray(g[:, : 2 * PIECES // PIECES])
    return d


def _call(f: Callable[..., Any], args: Tuple[Any, ...], kw: Dict[str, Any]) -> Callable[[], object]:
    """A closure calling ``f`` as a user writes the call, with the arguments and keywords spelled
    out, not as ``f(*args, **kw)``: CPython's unpacking of a non-empty ``**kw`` dict costs about
    150 ns per call on its own (``numpy.add(x, x, **{"casting": "same_kind"})`` pays it too),
    more than the n = 1 calls' whole margin."""
    ns: Dict[str, Any] = {"f": f, **{f"a{i}": a for i, a in enumerate(args)}}
    ns.update({f"k_{k}": v for k, v in kw.items()})
    spelled = [f"a{i}" for i in range(len(args))] + [f"{k}=k_{k}" for k in kw]
    call: Callable[[], object] = eval(f"lambda: f({', '.join(spelled)})", ns)
    return call


def _plain_nonlin(name: str, d: Dict[str, np.ndarray], out: bool) -> Callable[[], object]:
    x, g = d["x"], d["g"]
    name, base, form = _split(name)
    f = getattr(nonlin, name)
    args: Tuple[Any, ...]
    kw: Dict[str, Any] = {}
    if name in ("sigmoid_backward", "tanh_backward"):
        args = (g, d["y"])
    elif name in ("elu_backward", "selu_backward", "celu_backward"):
        args, kw = (g,), {"output": d["y"]}
    elif name.endswith("_backward"):
        args = (g, x)
    else:
        args = (x,)
    if name.startswith("prelu"):
        args = args + (d["w"],)
    if name.startswith("maxout"):
        args = args + (PIECES,)
    if name.startswith("leaky"):
        kw["negative_slope"] = SLOPE
    if base in ("elu", "celu"):
        kw["alpha"] = ALPHA
    if base == "gelu":
        kw["approximate"] = form
    if base in ("softshrink", "hardshrink"):
        kw["lambd"] = LAMBD
    if base == "threshold":
        args = args + ((THRESHOLD, VALUE) if name == "threshold" else (THRESHOLD,))
    if out:
        shape = x.shape if name != "maxout" else (x.shape[0], x.shape[1] // PIECES)
        kw["out"] = np.empty(shape, x.dtype)
    return _call(f, args, kw)


def _plain_numpy(name: str, d: Dict[str, np.ndarray]) -> Optional[Callable[[], object]]:
    """The fastest plain NumPy/SciPy formulation we know, writing into preallocated buffers."""
    x, g = d["x"], d["g"]
    y: Any = d.get("y")
    w = d["w"]
    o, t = np.empty_like(x), np.empty_like(x)
    try:
        from scipy.special import expit
    except ImportError:
        expit = None
    wb = w.reshape(1, -1, *([1] * (x.ndim - 2))) if x.ndim >= 2 else w

    def sigmoid() -> Any:
        if expit is not None:
            return expit(x, out=o)
        np.negative(x, out=o)
        np.exp(o, out=o)
        np.add(o, 1, out=o)
        return np.reciprocal(o, out=o)

    table: Dict[str, Optional[Callable[[], object]]] = {
        "sigmoid": sigmoid,
        "tanh": lambda: np.tanh(x, out=o),
        "relu": lambda: np.maximum(x, 0, out=o),
        "leaky_relu": lambda: np.maximum(x, np.multiply(x, SLOPE, out=t), out=o),
        "prelu": lambda: np.where(x > 0, x, np.multiply(x, wb, out=t)),
        "elu": lambda: np.where(x > 0, x, np.multiply(np.expm1(x, out=t), ALPHA, out=t)),
        "maxout": lambda: x.reshape(x.shape[0], -1, PIECES).max(axis=-1),
        "sigmoid_backward": lambda: np.multiply(np.multiply(g, y, out=o), np.subtract(1, y, out=t), out=o),
        "tanh_backward": lambda: np.multiply(g, np.subtract(1, np.multiply(y, y, out=t), out=t), out=o),
        "relu_backward": lambda: np.multiply(g, x > 0, out=o),
        "leaky_relu_backward": lambda: np.where(x > 0, g, np.multiply(g, SLOPE, out=t)),
        "prelu_backward": lambda: (
            np.where(x > 0, g, np.multiply(g, wb, out=t)),
            np.where(x > 0, 0, g * x).sum(axis=tuple(a for a in range(x.ndim) if a != 1)),
        ),
        "elu_backward": lambda: np.where(y > 0, g, np.multiply(g, np.add(y, ALPHA, out=t), out=t)),
        "maxout_backward": None,
    }
    table.update(_numpy_new(x, g, y, o, t, expit))
    return table.get(name)


def _numpy_new(x: np.ndarray, g: np.ndarray, y: Any, o: np.ndarray, t: np.ndarray, expit: Any) -> Dict[str, Optional[Callable[[], object]]]:
    """NumPy formulations of the elementwise functions of torch.nn.functional (SciPy's erf and
    expit where installed)."""
    try:
        from scipy.special import erf
    except ImportError:
        erf = None
    sig = expit if expit is not None else (lambda v: 1 / (1 + np.exp(-v)))
    c, k = math.sqrt(2 / math.pi), 0.044715
    sa = SELU_SCALE * SELU_ALPHA

    def gelu() -> Any:
        np.multiply(x, 1 / math.sqrt(2), out=t)
        np.add(erf(t, out=t), 1, out=t)
        return np.multiply(np.multiply(x, 0.5, out=o), t, out=o)

    def gelu_backward() -> Any:
        cdf = 0.5 * (1 + erf(x * (1 / math.sqrt(2))))
        return np.multiply(g, cdf + x * np.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi)), out=o)

    def gelu_tanh_parts() -> Any:
        u = np.tanh(c * (x + k * x * x * x))
        return u, 0.5 * (1 + u)

    def gelu_tanh_backward() -> Any:
        u, h = gelu_tanh_parts()
        return np.multiply(g, h + 0.5 * x * (1 - u * u) * c * (1 + 3 * k * x * x), out=o)

    def silu_backward() -> Any:
        s = sig(x)
        return np.multiply(g, s * (1 + x * (1 - s)), out=o)

    def mish_backward() -> Any:
        u = np.tanh(np.logaddexp(0, x))
        return np.multiply(g, u + x * sig(x) * (1 - u * u), out=o)

    def hardswish_slope() -> Any:
        return np.where(x < -3, 0, np.where(x <= 3, x / 3 + 0.5, 1))

    return {
        "gelu": gelu if erf is not None else None,
        "gelu_backward": gelu_backward if erf is not None else None,
        "gelu:tanh": lambda: np.multiply(0.5 * x, 1 + gelu_tanh_parts()[0], out=o),
        "gelu_backward:tanh": gelu_tanh_backward,
        "silu": lambda: np.multiply(x, sig(x), out=o),
        "silu_backward": silu_backward,
        "mish": lambda: np.multiply(x, np.tanh(np.logaddexp(0, x, out=t), out=t), out=o),
        "mish_backward": mish_backward,
        "softplus": lambda: np.where(x * BETA > SOFTPLUS_THRESHOLD, x, np.logaddexp(0, x * BETA) / BETA),
        "softplus_backward": lambda: np.multiply(g, sig(x * BETA), out=o),
        "logsigmoid": lambda: np.negative(np.logaddexp(0, -x, out=o), out=o),
        "logsigmoid_backward": lambda: np.multiply(g, sig(-x), out=o),
        "softsign": lambda: np.divide(x, np.add(np.abs(x, out=t), 1, out=t), out=o),
        "softsign_backward": lambda: np.divide(g, np.square(np.add(np.abs(x, out=t), 1, out=t), out=t), out=o),
        "tanhshrink": lambda: np.subtract(x, np.tanh(x, out=t), out=o),
        "tanhshrink_backward": lambda: np.multiply(g, np.square(np.tanh(x, out=t), out=t), out=o),
        "selu": lambda: np.where(x > 0, SELU_SCALE * x, np.multiply(np.expm1(x, out=t), sa, out=t)),
        "selu_backward": lambda: np.where(y > 0, SELU_SCALE * g, np.multiply(g, np.add(y, sa, out=t), out=t)),
        "celu": lambda: np.where(x > 0, x, np.multiply(np.expm1(x / ALPHA, out=t), ALPHA, out=t)),
        "celu_backward": lambda: np.where(y > 0, g, np.multiply(g, np.add(y / ALPHA, 1, out=t), out=t)),
        "hardtanh": lambda: np.clip(x, -1, 1, out=o),
        "hardtanh_backward": lambda: np.multiply(g, (x > -1) & (x < 1), out=o),
        "relu6": lambda: np.clip(x, 0, 6, out=o),
        "relu6_backward": lambda: np.multiply(g, (x > 0) & (x < 6), out=o),
        "hardsigmoid": lambda: np.clip(np.add(np.multiply(x, 1 / 6, out=o), 0.5, out=o), 0, 1, out=o),
        "hardsigmoid_backward": lambda: np.multiply(g, ((x > -3) & (x < 3)) / 6, out=o),
        "hardswish": lambda: np.multiply(x, np.clip(np.add(x, 3, out=t), 0, 6, out=t) / 6, out=o),
        "hardswish_backward": lambda: np.multiply(g, hardswish_slope(), out=o),
        "softshrink": lambda: np.subtract(x, np.clip(x, -LAMBD, LAMBD, out=t), out=o),
        "softshrink_backward": lambda: np.multiply(g, np.abs(x) > LAMBD, out=o),
        "hardshrink": lambda: np.multiply(x, np.abs(x) > LAMBD, out=o),
        "hardshrink_backward": lambda: np.multiply(g, np.abs(x) > LAMBD, out=o),
        "threshold": lambda: np.where(x > THRESHOLD, x, VALUE),
        "threshold_backward": lambda: np.multiply(g, x > THRESHOLD, out=o),
        "two_relu": lambda: np.add(np.clip(x, -1, 1, out=o), 1, out=o),  # = relu(x + 1) - relu(x - 1)
        "two_relu_backward": lambda: np.multiply(g, (x > -1) & (x < 1), out=o),
    }


def _plain_torch(name: str, d: Dict[str, np.ndarray], threads: int) -> Optional[Callable[[], object]]:
    try:
        import torch
        import torch.nn.functional as F
    except Exception:  # not installed, or installed without the libraries it loads
        return None
    torch.set_num_threads(threads)
    x, g, w = (torch.from_numpy(d[k]) for k in ("x", "g", "w"))
    y = torch.from_numpy(d["y"]) if "y" in d else None
    aten = torch.ops.aten
    table: Dict[str, Optional[Callable[[], object]]] = {
        "sigmoid": lambda: torch.sigmoid(x),
        "tanh": lambda: torch.tanh(x),
        "relu": lambda: torch.relu(x),
        "leaky_relu": lambda: F.leaky_relu(x, SLOPE),
        "prelu": lambda: F.prelu(x, w),
        "elu": lambda: F.elu(x, ALPHA),
        "maxout": lambda: x.view(x.shape[0], -1, PIECES).amax(dim=-1),
        "sigmoid_backward": lambda: aten.sigmoid_backward(g, y),
        "tanh_backward": lambda: aten.tanh_backward(g, y),
        "relu_backward": lambda: aten.threshold_backward(g, x, 0),
        "leaky_relu_backward": lambda: aten.leaky_relu_backward(g, x, SLOPE, False),
        "prelu_backward": lambda: aten._prelu_kernel_backward(g, x, w.view(1, -1, *([1] * (x.dim() - 2)))),
        "elu_backward": lambda: aten.elu_backward(g, ALPHA, 1.0, 1.0, True, y),
        "maxout_backward": None,
    }
    table.update(_torch_new(x, g, y, F, aten))
    return table.get(name)


def _torch_new(x: Any, g: Any, y: Any, F: Any, aten: Any) -> Dict[str, Optional[Callable[[], object]]]:
    """torch.nn.functional forwards and the ATen backward ops autograd calls (softsign and
    tanhshrink are composite in PyTorch: their backward is written out in torch ops)."""
    import torch

    buffer = aten.log_sigmoid_forward(x)[1]
    return {
        "gelu": lambda: F.gelu(x),
        "gelu_backward": lambda: aten.gelu_backward(g, x),
        "gelu:tanh": lambda: F.gelu(x, approximate="tanh"),
        "gelu_backward:tanh": lambda: aten.gelu_backward(g, x, approximate="tanh"),
        "silu": lambda: F.silu(x),
        "silu_backward": lambda: aten.silu_backward(g, x),
        "mish": lambda: F.mish(x),
        "mish_backward": lambda: aten.mish_backward(g, x),
        "softplus": lambda: F.softplus(x, BETA, SOFTPLUS_THRESHOLD),
        "softplus_backward": lambda: aten.softplus_backward(g, x, BETA, SOFTPLUS_THRESHOLD),
        "logsigmoid": lambda: F.logsigmoid(x),
        "logsigmoid_backward": lambda: aten.log_sigmoid_backward(g, x, buffer),
        "softsign": lambda: F.softsign(x),
        "softsign_backward": lambda: g / (1 + x.abs()).square_(),
        "tanhshrink": lambda: F.tanhshrink(x),
        "tanhshrink_backward": lambda: g * torch.tanh(x).square_(),
        "selu": lambda: F.selu(x),
        "selu_backward": lambda: aten.elu_backward(g, SELU_ALPHA, SELU_SCALE, 1.0, True, y),
        "celu": lambda: F.celu(x, ALPHA),
        "celu_backward": lambda: aten.elu_backward(g, ALPHA, 1.0, 1.0 / ALPHA, True, y),
        "hardtanh": lambda: F.hardtanh(x),
        "hardtanh_backward": lambda: aten.hardtanh_backward(g, x, -1.0, 1.0),
        "relu6": lambda: F.relu6(x),
        "relu6_backward": lambda: aten.hardtanh_backward(g, x, 0.0, 6.0),
        "hardsigmoid": lambda: F.hardsigmoid(x),
        "hardsigmoid_backward": lambda: aten.hardsigmoid_backward(g, x),
        "hardswish": lambda: F.hardswish(x),
        "hardswish_backward": lambda: aten.hardswish_backward(g, x),
        "softshrink": lambda: F.softshrink(x, LAMBD),
        "softshrink_backward": lambda: aten.softshrink_backward(g, x, LAMBD),
        "hardshrink": lambda: F.hardshrink(x, LAMBD),
        "hardshrink_backward": lambda: aten.hardshrink_backward(g, x, LAMBD),
        "threshold": lambda: F.threshold(x, THRESHOLD, VALUE),
        "threshold_backward": lambda: aten.threshold_backward(g, x, THRESHOLD),
        "two_relu": lambda: F.hardtanh(x).add_(1),  # = relu(x + 1) - relu(x - 1)
        "two_relu_backward": lambda: aten.hardtanh_backward(g, x, -1.0, 1.0),
    }


def _plain_jax(name: str, d: Dict[str, np.ndarray]) -> Optional[Callable[[], object]]:
    try:
        import jax
        import jax.numpy as jnp
    except Exception:
        return None
    if d["x"].dtype == np.float64:
        jax.config.update("jax_enable_x64", True)  # type: ignore[no-untyped-call,unused-ignore]
    x, g, w = (jnp.asarray(d[k]) for k in ("x", "g", "w"))
    y = jnp.asarray(d["y"]) if "y" in d else None
    wb = w.reshape(1, -1, *([1] * (x.ndim - 2))) if x.ndim >= 2 else w
    nn = jax.nn
    fwd = {
        "sigmoid": nn.sigmoid,
        "tanh": jnp.tanh,
        "relu": nn.relu,
        "leaky_relu": lambda v: nn.leaky_relu(v, SLOPE),
        "prelu": lambda v: jnp.where(v > 0, v, wb * v),
        "elu": lambda v: nn.elu(v, ALPHA),
        "maxout": lambda v: v.reshape(v.shape[0], -1, PIECES).max(axis=-1),
        "gelu": lambda v: nn.gelu(v, approximate=False),
        "gelu:tanh": lambda v: nn.gelu(v, approximate=True),
        "silu": nn.silu,
        "mish": nn.mish,
        "softplus": lambda v: jnp.where(v * BETA > SOFTPLUS_THRESHOLD, v, nn.softplus(v * BETA) / BETA),
        "logsigmoid": nn.log_sigmoid,
        "softsign": nn.soft_sign,
        "tanhshrink": lambda v: v - jnp.tanh(v),
        "selu": nn.selu,
        "celu": lambda v: nn.celu(v, ALPHA),
        "hardtanh": nn.hard_tanh,
        "relu6": nn.relu6,
        "hardsigmoid": nn.hard_sigmoid,
        "hardswish": nn.hard_swish,
        "softshrink": lambda v: jnp.where(v > LAMBD, v - LAMBD, jnp.where(v < -LAMBD, v + LAMBD, 0)),
        "hardshrink": lambda v: jnp.where(jnp.abs(v) > LAMBD, v, 0),
        "threshold": lambda v: jnp.where(v > THRESHOLD, v, VALUE),
        "two_relu": lambda v: nn.relu(v + 1) - nn.relu(v - 1),
    }
    name, base, form = _split(name)
    if form != "none":
        name, base = name + ":" + form, base + ":" + form
    if name in fwd:
        f = jax.jit(fwd[name])
        return lambda: f(x).block_until_ready()
    if base in SAVED_OUTPUT:  # from the saved output, as the others do
        sa = SELU_SCALE * SELU_ALPHA
        backward = {
            "sigmoid": lambda gg, yy: gg * yy * (1 - yy),
            "tanh": lambda gg, yy: gg * (1 - yy * yy),
            "elu": lambda gg, yy: jnp.where(yy > 0, gg, gg * (yy + ALPHA)),
            "selu": lambda gg, yy: jnp.where(yy > 0, gg * SELU_SCALE, gg * (yy + sa)),
            "celu": lambda gg, yy: jnp.where(yy > 0, gg, gg * (yy / ALPHA + 1)),
        }[base]
        f = jax.jit(backward)
        return lambda: f(g, y).block_until_ready()
    if base in ("maxout",):
        return None
    vjp = jax.jit(lambda xx, gg: jax.vjp(fwd[base], xx)[1](gg)[0])
    return lambda: vjp(x, g).block_until_ready()


def _plain_numexpr(name: str, d: Dict[str, np.ndarray]) -> Optional[Callable[[], object]]:
    try:
        import numexpr as ne
    except Exception:
        return None
    x, g = d["x"], d["g"]
    y = d.get("y")
    o = np.empty_like(x)
    s, a = x.dtype.type(SLOPE), x.dtype.type(ALPHA)  # keep float32 expressions in float32
    one = x.dtype.type(1)
    exprs = {
        "sigmoid": ("one / (one + exp(-x))", {"x": x, "one": one}),
        "tanh": ("tanh(x)", {"x": x}),
        "relu": ("where(x > 0, x, 0)", {"x": x}),
        "leaky_relu": ("where(x > 0, x, s * x)", {"x": x, "s": s}),
        "elu": ("where(x > 0, x, a * expm1(x))", {"x": x, "a": a}),
        "sigmoid_backward": ("g * y * (one - y)", {"g": g, "y": y, "one": one}),
        "tanh_backward": ("g * (one - y * y)", {"g": g, "y": y, "one": one}),
        "relu_backward": ("where(x > 0, g, 0)", {"g": g, "x": x}),
        "leaky_relu_backward": ("where(x > 0, g, s * g)", {"g": g, "x": x, "s": s}),
        "elu_backward": ("where(y > 0, g, g * (y + a))", {"g": g, "y": y, "a": a}),
    }
    exprs.update(_numexpr_new(x, g, y))
    if name not in exprs:
        return None
    expr, local = exprs[name]
    return lambda: ne.evaluate(expr, local_dict=local, out=o)


def _numexpr_new(x: np.ndarray, g: np.ndarray, y: Any) -> Dict[str, Tuple[Any, ...]]:
    """numexpr forms of the elementwise functions of torch.nn.functional (numexpr has no erf, so
    no exact gelu); every constant is passed in the input's dtype, so float32 stays float32."""
    f = x.dtype.type
    k = {"x": x, "g": g, "zero": f(0), "one": f(1), "half": f(0.5), "three": f(3), "six": f(6), "lo": f(-1),
         "hi": f(1), "l": f(LAMBD), "th": f(THRESHOLD), "v": f(VALUE), "a": f(ALPHA), "s": f(SELU_SCALE),
         "sa": f(SELU_SCALE * SELU_ALPHA), "c": f(math.sqrt(2 / math.pi)), "k": f(0.044715),
         "k3": f(3 * 0.044715), "b": f(BETA), "sth": f(SOFTPLUS_THRESHOLD)}
    if y is not None:
        k["y"] = y
    sig = "(one / (one + exp(-x)))"
    u = "tanh(c * (x + k * x * x * x))"
    sp = "log1p(exp(x))"
    clip = "where(x < lo, lo, where(x > hi, hi, x))"
    forms = {
        "gelu:tanh": f"half * x * (one + {u})",
        "gelu_backward:tanh": f"g * (half * (one + {u}) + half * x * (one - {u} * {u}) * c * (one + k3 * x * x))",
        "silu": "x / (one + exp(-x))",
        "silu_backward": f"g * {sig} * (one + x * (one - {sig}))",
        "mish": f"x * tanh({sp})",
        "mish_backward": f"g * (tanh({sp}) + x * {sig} * (one - tanh({sp}) * tanh({sp})))",
        "softplus": "where(b * x > sth, x, log1p(exp(b * x)) / b)",
        "softplus_backward": "g / (one + exp(-b * x))",
        "logsigmoid": "-log1p(exp(-x))",
        "logsigmoid_backward": "g / (one + exp(x))",
        "softsign": "x / (one + abs(x))",
        "softsign_backward": "g / ((one + abs(x)) * (one + abs(x)))",
        "tanhshrink": "x - tanh(x)",
        "tanhshrink_backward": "g * tanh(x) * tanh(x)",
        "selu": "where(x > zero, s * x, sa * expm1(x))",
        "selu_backward": "where(y > zero, s * g, g * (y + sa))",
        "celu": "where(x > zero, x, a * expm1(x / a))",
        "celu_backward": "where(y > zero, g, g * (y / a + one))",
        "hardtanh": clip,
        "hardtanh_backward": "where((x > lo) & (x < hi), g, zero)",
        "relu6": "where(x < zero, zero, where(x > six, six, x))",
        "relu6_backward": "where((x > zero) & (x < six), g, zero)",
        "hardsigmoid": "where(x <= -three, zero, where(x >= three, one, x / six + half))",
        "hardsigmoid_backward": "where((x > -three) & (x < three), g / six, zero)",
        "hardswish": "where(x <= -three, zero, where(x >= three, x, x * (x + three) / six))",
        "hardswish_backward": "where(x < -three, zero, where(x <= three, g * (x / three + half), g))",
        "softshrink": "where(x > l, x - l, where(x < -l, x + l, zero))",
        "softshrink_backward": "where(abs(x) > l, g, zero)",
        "hardshrink": "where(abs(x) > l, x, zero)",
        "hardshrink_backward": "where(abs(x) > l, g, zero)",
        "threshold": "where(x > th, x, v)",
        "threshold_backward": "where(x > th, g, zero)",
        "two_relu": f"{clip} + one",
        "two_relu_backward": "where((x > lo) & (x < hi), g, zero)",
    }
    return {name: (expr, {v: k[v] for v in k if v in _names(expr)}) for name, expr in forms.items()}


def _names(expr: str) -> Set[str]:
    import re

    return set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", expr))


def _floor(d: Dict[str, np.ndarray], name: str, threads: int) -> Callable[[], object]:
    """Streaming copy of the bytes a call moves: its array inputs read, an array of x's size
    written (maxout and glu write less: their floor is high by that much). A gradient smaller
    than x (maxout's, glu's) is copied on its own, which writes its size once more."""
    x, g = d["x"].reshape(-1), d["g"].reshape(-1)
    pairs: List[Tuple[np.ndarray, Optional[np.ndarray]]]
    if "_backward" not in name:
        pairs = [(x, None)]
    elif g.size == x.size:
        pairs = [(g, x)]
    else:
        pairs = [(x, None), (g, None)]
    outs = [np.empty(a.size, a.dtype) for a, _ in pairs]
    pool = concurrent.futures.ThreadPoolExecutor(threads) if threads > 1 and x.size >= 1 << 18 else None

    def part(i: int) -> Any:
        for (a, b), o in zip(pairs, outs):
            lo, hi = a.size * i // threads, a.size * (i + 1) // threads
            if b is None:
                np.copyto(o[lo:hi], a[lo:hi])
            else:
                np.add(a[lo:hi], b[lo:hi], out=o[lo:hi])

    if pool is None:
        return lambda: [part(i) for i in range(threads)]
    return lambda: list(pool.map(part, range(threads)))


def _timed_ns(fs: Mapping[str, Optional[Callable[[], object]]], n: int, budget: float,
              reduce: Callable[[List[float]], Any] = np.median, turns: bool = False) -> Dict[str, float]:
    """Time per element of each callable (n elements), in ns: `reduce` (the median) of 7 timed
    rounds of about budget / 10 s each (a side given as None is left out). The sides run one
    after the other, each its 7 rounds back to back: PyTorch's and JAX's thread pools keep their
    pace only over calls in a row (with the sides taking turns round by round they measured
    10-60% slower here, even after an untimed call per round). With `turns` (one-thread calls,
    n = 1) they take turns round by round, so that a slow spell of the machine falls on all of
    them alike."""
    live = {k: f for k, f in fs.items() if f is not None}
    number = {}
    for k, f in live.items():
        f()  # warm up (and compile, for JAX)
        t0 = time.perf_counter()
        f()
        number[k] = max(1, int(budget / 10 / max(time.perf_counter() - t0, 1e-7)))
    schedule = [k for _ in range(7) for k in live] if turns else [k for k in live for _ in range(7)]
    times: Dict[str, List[float]] = {k: [] for k in live}
    prev = None
    for k in schedule:
        f = live[k]
        if k != prev and not turns:
            # Let the previous side's spinning worker threads (OpenMP, XLA, nonlin's) go idle.
            time.sleep(0.02)
            f()
        prev = k
        t = time.perf_counter()
        for _ in range(number[k]):
            f()
        times[k].append((time.perf_counter() - t) / number[k])
    return {k: float(reduce(times[k])) / n * 1e9 for k in live}


def run(sizes: List[int], dtypes: Iterable[str] = ("float32", "float64"), names: Optional[List[str]] = None,
        budget: float = 0.2, progress: Callable[..., Any] = print) -> List[Dict[str, Any]]:
    threads = nonlin.info()["threads"]
    rows = []
    for dtype in dtypes:
        for name in names or FORWARD + BACKWARD:
            for n in sizes:
                d = _inputs(name, n, np.dtype(dtype))
                m = d["x"].size
                sides = {
                    "nonlin": _nonlin(name, d, out=False),
                    "nonlin_out": _nonlin(name, d, out=True),
                    "numpy": _numpy(name, d),
                    "torch": _torch(name, d, threads),
                    "jax": _jax(name, d),
                    "numexpr": _numexpr(name, d),
                    "floor": _floor(d, name, threads),
                }
                row: Dict[str, Any] = {"function": name, "dtype": dtype, "n": m}
                t = _timed_ns(sides, m, budget)
                row.update({side: t.get(side) for side in sides})
                others = [row[s] for s in ("numpy", "torch", "jax", "numexpr") if row[s] is not None]
                row["best_other"] = min(others) if others else None
                best = min(row["nonlin"], row["nonlin_out"])
                row["vs_best_other"] = best / row["best_other"] if others else None
                row["out_vs_floor"] = row["nonlin_out"] / row["floor"]
                row["vs_floor"] = row["nonlin"] / row["floor"]
                rows.append(row)
                progress(_format_row(row))
    return rows


HEADER = (
    f"{'function':<22}{'dtype':<8}{'n':>9}  {'nonlin':>7}{'out=':>7}{'numpy':>7}{'torch':>7}"
    f"{'jax':>7}{'numexpr':>8}{'floor':>7}  {'vs best':>7}{'out/fl':>7}{'new/fl':>7}"
)


def _fmt(v: Optional[float], w: int = 7) -> str:
    return f"{'-':>{w}}" if v is None else f"{v:>{w}.3f}"


def _format_row(r: Dict[str, Any]) -> str:
    return (
        f"{r['function']:<22}{r['dtype']:<8}{r['n']:>9}  {_fmt(r['nonlin'])}{_fmt(r['nonlin_out'])}"
        f"{_fmt(r['numpy'])}{_fmt(r['torch'])}{_fmt(r['jax'])}{_fmt(r['numexpr'], 8)}{_fmt(r['floor'])}  "
        f"{_fmt(r['vs_best_other'])}{_fmt(r['out_vs_floor'])}{_fmt(r['vs_floor'])}"
    )


def _geomean(values: List[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def plot(rows: List[Dict[str, Any]], path: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: pip install matplotlib (or nonlin[plot]) for --plot")
        return False
    big = [r for r in rows if r["n"] == max(x["n"] for x in rows)]
    labels = [f"{r['function']}\n{r['dtype']}" for r in big]
    sides = ["nonlin", "numpy", "torch", "jax", "numexpr", "floor"]
    fig, ax = plt.subplots(figsize=(max(8, len(big) * 0.8), 5))
    width = 0.8 / len(sides)
    for i, s in enumerate(sides):
        vals = [r[s] if r[s] is not None else 0 for r in big]
        ax.bar([k + i * width for k in range(len(big))], vals, width, label=s)
    ax.set_xticks([k + 0.4 for k in range(len(big))], labels, rotation=90, fontsize=7)
    ax.set_ylabel("ns / element")
    ax.set_yscale("log")
    ax.set_title(f"nonlin bench, n = {big[0]['n']:,}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def call_times(names: Optional[List[str]] = None, budget: float = 0.2) -> List[Dict[str, Any]]:
    """ns per call on one element (prelu with one weight; two for glu, whose axis is split in
    halves; a row of 8 for maxout), for a new result and with out=, next to ``numpy.tanh`` on
    one element the same way, timed in turns with each function (``vs_tanh``); the
    ``numpy.tanh`` rows give the median of those turns. The fastest of the repeats, not the
    median: a call this short is mostly disturbed upwards."""
    rows = []
    for dtype in ("float32", "float64"):
        # called the way _nonlin's closures call nonlin (_call)
        args: Tuple[Any, ...] = (np.full(1, 0.5, dtype),)
        tanh = {"new": _call(np.tanh, args, {}), "out": _call(np.tanh, args, {"out": np.empty(1, dtype)})}
        turns: Dict[str, List[float]] = {"new": [], "out": []}
        calls = []
        for name in names or FORWARD + BACKWARD:
            d = _inputs(name, 2 if _axis_base(name) == "glu" else 1, np.dtype(dtype))
            t = _timed_ns({"new": _nonlin(name, d, out=False), "out": _nonlin(name, d, out=True),
                           "tanh_new": tanh["new"], "tanh_out": tanh["out"]}, 1, budget, min, turns=True)
            turns["new"].append(t["tanh_new"])
            turns["out"].append(t["tanh_out"])
            calls.append({"function": name, "dtype": dtype, "new": t["new"], "out": t["out"],
                          "vs_tanh": max(t["new"] / t["tanh_new"], t["out"] / t["tanh_out"])})
        median = {k: float(np.median(v)) for k, v in turns.items()}
        rows.append({"function": "numpy.tanh", "dtype": dtype, **median})
        rows += calls
    return rows


def main(quick: bool = False, json_path: Optional[str] = None, plot_path: Optional[str] = None,
         names: Optional[List[str]] = None) -> int:
    info = nonlin.info()
    sizes = QUICK_SIZES if quick else SIZES
    print(f"nonlin {info['version']}  simd={info['simd']}  threads={info['threads']}  (ns per element, median)")
    print(HEADER)
    rows = run(sizes, names=names, budget=0.02 if quick else 0.2)
    compared = [r["vs_best_other"] for r in rows if r["vs_best_other"] is not None]
    slower = [r for r in rows if r["vs_best_other"] is not None and r["vs_best_other"] > 1]
    print(f"\ngeometric mean of nonlin / fastest other: {_geomean(compared):.3f} over {len(compared)} cells;"
          f" nonlin slower in {len(slower)}")
    for r in slower:
        print(f"  slower: {r['function']} {r['dtype']} n={r['n']}: {r['vs_best_other']:.2f}x")
    calls = call_times(names, budget=0.02 if quick else 0.2)
    print(f"\nns per call at n = 1 (new result / out=), and the larger of the two over numpy.tanh's")
    for c in calls:
        ratio = f"  {c['vs_tanh']:.2f}x" if "vs_tanh" in c else ""
        print(f"  {c['function']:<22}{c['dtype']:<8}{c['new']:>8.0f}{c['out']:>8.0f}{ratio}")
    worst = max((c for c in calls if "vs_tanh" in c), key=lambda c: c["vs_tanh"])
    print(f"slowest call over numpy.tanh's: {worst['function']} {worst['dtype']} {worst['vs_tanh']:.2f}x")
    if json_path:
        with open(json_path, "w") as fh:
            json.dump({"info": info, "rows": rows, "calls": calls}, fh, indent=1)
    if plot_path:
        plot(rows, plot_path)
    return 0


# ----------------------------------------------------------------------------- axis-wise and random functions
# softmax, log_softmax and glu work on rows of ROW elements (n // ROW rows); "NAME:row" runs them on one row
# of n elements, "NAME:10" on rows of 10 (a classifier's logits; not in the default run, give it to --only). rrelu is timed in training mode (random slopes, returned), as F.rrelu(training=True).
AXIS_FORWARD = ["softmax", "log_softmax", "glu", "rrelu"]
FORWARD += AXIS_FORWARD
BACKWARD += [f + "_backward" for f in AXIS_FORWARD]
ROW, RRELU_LU = 1000, (1 / 8, 1 / 3)
# _inputs, _nonlin, _numpy, _torch, _jax and _numexpr below handle these names and pass the
# others to _plain_inputs, ... above.


def known_names() -> List[str]:
    """The names ``bench --only`` takes: every row, and the axis-wise ones on rows of 10 or on
    one row."""
    axis = [f + suffix for f in AXIS_FORWARD + [f + "_backward" for f in AXIS_FORWARD] for suffix in (":10", ":row")]
    return FORWARD + BACKWARD + axis


def _axis_base(name: str) -> str:
    return name.split(":")[0].replace("_backward", "")


def _inputs(name: str, n: int, dtype: DTypeLike) -> Dict[str, np.ndarray]:
    base = _axis_base(name)
    if base not in AXIS_FORWARD:
        return _plain_inputs(name, n, dtype)
    rng = np.random.default_rng(0)
    if name.endswith(":10"):
        shape = (max(n // 10, 1), 10)
    else:
        shape = (1, n) if name.endswith(":row") or n < ROW else (n // ROW, ROW)
    x = rng.uniform(-8, 8, shape).astype(dtype)
    g = rng.uniform(-1, 1, shape).astype(dtype)
    d = {"x": x, "g": g, "w": np.ones(1, dtype)}
    if base in ("softmax", "log_softmax"):
        d["y"] = getattr(nonlin, base)(x)
    if name.startswith("glu_backward"):
        d["g"] = np.ascontiguousarray(g[:, : shape[1] // 2])
    if base == "rrelu":
        d["noise"] = nonlin.rrelu(x, *RRELU_LU, training=True, seed=0)[1]
    return d


def _nonlin(name: str, d: Dict[str, np.ndarray], out: bool) -> Callable[[], object]:
    base = _axis_base(name)
    if base not in AXIS_FORWARD:
        return _plain_nonlin(name, d, out)
    x, g = d["x"], d["g"]
    fname = name.split(":")[0]
    f = getattr(nonlin, fname)
    kw: Dict[str, Any] = {}
    args: Tuple[Any, ...]
    if base in ("softmax", "log_softmax"):
        args = (g, d["y"]) if fname.endswith("_backward") else (x,)
    elif base == "glu":
        args = (g, x) if fname.endswith("_backward") else (x,)
    elif fname == "rrelu":
        args, kw = (x, *RRELU_LU), {"training": True, "seed": 0}
    else:
        args = (g, x, d["noise"], *RRELU_LU)
    if out:
        shape = (x.shape[0], x.shape[1] // 2) if fname == "glu" else x.shape
        kw["out"] = np.empty(shape, x.dtype)
    return _call(f, args, kw)


def _numpy(name: str, d: Dict[str, np.ndarray]) -> Optional[Callable[[], object]]:
    base = _axis_base(name)
    if base not in AXIS_FORWARD:
        return _plain_numpy(name, d)
    x, g = d["x"], d["g"]
    y: Any = d.get("y")
    o = np.empty_like(x)
    try:
        from scipy.special import expit, log_softmax as sp_log_softmax, softmax as sp_softmax
    except ImportError:
        expit = sp_softmax = sp_log_softmax = None

    def softmax() -> Any:
        np.subtract(x, x.max(axis=-1, keepdims=True), out=o)
        np.exp(o, out=o)
        return np.divide(o, o.sum(axis=-1, keepdims=True), out=o)

    def log_softmax() -> Any:
        m = x.max(axis=-1, keepdims=True)
        np.subtract(x, m, out=o)
        s = np.log(np.exp(o).sum(axis=-1, keepdims=True))
        return np.subtract(o, s, out=o)

    def glu_parts() -> Any:
        h = x.shape[1] // 2
        a, b = x[:, :h], x[:, h:]
        return a, b, (expit(b) if expit is not None else 1 / (1 + np.exp(-b)))

    def glu_backward() -> Any:
        a, b, s = glu_parts()
        return np.concatenate([g * s, g * a * s * (1 - s)], axis=1)

    def rrelu() -> Any:
        r = np.random.default_rng(0).uniform(*RRELU_LU, x.shape).astype(x.dtype)
        return np.where(x > 0, x, r * x), r

    table = {
        "softmax": softmax if sp_softmax is None else softmax,
        "log_softmax": log_softmax,
        "softmax_backward": lambda: np.multiply(y, g - (g * y).sum(axis=-1, keepdims=True), out=o),
        "log_softmax_backward": lambda: np.subtract(g, np.exp(y) * g.sum(axis=-1, keepdims=True), out=o),
        "glu": lambda: (lambda a, b, s: a * s)(*glu_parts()),
        "glu_backward": glu_backward,
        "rrelu": rrelu,
        "rrelu_backward": lambda: np.where(x > 0, g, d["noise"] * g),
    }
    return table.get(name.split(":")[0])


def _torch(name: str, d: Dict[str, np.ndarray], threads: int) -> Optional[Callable[[], object]]:
    base = _axis_base(name)
    if base not in AXIS_FORWARD:
        return _plain_torch(name, d, threads)
    try:
        import torch
        import torch.nn.functional as F
    except Exception:
        return None
    torch.set_num_threads(threads)
    x, g = torch.from_numpy(d["x"]), torch.from_numpy(d["g"])
    y = torch.from_numpy(d["y"]) if "y" in d else None
    noise = torch.from_numpy(d["noise"]) if "noise" in d else None
    aten = torch.ops.aten
    table = {
        "softmax": lambda: F.softmax(x, dim=-1),
        "log_softmax": lambda: F.log_softmax(x, dim=-1),
        "softmax_backward": lambda: aten._softmax_backward_data(g, y, -1, x.dtype),
        "log_softmax_backward": lambda: aten._log_softmax_backward_data(g, y, -1, x.dtype),
        "glu": lambda: F.glu(x, dim=-1),
        "glu_backward": lambda: aten.glu_backward(g, x, -1),
        "rrelu": lambda: F.rrelu(x, *RRELU_LU, training=True),
        "rrelu_backward": lambda: aten.rrelu_with_noise_backward(g, x, noise, *RRELU_LU, True, False),
    }
    return table.get(name.split(":")[0])


def _jax(name: str, d: Dict[str, np.ndarray]) -> Optional[Callable[[], object]]:
    base = _axis_base(name)
    if base not in AXIS_FORWARD:
        return _plain_jax(name, d)
    if base == "rrelu":
        return None
    try:
        import jax
        import jax.numpy as jnp
    except Exception:
        return None
    if d["x"].dtype == np.float64:
        jax.config.update("jax_enable_x64", True)  # type: ignore[no-untyped-call,unused-ignore]
    x, g = jnp.asarray(d["x"]), jnp.asarray(d["g"])
    y = jnp.asarray(d["y"]) if "y" in d else None
    fwd = {"softmax": jax.nn.softmax, "log_softmax": jax.nn.log_softmax, "glu": jax.nn.glu}
    fname = name.split(":")[0]
    if fname in fwd:
        f = jax.jit(fwd[fname])
        return lambda: f(x).block_until_ready()
    if base == "glu":
        vjp = jax.jit(lambda xx, gg: jax.vjp(jax.nn.glu, xx)[1](gg)[0])
        return lambda: vjp(x, g).block_until_ready()
    form = {  # from the saved output, as the others
        "softmax": lambda gg, yy: yy * (gg - (gg * yy).sum(axis=-1, keepdims=True)),
        "log_softmax": lambda gg, yy: gg - jnp.exp(yy) * gg.sum(axis=-1, keepdims=True),
    }[base]
    f = jax.jit(form)
    return lambda: f(g, y).block_until_ready()


def _numexpr(name: str, d: Dict[str, np.ndarray]) -> Optional[Callable[[], object]]:
    return None if _axis_base(name) in AXIS_FORWARD else _plain_numexpr(name, d)
