"""nonlin.dask on a dask.distributed LocalCluster with 2 worker processes, against in-memory nonlin.

Skipped when dask (with dask.array and distributed) is not installed (an optional dependency)."""

import inspect

import numpy as np
import pytest

import nonlin as nl

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")
nld = pytest.importorskip("nonlin.dask")

CHUNKS = (5, 5, 6)  # 8 blocks, split on every axis
SHAPE = (10, 9, 12)  # glu halves axis 0, maxout takes 3 pieces on axis 2, softmax runs on 1 and -1
SPECIAL = (0.0, -0.0, np.nan, np.inf, -np.inf, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 6.0, 1e-30, -700.0)
PARAMS = {
    "leaky_relu": {"negative_slope": 0.2}, "elu": {"alpha": 1.5}, "celu": {"alpha": 0.7},
    "softplus": {"beta": 2.0, "threshold": 5.0}, "hardtanh": {"min_val": -2.0, "max_val": 1.5},
    "threshold": {"threshold": 0.5, "value": -2.0}, "softshrink": {"lambd": 1.0}, "hardshrink": {"lambd": 1.0},
    "gelu": {"approximate": "tanh"}, "softmax": {"axis": 1}, "log_softmax": {"axis": -1}, "glu": {"axis": 0},
    "maxout": {"pieces": 3, "axis": 2}, "rrelu": {"lower": 0.1, "upper": 0.3},
}
BY_HAND = {"prelu", "prelu_derivative", "prelu_backward"}  # a weight argument: tests of their own below


@pytest.fixture(scope="module")
def client():
    # ":0": the HTTP server on a free port. With None it still takes 8787, and a second cluster
    # at the same time (the other pytest-xdist worker's) failed on "Port 8787 is already in use".
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as c:
            yield c


def base(name):
    return name.removesuffix("_backward").removesuffix("_derivative")


def data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (3.0 * rng.standard_normal(SHAPE)).astype(dtype)
    x.flat[: len(SPECIAL)] = SPECIAL
    return x


def arguments(name, x, rng, output=False):
    """nonlin's arguments for `name`: x, grad_output of the forward's shape, the saved output, parameters."""
    b, p = base(name), PARAMS.get(base(name), {})
    y = getattr(nl, b)(x, **p)
    args = {}
    for k in inspect.signature(getattr(nl, name)).parameters:
        if k == "grad_output":
            args[k] = rng.standard_normal(y.shape).astype(x.dtype)
        elif k == "x" and not output:
            args[k] = x
        elif k == "output" and (output or "x" not in args):
            args[k] = y
        elif k in p:
            args[k] = p[k]
    return args


def cases(dtype):
    rng = np.random.default_rng(1)
    x = data(dtype)
    for name in nld.__all__:
        if name in BY_HAND:
            continue
        yield name, arguments(name, x, rng)
        if name in ("elu_backward", "selu_backward", "celu_backward"):
            yield name + "(output=)", arguments(name, x, rng, output=True)


def lazy(args):
    return {k: da.from_array(v, chunks=CHUNKS) if isinstance(v, np.ndarray) else v for k, v in args.items()}


def assert_same_bits(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}")), np.abs(got - want).max()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_function_blockwise_equals_in_memory(client, dtype):
    assert dask.base.get_scheduler() == client.get  # the work runs in the worker processes
    names, results, expected = [], [], []
    for label, args in cases(dtype):
        name = label.removesuffix("(output=)")
        r = getattr(nld, name)(**lazy(args))
        names.append(label)
        results.append(r if isinstance(r, da.Array) else r[0])  # rrelu(training=False) gives y only
        expected.append(getattr(nl, name)(**args))
    computed = dask.compute(*results)
    for label, got, want in zip(names, computed, expected):
        try:
            assert_same_bits(got, want)
        except AssertionError as e:
            raise AssertionError(f"{label}: {e}") from None
    assert {base(n) for n in names} >= {"sigmoid", "softmax", "glu", "maxout", "rrelu", "threshold", "gelu"}


