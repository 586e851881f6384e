"""PyTorch adapter: nonlin's kernels as autograd functions and ``nn.Module`` layers.

    import nonlin.torch as nlt
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), nlt.SiLU(), torch.nn.Linear(16, 2))
    y = nlt.functional.gelu(x, approximate="tanh")      # as torch.nn.functional.gelu

Every activation of nonlin has a ``torch.autograd.Function`` (``SiLUFunction``, ``GELUFunction``,
...), a functional form in ``nonlin.torch.functional`` with torch.nn.functional's name and
parameters (``dim`` where nonlin says ``axis``), and a module with torch.nn's name (``SiLU()``,
``GELU(approximate=...)``, ``Softmax(dim)``, ``PReLU(num_parameters)``, ...). Two have no
PyTorch counterpart: ``TwoReLU`` and ``Maxout(pieces, dim)`` (the max over groups of ``pieces``
consecutive entries on ``dim``, as ``nonlin.maxout``).

The kernels run on CPU tensors of float32 or float64, read and written in place through
``Tensor.numpy()`` / ``torch.from_numpy`` (no copies; strided tensors are read as they are).
Other devices and dtypes raise (TypeError, ValueError): move the tensor with ``.cpu()`` /
``.float()`` first. The forward saves what nonlin's backward reads: the output for sigmoid,
tanh, softmax, log_softmax and elu/selu/celu (for alpha > 0; the input otherwise), the input
for the others. Backward is once differentiable (no double backward). There is no
``inplace=`` (the result is always a new tensor).

Where the numbers differ from PyTorch 2.15's (tests/test_torch_adapter.py checks each):
nonlin keeps full relative accuracy in the tails (gelu in float32, gelu(approximate="tanh")
below -5 in float64, where PyTorch's 1 + tanh(...) cancels); PyTorch rounds CELU's 1/alpha and
hardsigmoid's 1/6 to float32 in their float64 backward, nonlin does not.
A call costs a few microseconds more than PyTorch's own (Tensor.numpy, Function.apply).

PyTorch is an optional dependency: ``import nonlin`` never imports it; this module does.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

import nonlin as nl

_REQUIRED = inspect.Parameter.empty
_RENAME = {"dim": "axis"}  # torch's parameter name -> nonlin's

# name -> (torch.nn class name, what the backward reads, torch-named parameters with defaults
# [, the parameters the backward takes; all when absent]).
# Reads: "output": backward(g, y, **p); "output=": backward(g, output=y, **p) (x when alpha <= 0);
# "x": backward(g, x, **p). A new activation of nonlin is one row here.
_TABLE: Dict[str, Tuple[Any, ...]] = {
    "sigmoid": ("Sigmoid", "output", {}),
    "tanh": ("Tanh", "output", {}),
    "relu": ("ReLU", "x", {}),
    "leaky_relu": ("LeakyReLU", "x", {"negative_slope": 0.01}),
    "elu": ("ELU", "output=", {"alpha": 1.0}),
    "selu": ("SELU", "output=", {}),
    "celu": ("CELU", "output=", {"alpha": 1.0}),
    "gelu": ("GELU", "x", {"approximate": "none"}),
    "silu": ("SiLU", "x", {}),
    "mish": ("Mish", "x", {}),
    "softplus": ("Softplus", "x", {"beta": 1.0, "threshold": 20.0}),
    "logsigmoid": ("LogSigmoid", "x", {}),
    "softsign": ("Softsign", "x", {}),
    "tanhshrink": ("Tanhshrink", "x", {}),
    "hardtanh": ("Hardtanh", "x", {"min_val": -1.0, "max_val": 1.0}),
    "relu6": ("ReLU6", "x", {}),
    "hardsigmoid": ("Hardsigmoid", "x", {}),
    "hardswish": ("Hardswish", "x", {}),
    "softshrink": ("Softshrink", "x", {"lambd": 0.5}),
    "hardshrink": ("Hardshrink", "x", {"lambd": 0.5}),
    "threshold": ("Threshold", "x", {"threshold": _REQUIRED, "value": _REQUIRED}, ("threshold",)),
    "two_relu": ("TwoReLU", "x", {}),
    "softmax": ("Softmax", "output", {"dim": -1}),
    "log_softmax": ("LogSoftmax", "output", {"dim": -1}),
    "glu": ("GLU", "x", {"dim": -1}),
    "maxout": ("Maxout", "x", {"pieces": _REQUIRED, "dim": -1}),
}


def _array(t: Any, name: str) -> np.ndarray:
    """A NumPy view of a CPU float32/float64 tensor (no copy)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"nonlin.torch.{name}: expected a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"nonlin.torch.{name}: nonlin runs on the CPU; got a tensor on {t.device} (use .cpu())")
    if t.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"nonlin.torch.{name}: dtype {t.dtype} is not supported (float32 or float64)")
    return t.detach().numpy()


