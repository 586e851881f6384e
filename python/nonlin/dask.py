"""Dask adapter: every function of nonlin applied block by block to ``dask.array`` arrays.

    import dask.array as da
    import nonlin.dask as nld
    x = da.random.standard_normal((100_000, 512), chunks=(10_000, 512))
    y = nld.silu(x)                                  # lazy; y.compute() runs nonlin on each block
    dx = nld.silu_backward(g, x)                     # backward: same names and arguments as nonlin
    p = nld.softmax(x, axis=1)

Each function has nonlin's name and signature (without ``out=``), takes dask arrays or
array-likes, and returns a lazy dask array (``rrelu(training=True)`` and ``prelu_backward``
return a pair). Parameters are checked when the graph is built, on a sample of one row, so a
bad parameter raises ValueError at once rather than on a worker.

- Elementwise functions, their derivatives and backwards: ``map_blocks`` on the blocks as they
  are; the arrays of a backward must have the same shape (their chunks are aligned by dask).
- softmax, log_softmax, glu, maxout and their backwards work on whole rows of ``axis``: that
  axis is rechunked into one chunk (the other axes get dask's "auto" chunks, which keeps blocks
  near ``array.chunk-size``) and every block is one call of nonlin. Rows are the softmax's
  classes or a layer's features, so one row fits in memory by far; splitting a row across blocks
  would need a second pass (max and sum reductions) for no gain at these sizes.
- prelu's weight (a scalar or one value per channel on axis 1) is sliced to each block's
  channels. prelu_backward's grad_weight is the sum of each block's grad_weight (in float64):
  a second blockwise pass of nonlin.prelu_backward, as dask cannot keep one task's two outputs.
- rrelu in training draws each block's slopes with seed (seed, block index), so the slopes
  depend on the chunking (the in-memory rrelu numbers elements from 0 in one array); the noise
  is returned, and rrelu_backward with that noise gives the matching gradient.

Dask is an optional dependency: ``import nonlin`` never imports it; this module does.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Any, Dict, Tuple

import dask.array as da
import numpy as np

import nonlin as nl

_ARRAYS = ("grad_output", "x", "output", "noise")  # argument names that are arrays, in nonlin's order
_AXISWISE = {"softmax", "softmax_backward", "log_softmax", "log_softmax_backward", "glu", "glu_backward",
             "maxout", "maxout_backward"}
_SPECIAL = {"prelu", "prelu_derivative", "prelu_backward", "rrelu"}
_SKIP = {"set_num_threads", "info"}


def _call(name: str, keys: Tuple[str, ...], params: Dict[str, Any], *blocks: np.ndarray) -> np.ndarray:
    """One block: nonlin's function on the blocks (by keyword) and the parameters."""
    return np.asarray(getattr(nl, name)(**dict(zip(keys, blocks)), **params))


def _sample(a: da.Array, axis: Any = None) -> np.ndarray:
    """Zeros of one row: a's dtype, every length 1 but `axis`'s."""
    shape = [1] * a.ndim
    if axis is not None and a.ndim:
        shape[axis] = a.shape[axis]
    return np.zeros(shape, a.dtype)


def _dtype(a: da.Array) -> np.dtype[Any]:
    """The dtype nonlin computes a in (float32 or float64, as a ufunc with those loops casts)."""
    return nl.relu(np.zeros(0, a.dtype)).dtype


def _split(name: str, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Tuple[Dict[str, da.Array], Dict[str, Any]]:
    """(array arguments as dask arrays, the other parameters), by nonlin's signature."""
    sig = _SIGNATURES[name]
    bound = sig.bind(*args, **kwargs)  # no apply_defaults: nonlin fills in its own defaults
    arrays = {k: da.asarray(v) for k, v in bound.arguments.items() if k in _ARRAYS and v is not None}
    params = {k: v for k, v in bound.arguments.items() if k not in _ARRAYS}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) > 1 and name not in _AXISWISE:
        raise ValueError(f"nonlin.dask.{name}: arrays of different shapes " +
                         ", ".join(f"{k} {a.shape}" for k, a in arrays.items()))
    return arrays, params