def test_every_nonlin_function_is_adapted():
    public = {n for n in nl.__all__ if n not in ("info", "set_num_threads")}
    assert set(nld.__all__) == public
    assert {n for n in public if n.endswith("_backward")} <= set(nld.__all__)


@pytest.mark.parametrize("weight", [0.25, np.array([0.3]), np.linspace(-0.5, 1.5, 9)])
def test_prelu_slices_the_weight_per_block(client, weight):
    x = data(np.float64)
    g = np.random.default_rng(2).standard_normal(SHAPE)
    xd, gd = da.from_array(x, chunks=CHUNKS), da.from_array(g, chunks=CHUNKS)
    y, d, (dx, dw) = dask.compute(nld.prelu(xd, weight), nld.prelu_derivative(xd, weight),
                                  nld.prelu_backward(gd, xd, weight))
    assert_same_bits(y, nl.prelu(x, weight))
    assert_same_bits(d, nl.prelu_derivative(x, weight))
    dx_ref, dw_ref = nl.prelu_backward(g, x, weight)
    assert_same_bits(dx, dx_ref)
    # NaN in x makes its channel's grad_weight NaN; the finite channels are sums in another order
    dw, dw_ref = np.asarray(dw), np.asarray(dw_ref)
    assert dw.shape == dw_ref.shape
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-13, equal_nan=True)


def test_rrelu_training_returns_its_noise(client):
    x = data(np.float32)
    xd = da.from_array(x, chunks=CHUNKS)
    y, noise = dask.compute(*nld.rrelu(xd, 0.1, 0.3, training=True, seed=3))
    y2, noise2 = dask.compute(*nld.rrelu(xd, 0.1, 0.3, training=True, seed=3))
    assert_same_bits(y, y2)
    assert_same_bits(noise, noise2)
    np.testing.assert_array_equal(y, np.where(x > 0, x, noise * x))
    assert ((noise >= np.float32(0.1)) & (noise <= np.float32(0.3))).all()
    assert len(np.unique(noise)) > x.size // 2, "slopes differ from block to block"
    g = np.ones_like(x)
    got = nld.rrelu_backward(da.from_array(g, chunks=CHUNKS), xd, da.from_array(noise, chunks=CHUNKS)).compute()
    assert_same_bits(got, nl.rrelu_backward(g, x, noise))


def test_bad_arguments_raise_when_the_graph_is_built():
    x = da.ones((4, 6), chunks=2)
    with pytest.raises(ValueError, match="softplus"):
        nld.softplus(x, beta=0.0)
    with pytest.raises(ValueError, match="glu"):
        nld.glu(da.ones((4, 5), chunks=2))  # odd length on the axis
    with pytest.raises(ValueError, match="maxout"):
        nld.maxout(x, 4)
    with pytest.raises(ValueError, match="axis"):
        nld.softmax(x, axis=2)
    with pytest.raises(ValueError, match="shape"):
        nld.relu_backward(x, da.ones((4, 5)))
    with pytest.raises(ValueError, match="prelu"):
        nld.prelu(x, np.ones(5))
    with pytest.raises(TypeError, match="complex"):
        nld.relu(da.ones(3, dtype=complex))


def test_dtypes_and_chunks():
    x = np.arange(-6, 6).reshape(3, 4)
    y = nld.relu(da.from_array(x, chunks=2))
    assert y.dtype == np.float64 and y.chunks == ((2, 1), (2, 2))
    assert_same_bits(y.compute(scheduler="sync"), nl.relu(x))
    s = nld.softmax(da.from_array(x.astype(np.float32), chunks=2), axis=1)
    assert s.dtype == np.float32 and s.chunks[1] == (4,), "the softmax axis is one chunk"
    m = nld.maxout(da.from_array(x.astype(np.float32), chunks=2), 2, axis=1)
    assert m.shape == (3, 2) and m.chunks[1] == (2,)