def _tensor(a: Any) -> torch.Tensor:
    """nonlin's result (a fresh array, or a NumPy scalar for 0-d input) as a tensor sharing its memory."""
    return torch.from_numpy(np.asarray(a))


def _make_function(name: str, cls: str, reads: str, params: Dict[str, Any],
                   bparams: Optional[Tuple[str, ...]]) -> type:
    f, b = getattr(nl, name), getattr(nl, name + "_backward")
    keys = tuple(_RENAME.get(k, k) for k in params)
    bkeys = tuple(_RENAME.get(k, k) for k in (params if bparams is None else bparams))

    def forward(ctx: Any, x: torch.Tensor, *args: Any) -> torch.Tensor:
        p = dict(zip(keys, args))
        y = _tensor(f(_array(x, name), **p))
        from_output = reads == "output" or (reads == "output=" and p.get("alpha", 1.0) > 0)
        ctx.save_for_backward(y if from_output else x)
        ctx.from_output, ctx.p = from_output, {k: p[k] for k in bkeys}
        return y

    @once_differentiable
    def backward(ctx: Any, grad_output: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:
        (saved,) = ctx.saved_tensors
        g, s = _array(grad_output, name + "_backward"), _array(saved, name + "_backward")
        if reads == "output=":
            dx = b(g, output=s, **ctx.p) if ctx.from_output else b(g, x=s, **ctx.p)
        else:
            dx = b(g, s, **ctx.p)
        return (_tensor(dx),) + (None,) * len(keys)

    doc = f"nonlin.{name} and nonlin.{name}_backward as a torch.autograd.Function: apply(x{''.join(', ' + k for k in keys)})."
    return type(cls + "Function", (torch.autograd.Function,), {
        "forward": staticmethod(forward), "backward": staticmethod(backward), "__doc__": doc})


class PReLUFunction(torch.autograd.Function):
    """nonlin.prelu / prelu_backward: apply(x, weight) with one weight, or one per channel (axis 1).

    The weight's gradient is summed in float64 by nonlin in the same pass as the input's."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return _tensor(nl.prelu(_array(x, "prelu"), _array(weight, "prelu")))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x, weight = ctx.saved_tensors
        dx, dw = nl.prelu_backward(_array(grad_output, "prelu_backward"), _array(x, "prelu_backward"),
                                   _array(weight, "prelu_backward"))
        return _tensor(dx), _tensor(dw).reshape(weight.shape).to(weight.dtype)


class RReLUFunction(torch.autograd.Function):
    """nonlin.rrelu / rrelu_backward: apply(x, lower, upper, training, seed).

    Training draws every slope from nonlin's counter-based generator with ``seed`` (an int), so
    the same seed gives the same slopes; eval uses the mean slope (lower + upper) / 2."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, lower: float, upper: float, training: bool,
                seed: Optional[int]) -> torch.Tensor:
        xa = _array(x, "rrelu")
        if training:
            y, noise = nl.rrelu(xa, lower, upper, True, seed)
            ctx.save_for_backward(x, _tensor(noise))
        else:
            y = nl.rrelu(xa, lower, upper)
            ctx.save_for_backward(x)
        ctx.lower, ctx.upper = lower, upper
        return _tensor(y)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:
        x, *noise = ctx.saved_tensors
        n = _array(noise[0], "rrelu_backward") if noise else None
        dx = nl.rrelu_backward(_array(grad_output, "rrelu_backward"), _array(x, "rrelu_backward"), n,
                               ctx.lower, ctx.upper)
        return _tensor(dx), None, None, None, None


def _signature(params: Dict[str, Any], first: str = "input") -> inspect.Signature:
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return inspect.Signature([inspect.Parameter(first, kind)] +
                             [inspect.Parameter(k, kind, default=v) for k, v in params.items()])


