"""nonlin.torch against PyTorch's own modules: values, gradients, gradcheck in float64.

Skipped when PyTorch is not installed (it is an optional dependency)."""

import inspect
import subprocess
import sys

import numpy as np
import pytest

try:
    import torch
    from torch import nn

    import nonlin.torch as nlt
    import nonlin.torch.functional as NF
except ImportError:  # PyTorch missing: only the import test below runs
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def test_import_nonlin_imports_neither_torch_nor_dask():
    code = "import sys, nonlin; bad = {'torch', 'dask'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True)


# (nonlin.torch class, parameters): the same class and parameters in torch.nn.
MODULES = [
    ("Sigmoid", {}), ("Tanh", {}), ("ReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}),
    ("ELU", {}), ("ELU", {"alpha": 1.5}), ("ELU", {"alpha": -0.5}), ("SELU", {}), ("CELU", {"alpha": 0.5}),
    ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("SiLU", {}), ("Mish", {}),
    ("Softplus", {}), ("Softplus", {"beta": 2.0, "threshold": 5.0}), ("LogSigmoid", {}), ("Softsign", {}),
    ("Tanhshrink", {}), ("Hardtanh", {}), ("Hardtanh", {"min_val": -2.0, "max_val": 1.5}), ("ReLU6", {}),
    ("Hardsigmoid", {}), ("Hardswish", {}), ("Softshrink", {}), ("Softshrink", {"lambd": 1.0}),
    ("Hardshrink", {}), ("Hardshrink", {"lambd": 1.0}), ("Threshold", {"threshold": 0.5, "value": -2.0}),
    ("Softmax", {"dim": 1}), ("Softmax", {"dim": -1}), ("LogSoftmax", {"dim": 0}), ("LogSoftmax", {"dim": -1}),
    ("GLU", {"dim": 1}), ("GLU", {}),
]
KINKS = (0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -2.0, 3.0, -3.0, 6.0)


def inputs(dtype, shape=(4, 6, 8), seed=0):
    """Random values with every kink of the piecewise functions (0, ±1, ±3, 6, the lambdas...) mixed in."""
    rng = np.random.default_rng(seed)
    x = 3.0 * rng.standard_normal(shape)
    x.flat[: len(KINKS)] = KINKS
    return torch.from_numpy(x.astype(dtype))


def assert_ulp_close(got, want, ulps=4):
    """|got - want| <= ulps * eps * max(1, |want|): a few ulp at the scale of O(1) inputs."""
    eps = torch.finfo(want.dtype).eps
    assert got.dtype == want.dtype and got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=ulps * eps, atol=ulps * eps, equal_nan=True)


def randn_like(t, seed):
    return torch.randn(t.shape, dtype=t.dtype, generator=torch.Generator().manual_seed(seed))


def run(module, x, g):
    x = x.clone().requires_grad_(True)
    y = module(x)
    y.backward(g)
    return y.detach(), x.grad


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls,params", MODULES, ids=[f"{c}{p or ''}" for c, p in MODULES])
def test_module_matches_torch(cls, params, dtype):
    """Within 4 ulp of PyTorch's module run in float64 (and rounded to float32 for float32:
    PyTorch's float32 kernels lose accuracy in places, e.g. gelu's tails, where nonlin does not)."""
    ours, theirs = getattr(nlt, cls)(**params), getattr(nn, cls)(**params)
    x = inputs(dtype)
    with torch.no_grad():
        g = randn_like(theirs(x), 1)
    y, dx = run(ours, x, g)
    y_ref, dx_ref = (t.to(x.dtype) for t in run(theirs, x.double(), g.double()))
    x64, keep = x.double(), ...
    if cls == "Hardsigmoid":  # PyTorch's backward multiplies by 1.0f / 6.0f, a float32 constant
        dx_ref = torch.where((x64 > -3) & (x64 < 3), g.double() / 6, 0.0).to(x.dtype)
    if cls == "GELU" and params:  # PyTorch's 1 + tanh(...) cancels below -5 (nonlin's tail: test_kernels)
        keep = x64 > -5
    assert_ulp_close(y[keep], y_ref[keep])
    assert_ulp_close(dx[keep], dx_ref[keep])