def _elementwise(name: str, *args: Any, **kwargs: Any) -> da.Array:
    arrays, params = _split(name, args, kwargs)
    keys = tuple(arrays)
    meta = _call(name, keys, params, *(_sample(a) for a in arrays.values()))  # checks the parameters
    first, *rest = arrays.values()  # blocks must line up: the others take the first array's chunks
    blocks = [first] + [a.rechunk(first.chunks) for a in rest]
    return da.map_blocks(functools.partial(_call, name, keys, params), *blocks, dtype=meta.dtype)


def _axiswise(name: str, *args: Any, **kwargs: Any) -> da.Array:
    arrays, params = _split(name, args, kwargs)
    keys = tuple(arrays)
    ref = arrays["x"] if "x" in arrays else arrays["output"]  # the full-size input; grad_output may be shorter on axis
    axis = params.setdefault("axis", -1)
    if not isinstance(axis, (int, np.integer)) or not -ref.ndim <= axis < ref.ndim:
        raise ValueError(f"nonlin.dask.{name}: axis {axis!r} out of range for {ref.ndim} dimensions")
    ax = int(axis) % ref.ndim
    samples = [_sample(a, ax) for a in arrays.values()]
    meta = _call(name, keys, params, *samples)  # checks parameters and shapes; gives the output's length on ax
    if "grad_output" in arrays and arrays["grad_output"].shape[:ax] + arrays["grad_output"].shape[ax + 1:] \
            != ref.shape[:ax] + ref.shape[ax + 1:]:
        raise ValueError(f"nonlin.dask.{name}: grad_output has shape {arrays['grad_output'].shape} "
                         f"and {keys[1]} has shape {ref.shape}")
    ref = ref.rechunk({i: (-1 if i == ax else "auto") for i in range(ref.ndim)})
    blocks = [a.rechunk(tuple(-1 if i == ax else c for i, c in enumerate(ref.chunks))) for a in arrays.values()]
    chunks = tuple((meta.shape[ax],) if i == ax else c for i, c in enumerate(ref.chunks))
    return da.map_blocks(functools.partial(_call, name, keys, params), *blocks, chunks=chunks,
                         dtype=meta.dtype)


# ------------------------------------------------------------------------------- prelu, rrelu
def _prelu_block(name: str, weight: np.ndarray, *blocks: np.ndarray, block_info: Any = None) -> Any:
    if weight.size > 1:  # this block's channels
        lo, hi = block_info[0]["array-location"][1]
        weight = weight[lo:hi]
    # Unpickled on a worker, weight can be misaligned, which nonlin.prelu rejects for its weight
    # (TypeError "not contiguous or is misaligned"; x and grad_output may be misaligned).
    weight = np.require(weight, requirements=["C", "A"])
    return getattr(nl, name)(*blocks, weight)


def _prelu_weight(name: str, weight: Any, x: da.Array) -> np.ndarray:
    w = np.asarray(weight.compute() if isinstance(weight, da.Array) else weight)
    getattr(nl, name)(*[_sample(x, 1 if x.ndim > 1 else None)] * (2 if "backward" in name else 1), w)  # checks w
    return w


def prelu(x: Any, weight: Any) -> da.Array:
    """nonlin.prelu blockwise; weight (a scalar or one value per channel on axis 1) is sliced per block."""
    x = da.asarray(x)
    w = _prelu_weight("prelu", weight, x)
    return da.map_blocks(functools.partial(_prelu_block, "prelu", w), x, dtype=_dtype(x))


def prelu_derivative(x: Any, weight: Any) -> da.Array:
    """nonlin.prelu_derivative blockwise."""
    x = da.asarray(x)
    w = _prelu_weight("prelu_derivative", weight, x)
    return da.map_blocks(functools.partial(_prelu_block, "prelu_derivative", w), x,
                         dtype=_dtype(x))


def _prelu_grad_input(w: np.ndarray, g: np.ndarray, x: np.ndarray, block_info: Any = None) -> np.ndarray:
    return np.asarray(_prelu_block("prelu_backward", w, g, x, block_info=block_info)[0])