def _make_functional(name: str, fn: Any, params: Dict[str, Any]) -> Callable[..., torch.Tensor]:
    sig = _signature(params)

    n = 1 + len(params)

    def functional(*args: Any, **kwargs: Any) -> torch.Tensor:
        if len(args) == n and not kwargs:  # every argument given by position: skip the binding
            return fn.apply(*args)
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        return fn.apply(*bound.arguments.values())

    functional.__name__ = functional.__qualname__ = name
    functional.__signature__ = sig  # type: ignore[attr-defined]
    functional.__doc__ = f"nonlin.{name} with autograd (torch.nn.functional.{name}'s parameters)."
    return functional


def _make_module(cls: str, name: str, functional: Callable[..., torch.Tensor], params: Dict[str, Any]) -> type:
    sig = _signature(params, "self")

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        nn.Module.__init__(self)
        for k in params:
            setattr(self, k, bound.arguments[k])

    def forward(self: Any, input: torch.Tensor) -> torch.Tensor:
        return functional(input, *(getattr(self, k) for k in params))

    def extra_repr(self: Any) -> str:
        return ", ".join(f"{k}={getattr(self, k)!r}" for k in params)

    __init__.__signature__ = sig  # type: ignore[attr-defined]
    return type(cls, (nn.Module,), {"__init__": __init__, "forward": forward, "extra_repr": extra_repr,
                                    "__doc__": f"nonlin.{name} as a layer (torch.nn.{cls}'s parameters).",
                                    "__module__": __name__})


#: ``nonlin.torch.functional``: torch.nn.functional's names and parameters, nonlin's kernels
#: (a real module, so ``import nonlin.torch.functional as F`` works too).
functional = types.ModuleType(__name__ + ".functional", "torch.nn.functional's names and parameters, nonlin's kernels.")
functional.__all__ = []  # type: ignore[attr-defined]
sys.modules[functional.__name__] = functional


def _add(name: str, f: Callable[..., torch.Tensor]) -> None:
    f.__module__ = functional.__name__
    setattr(functional, name, f)
    functional.__all__.append(name)


FUNCTIONS: Dict[str, type] = {}  # nonlin name -> autograd Function
__all__ = ["functional", "FUNCTIONS", "PReLU", "PReLUFunction", "RReLU", "RReLUFunction"]

for _name, (_cls, _reads, _params, *_rest) in _TABLE.items():
    if not (hasattr(nl, _name) and hasattr(nl, _name + "_backward")):
        continue  # not in this build of nonlin
    _fn = _make_function(_name, _cls, _reads, _params, _rest[0] if _rest else None)
    _fn.__module__ = __name__
    _f = _make_functional(_name, _fn, _params)
    FUNCTIONS[_name] = _fn
    _add(_name, _f)
    globals()[_cls + "Function"] = _fn
    globals()[_cls] = _make_module(_cls, _name, _f, _params)
    __all__ += [_cls, _cls + "Function"]
del _name, _cls, _reads, _params, _rest, _fn, _f


def prelu(input: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """nonlin.prelu with autograd for input and weight (torch.nn.functional.prelu)."""
    return PReLUFunction.apply(input, weight)


def rrelu(input: torch.Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          seed: Optional[int] = None) -> torch.Tensor:
    """nonlin.rrelu with autograd (torch.nn.functional.rrelu's parameters).

    ``seed=None`` in training takes a seed from PyTorch's default generator, so
    ``torch.manual_seed`` makes runs repeatable (the slopes are nonlin's, not PyTorch's)."""
    if training and seed is None:
        seed = int(torch.randint(0, 2**62, (), dtype=torch.int64))
    return RReLUFunction.apply(input, lower, upper, training, seed)


_add("prelu", prelu)
_add("rrelu", rrelu)
FUNCTIONS["prelu"], FUNCTIONS["rrelu"] = PReLUFunction, RReLUFunction
del prelu, rrelu


class PReLU(nn.Module):
    """x if x > 0 else weight[c]·x, one learnable slope per channel (axis 1) or a single one
    (torch.nn.PReLU's parameters); the weight's gradient comes from nonlin.prelu_backward."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = nn.Parameter(torch.full((num_parameters,), float(init), device=device, dtype=dtype))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return functional.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class RReLU(nn.Module):
    """Random slopes in [lower, upper] in training mode, their mean in eval mode (torch.nn.RReLU)."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3) -> None:
        super().__init__()
        self.lower, self.upper = lower, upper

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return functional.rrelu(input, self.lower, self.upper, self.training)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}"