@needs_torch
def test_celu_gradient_in_float64_is_exact_where_torch_rounds_1_over_alpha_to_float32():
    # ATen's celu backward is elu_backward(..., input_scale=1.0 / alpha.toFloat()): for alpha = 0.7
    # PyTorch's float64 gradient is off by ~1e-8 relative; nonlin's is within a few ulp of the formula.
    x = inputs(np.float64)
    g = randn_like(x, 6)
    formula = lambda t: torch.where(t > 0, t, 0.7 * torch.expm1(t / 0.7))  # noqa: E731  (PyTorch's docs)
    y, dx = run(nlt.CELU(0.7), x, g)
    y_ref, dx_ref = run(formula, x, g)
    assert_ulp_close(y, y_ref)
    assert_ulp_close(dx, dx_ref)
    assert (run(nn.CELU(0.7), x, g)[1] - dx_ref).abs().max() > 1e-10


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("num_parameters", [1, 6])
def test_prelu_matches_torch(num_parameters, dtype):
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    ours, theirs = nlt.PReLU(num_parameters, dtype=tdtype), nn.PReLU(num_parameters, dtype=tdtype)
    with torch.no_grad():
        w = torch.linspace(-0.5, 1.5, num_parameters, dtype=tdtype)
        ours.weight.copy_(w)
        theirs.weight.copy_(w)
    x = inputs(dtype)
    g = torch.randn(x.shape, dtype=tdtype, generator=torch.Generator().manual_seed(2))
    y, dx = run(ours, x, g)
    y_ref, dx_ref = run(theirs, x, g)
    assert_ulp_close(y, y_ref)
    assert_ulp_close(dx, dx_ref)
    # grad_weight is a sum over 192 / num_parameters entries: nonlin sums in float64, PyTorch in the dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, rtol=rtol, atol=rtol)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rrelu_eval_matches_torch_and_training_is_x_times_its_noise(dtype):
    x = inputs(dtype)
    ours, theirs = nlt.RReLU(0.1, 0.3).eval(), nn.RReLU(0.1, 0.3).eval()
    for a, b in zip(run(ours, x, torch.ones_like(x)), run(theirs, x, torch.ones_like(x))):
        assert_ulp_close(a, b)
    ours.train()
    torch.manual_seed(5)
    y, dx = run(ours, x, torch.ones_like(x))
    torch.manual_seed(5)
    assert torch.equal(ours(x), y), "torch.manual_seed makes the training slopes repeatable"
    neg = x <= 0
    slope = dx[neg]
    assert torch.equal(dx[~neg], torch.ones_like(dx[~neg]))
    assert bool(((slope >= 0.1) & (slope <= 0.3)).all()) and len(torch.unique(slope)) > 10
    assert torch.equal(y[neg], x[neg] * slope), "y = r x where x <= 0, with the r the gradient uses"
    assert torch.equal(y[~neg], x[~neg])


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pieces,dim", [(2, -1), (4, 1), (3, 1)])
def test_maxout_and_two_relu_match_their_torch_formulas(pieces, dim, dtype):
    x = inputs(dtype, shape=(4, 12, 6))

    def maxout_ref(t):  # groups of `pieces` consecutive entries on dim
        d = dim % t.ndim
        return t.unflatten(d, (-1, pieces)).amax(d + 1)

    g = randn_like(maxout_ref(x), 3)
    for a, b in zip(run(nlt.Maxout(pieces, dim), x, g), run(maxout_ref, x, g)):
        assert torch.equal(a, b)  # a max and a gradient routed to it: exact
    g = randn_like(x, 4)
    two_relu_ref = lambda t: torch.relu(t + 1) - torch.relu(t - 1)  # noqa: E731  (the lecture's form)
    for a, b in zip(run(nlt.TwoReLU(), x, g), run(two_relu_ref, x, g)):
        assert_ulp_close(a, b)


# functional name -> parameters for gradcheck; every function of nonlin.torch.functional appears.
GRADCHECK = {
    "leaky_relu": {"negative_slope": 0.2}, "elu": {"alpha": 1.5}, "celu": {"alpha": 0.7},
    "softplus": {"beta": 2.0, "threshold": 5.0}, "hardtanh": {"min_val": -2.0, "max_val": 1.5},
    "threshold": {"threshold": 0.5, "value": -2.0}, "softshrink": {"lambd": 1.0}, "hardshrink": {"lambd": 1.0},
    "softmax": {"dim": 0}, "log_softmax": {"dim": 1}, "glu": {"dim": 1}, "maxout": {"pieces": 2},
    "rrelu": {"training": True, "seed": 7},
}
GRADCHECK_EXTRA = [("elu", {"alpha": -0.5}), ("gelu", {"approximate": "tanh"}), ("rrelu", {}), ("prelu", {})]


@needs_torch
def test_every_function_is_in_gradcheck_and_in_torch_nn():
    names = set(NF.__all__)
    assert names == set(nlt.FUNCTIONS)
    assert {"silu", "gelu", "softmax", "prelu", "maxout", "glu", "rrelu"} <= names
    modules = {m for m in dir(nlt) if isinstance(getattr(nlt, m), type) and issubclass(getattr(nlt, m), nn.Module)}
    assert modules == {cls for cls, _ in MODULES} | {"PReLU", "RReLU", "Maxout", "TwoReLU"}