def _prelu_grad_weight(w: np.ndarray, g: np.ndarray, x: np.ndarray, block_info: Any = None) -> np.ndarray:
    dw = np.asarray(_prelu_block("prelu_backward", w, g, x, block_info=block_info)[1], np.float64)
    shape = [1] * x.ndim  # one value per block, or one per channel of the block on axis 1
    if w.size > 1:
        shape[1] = dw.size
    return dw.reshape(shape)


def prelu_backward(grad_output: Any, x: Any, weight: Any) -> Tuple[da.Array, da.Array]:
    """nonlin.prelu_backward blockwise: (grad_input, grad_weight), grad_weight in weight's shape."""
    g, x = da.asarray(grad_output), da.asarray(x)
    if g.shape != x.shape:
        raise ValueError(f"nonlin.dask.prelu_backward: grad_output has shape {g.shape} and x has shape {x.shape}")
    w = _prelu_weight("prelu_backward", weight, x)
    dtype = _dtype(x)
    g = g.rechunk(x.chunks)
    dx = da.map_blocks(functools.partial(_prelu_grad_input, w), g, x, dtype=dtype)
    chunks = tuple(c if (i == 1 and w.size > 1) else (1,) * len(c) for i, c in enumerate(dx.chunks))
    parts = da.map_blocks(functools.partial(_prelu_grad_weight, w), g, x, chunks=chunks, dtype=np.float64)
    keep = (1,) if w.size > 1 else ()
    dw = parts.sum(axis=tuple(i for i in range(x.ndim) if i not in keep)).astype(dtype).reshape(w.shape)
    return dx, dw


def _rrelu_block(lower: float, upper: float, seed: int, x: np.ndarray, block_info: Any = None) -> np.ndarray:
    index = block_info[0]["chunk-location"] if block_info else ()
    s = int(np.random.SeedSequence([seed, *index]).generate_state(2, np.uint64)[0] >> np.uint64(1))
    y, noise = nl.rrelu(x, lower, upper, True, s)
    return np.stack([np.asarray(y), np.asarray(noise)])


def rrelu(x: Any, lower: float = 0.125, upper: float = 1.0 / 3.0, training: bool = False,
          seed: Any = None) -> Any:
    """nonlin.rrelu blockwise: y in eval; (y, noise) in training, the slopes of block b drawn with
    seed (seed, b) (seed=None: a fresh one from os.urandom)."""
    if not training:
        return _elementwise("rrelu", x, lower, upper)
    x = da.asarray(x)
    nl.rrelu(_sample(x), lower, upper, True, 0)  # checks the parameters
    seed = int.from_bytes(os.urandom(8), "little") >> 1 if seed is None else int(seed)
    dtype = _dtype(x)
    both = da.map_blocks(functools.partial(_rrelu_block, lower, upper, seed), x, new_axis=0,
                         chunks=((2,),) + x.chunks, dtype=dtype)
    return both[0], both[1]


# ------------------------------------------------------------------------------- every function
def _signature(f: Any) -> inspect.Signature:
    sig = inspect.signature(f)
    return sig.replace(parameters=[p for p in sig.parameters.values() if p.name != "out"])


_SIGNATURES: Dict[str, inspect.Signature] = {}
__all__ = []
for _name in sorted(getattr(nl, "__all__", [])):
    if _name in _SKIP or not callable(getattr(nl, _name)):
        continue
    _SIGNATURES[_name] = _signature(getattr(nl, _name))
    __all__.append(_name)
    if _name in _SPECIAL:
        continue
    _impl = functools.partial(_axiswise if _name in _AXISWISE else _elementwise, _name)
    _fn = functools.wraps(getattr(nl, _name))(lambda *a, _impl=_impl, **k: _impl(*a, **k))
    _fn.__signature__ = _SIGNATURES[_name]  # type: ignore[attr-defined]
    _fn.__module__ = __name__
    del _fn.__wrapped__
    globals()[_name] = _fn
del _name, _impl, _fn