def gradcheck_input(shape=(3, 4, 6)):
    """float64 values at least 0.02 from every kink, so finite differences see one smooth piece."""
    x = np.random.default_rng(11).uniform(-4, 4, shape)
    for k in KINKS + (0.7, -0.7):
        x = np.where(np.abs(x - k) < 0.02, x + 0.05, x)
    return torch.from_numpy(x).requires_grad_(True)


@needs_torch
@pytest.mark.parametrize("name,params", [(n, GRADCHECK.get(n, {})) for n in sorted(
    set(NF.__all__) if torch is not None else [])] + GRADCHECK_EXTRA)
def test_gradcheck_float64(name, params):
    f = getattr(NF, name)
    x = gradcheck_input()
    if name == "prelu":
        w = torch.tensor([0.25, -0.5, 1.5, 0.1], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(f, (x, w))
        assert torch.autograd.gradcheck(f, (x, torch.tensor([0.3], dtype=torch.float64, requires_grad=True)))
    else:
        assert torch.autograd.gradcheck(lambda t: f(t, **params), (x,))


@needs_torch
def test_tensors_as_they_come_in_practice():
    x = inputs(np.float64).transpose(0, 2)  # a strided view
    assert not x.is_contiguous()
    for cls in ("SiLU", "Sigmoid", "ELU"):
        y, dx = run(getattr(nlt, cls)(), x, torch.ones(x.shape, dtype=x.dtype))
        y_ref, dx_ref = run(getattr(nn, cls)(), x, torch.ones(x.shape, dtype=x.dtype))
        assert_ulp_close(y, y_ref)
        assert_ulp_close(dx, dx_ref)
    # .sum().backward() hands the backward an expanded (stride 0) gradient; 0-d tensors work
    x = inputs(np.float32).requires_grad_(True)
    NF.mish(x).sum().backward()
    x_ref = x.detach().clone().requires_grad_(True)
    torch.nn.functional.mish(x_ref).sum().backward()
    assert_ulp_close(x.grad, x_ref.grad)
    s = torch.tensor(-1.5, dtype=torch.float64, requires_grad=True)
    NF.gelu(s).backward()
    s_ref = s.detach().clone().requires_grad_(True)
    torch.nn.functional.gelu(s_ref).backward()
    assert NF.gelu(s).shape == () and abs(float(s.grad - s_ref.grad)) < 1e-15
    # a model trains with nonlin layers in it
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nlt.PReLU(8), nn.Linear(8, 8), nlt.GELU(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    data = torch.randn(64, 3)
    target = data.prod(dim=1, keepdim=True)
    losses, threads = [], torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: PyTorch's thread pool only costs time here (25x on 2 busy cores)
    try:
        for _ in range(200):
            opt.zero_grad()
            loss = ((model(data) - target) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    assert losses[-1] < 0.5 * losses[0]


@needs_torch
def test_errors_name_the_function():
    with pytest.raises(TypeError, match="silu.*float16"):
        NF.silu(torch.ones(3, dtype=torch.float16))
    with pytest.raises(TypeError, match="relu.*int64"):
        NF.relu(torch.ones(3, dtype=torch.int64))
    with pytest.raises(TypeError, match="Tensor"):
        NF.relu(np.ones(3))
    with pytest.raises(ValueError, match="softplus"):
        NF.softplus(torch.ones(3), beta=0.0)
    with pytest.raises(TypeError):
        nlt.Threshold(0.5)  # value is required, as in torch.nn.Threshold
    x = torch.ones(3, dtype=torch.float64, requires_grad=True)
    (dx,) = torch.autograd.grad(NF.silu(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):  # backward is once differentiable
        dx.sum().backward()


@needs_torch
def test_modules_have_torch_signatures_and_reprs():
    assert repr(nlt.GELU(approximate="tanh")) == "GELU(approximate='tanh')"
    assert repr(nlt.Softmax(1)) == "Softmax(dim=1)"
    assert repr(nlt.Maxout(3)) == "Maxout(pieces=3, dim=-1)"
    assert repr(nlt.PReLU(4)) == "PReLU(num_parameters=4)"
    assert [p.shape for p in nlt.PReLU(4).parameters()] == [torch.Size([4])]
    assert list(nlt.SiLU().parameters()) == []
    f = torch.nn.functional
    for name in ("leaky_relu", "elu", "celu", "hardtanh", "glu", "gelu", "softmax"):
        ours = list(inspect.signature(getattr(NF, name)).parameters)
        try:
            theirs = list(inspect.signature(getattr(f, name)).parameters)
        except ValueError:  # a builtin without a signature in this PyTorch
            continue
        assert ours == [p for p in theirs if p not in ("inplace", "_stacklevel", "dtype")], name
