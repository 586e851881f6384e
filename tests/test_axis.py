"""softmax / log_softmax on long rows, special values, glu errors, and rrelu in training mode
(random slopes: dedicated tests, as the CASES table needs deterministic functions)."""

import multiprocessing
import os

import numpy as np
import pytest

import nonlin
from nonlin import _core, reference
from conftest import assert_close_ulp, assert_same_bits, ulp_error

DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
LEVELS = _core._simd_levels()


@pytest.fixture
def restore_runtime():
    before = nonlin.info()
    yield
    nonlin.set_num_threads(before["threads"])
    _core._set_simd(before["simd"])


def runs(f):
    """f() for every thread count in (1, 2, 3) and every SIMD level."""
    out = []
    for threads in (1, 2, 3):
        nonlin.set_num_threads(threads)
        out.append(f())
    nonlin.set_num_threads(2)
    for level in LEVELS:
        _core._set_simd(level)
        out.append(f())
    return out


# ----------------------------------------------------------------------------- softmax family
@DTYPES
@pytest.mark.parametrize("shape, axis", [((3, 50_000), -1), ((1, 200_001), -1), ((20_000, 3), 0), ((30_000, 7), -1), ((20_000, 5), -1), ((5_000, 100), -1)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmax_backward", "log_softmax_backward"])
def test_long_axes_bitwise_for_any_threads_and_level(name, shape, axis, dtype, restore_runtime):
    """Rows longer than a chunk are split across threads, short rows run one per lane: the result
    depends on neither the thread count nor the SIMD level."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-30, 30, shape).astype(dtype)
    if name.endswith("_backward"):
        y = getattr(nonlin, name[: -len("_backward")])(x, axis)
        args = (rng.standard_normal(shape).astype(dtype), y)
    else:
        args = (x,)
    results = runs(lambda: getattr(nonlin, name)(*args, axis=axis))
    for r in results[1:]:
        assert_same_bits(r, results[0])


@DTYPES
@pytest.mark.parametrize("n", [10, 1000, 100_000])
def test_softmax_accuracy_on_rows(n, dtype):
    x = np.random.default_rng(n).uniform(-50, 50, (max(1, 100_000 // n), n)).astype(dtype)
    assert_close_ulp(nonlin.softmax(x), reference.softmax(x), dtype, max_ulp=4)
    y = nonlin.log_softmax(x)
    assert_close_ulp(y, reference.log_softmax(x), dtype, max_ulp=4)
    assert np.allclose(nonlin.softmax(x).sum(-1, dtype=np.float64), 1, rtol=0, atol=8 * np.finfo(dtype).eps)


@DTYPES
def test_softmax_special_values(dtype):
    inf, nan = np.inf, np.nan
    sm = lambda v: nonlin.softmax(np.array(v, dtype))  # noqa: E731
    assert nonlin.softmax(dtype(3.0)) == 1 and type(nonlin.softmax(dtype(3.0))) is dtype
    assert nonlin.log_softmax(dtype(-7.0)) == 0
    assert_same_bits(sm([-inf, 1.0, -inf]), np.array([0, 1, 0], dtype))
    for row in ([inf, 1.0], [nan, 1.0], [-inf, -inf], [1.0, inf, inf]):
        assert np.isnan(sm(row)).all(), row
    assert_same_bits(nonlin.log_softmax(np.array([-inf, 0.0], dtype)), np.array([-inf, 0], dtype))
    big = np.finfo(dtype).max
    assert_same_bits(sm([big, -big]), np.array([1, 0], dtype))
    assert nonlin.softmax(np.zeros((0, 3), dtype)).shape == (0, 3)
    assert nonlin.softmax(np.zeros((3, 0), dtype), axis=0).shape == (3, 0)


@DTYPES
def test_log_softmax_tails_keep_relative_accuracy(dtype):
    x = np.array([0.0, -30.0, -1e4, -3e4], dtype)
    y = nonlin.log_softmax(x)
    e30 = np.exp(-30.0)  # the maximum gets -log1p(e^-30), not 0
    want = np.array([-np.log1p(e30), -30 - np.log1p(e30), -1e4 - np.log1p(e30), -3e4 - np.log1p(e30)])
    assert_close_ulp(y, want, dtype, max_ulp=1)
    assert y[0] != 0


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "glu"])
@pytest.mark.parametrize("axis", [2, -3])
def test_axis_out_of_range(name, axis):
    with pytest.raises(ValueError, match=name):
        getattr(nonlin, name)(np.ones((2, 4)), axis=axis)


def test_glu_odd_length_names_function_axis_and_shape():
    with pytest.raises(ValueError) as info:
        nonlin.glu(np.ones((4, 5)), axis=1)
    msg = str(info.value)
    assert "glu" in msg and "axis 1" in msg and "(4, 5)" in msg
    with pytest.raises(ValueError, match="glu_backward"):
        nonlin.glu_backward(np.ones((2, 2)), np.ones((4, 5)), axis=1)
    with pytest.raises(ValueError, match="glu"):
        nonlin.glu(np.float64(1.0))


# ----------------------------------------------------------------------------- rrelu in training
LU = {"lower": 0.1, "upper": 0.3}


@DTYPES
def test_rrelu_training_slopes(dtype):
    x = np.random.default_rng(0).standard_normal(200_001).astype(dtype)
    y, r = nonlin.rrelu(x, **LU, training=True, seed=5)
    assert y.dtype == r.dtype == dtype and r.shape == x.shape
    lo, hi = dtype(0.1), dtype(0.3)
    assert r.min() >= lo and r.max() <= hi
    assert abs(float(r.mean(dtype=np.float64)) - 0.2) < 1e-3  # (l + u) / 2; sd of the mean 1.3e-4
    assert abs(float(r.std(dtype=np.float64)) - 0.2 / np.sqrt(12)) < 1e-3
    assert_same_bits(y, np.where(x > 0, x, r * x).astype(dtype))
    assert_same_bits(r, reference.rrelu_noise(x.shape, 0.1, 0.3, 5, dtype))  # the documented hash
    # consecutive slopes are not correlated
    assert abs(np.corrcoef(r[:-1].astype(np.float64), r[1:].astype(np.float64))[0, 1]) < 0.01


def test_rrelu_training_seed():
    x = -np.ones((64, 100))
    a, ra = nonlin.rrelu(x, training=True, seed=1)
    b, rb = nonlin.rrelu(x, training=True, seed=1)
    c, rc = nonlin.rrelu(x, training=True, seed=2)
    _, rd = nonlin.rrelu(x, training=True)  # a fresh seed each call
    _, re = nonlin.rrelu(x, training=True)
    assert_same_bits((a, ra), (b, rb))
    assert not np.array_equal(ra, rc) and not np.array_equal(rd, re)
    # the slope of an element depends on its index in C order only, not on the layout
    f = np.asfortranarray(x)
    assert_same_bits(nonlin.rrelu(f, training=True, seed=1)[1], ra)
    assert_same_bits(nonlin.rrelu(x.T, training=True, seed=1)[1], reference.rrelu_noise((100, 64), 1 / 8, 1 / 3, 1))



def _fresh_noise(q):
    q.put(nonlin.rrelu(-np.ones(100), training=True)[1])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # JAX, if a bench test imported it
def test_rrelu_fresh_seeds_differ_in_a_forked_child():
    # seed=None seeds come from one stream per process: a forked child starts a new one instead
    # of repeating the parent's next seeds (workers of a data-parallel job would share slopes)
    nonlin.rrelu(-np.ones(3), training=True)  # the stream is started
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_fresh_noise, args=(q,))
    p.start()
    child = q.get(timeout=60)
    p.join(60)
    assert p.exitcode == 0
    parent = nonlin.rrelu(-np.ones(100), training=True)[1]
    assert not np.array_equal(child, parent)

@DTYPES
def test_rrelu_training_bitwise_for_any_threads_and_level(dtype, restore_runtime):
    x = np.random.default_rng(1).standard_normal((30, 10_001)).astype(dtype)
    results = runs(lambda: nonlin.rrelu(x, training=True, seed=123))
    for r in results[1:]:
        assert_same_bits(r, results[0])


@DTYPES
def test_rrelu_backward_uses_the_slopes(dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 50)).astype(dtype)
    g = rng.standard_normal((40, 50)).astype(dtype)
    y, r = nonlin.rrelu(x, training=True, seed=9)
    assert_same_bits(nonlin.rrelu_backward(g, x, r), np.where(x > 0, g, r * g).astype(dtype))
    assert_same_bits(nonlin.rrelu_derivative(x, noise=r), np.where(x > 0, 1, r).astype(dtype))
    aten_noise = np.where(x > 0, 1, r).astype(dtype)  # ATen's form of the noise gives the same
    assert_same_bits(nonlin.rrelu_backward(g, x, aten_noise), nonlin.rrelu_backward(g, x, r))
    # eval: the mean slope
    assert_same_bits(nonlin.rrelu_backward(g, x), nonlin.leaky_relu_backward(g, x, (1 / 8 + 1 / 3) / 2))
    assert_same_bits(nonlin.rrelu(x), nonlin.leaky_relu(x, (1 / 8 + 1 / 3) / 2))


@DTYPES
def test_rrelu_noise_and_out_arguments(dtype):
    x = np.linspace(-2, 2, 24, dtype=dtype).reshape(4, 6)
    want_y, want_r = nonlin.rrelu(x, training=True, seed=3)
    noise, out = np.empty_like(x), np.empty_like(x)
    y, r = nonlin.rrelu(x, training=True, seed=3, noise=noise, out=out)
    assert y is out and r is noise
    assert_same_bits((y, r), (want_y, want_r))
    strided = np.empty((4, 12), dtype)[:, ::2]  # a non-contiguous noise is filled too
    assert nonlin.rrelu(x, training=True, seed=3, noise=strided)[1] is strided
    assert_same_bits(strided, want_r)
    with pytest.raises(ValueError, match="rrelu"):
        nonlin.rrelu(x, noise=noise)  # eval writes no noise
    with pytest.raises(ValueError, match="noise"):
        nonlin.rrelu_backward(x, x, np.ones(3))
    # noise= is checked as out= is, and named; the two results must not share memory
    with pytest.raises(ValueError, match="rrelu: noise has shape"):
        nonlin.rrelu(x, training=True, seed=3, noise=np.empty(3, dtype))
    with pytest.raises(TypeError, match="rrelu: noise has dtype"):
        nonlin.rrelu(x, training=True, seed=3, noise=np.empty(x.shape, np.int32))
    buf = np.full_like(x, 7.0)
    wide = np.full(x.shape, 7.0, np.complex128)  # other dtypes: results cast into them
    raw = np.full(2 * x.size, 7.0)
    pairs = [(buf, buf), (x, x), (buf, buf[::-1]), (wide, wide), (wide.real, wide),
             (raw.view(np.float32)[:x.size].reshape(x.shape), raw[:x.size].reshape(x.shape))]
    for o, n in pairs:
        before = (x.copy(), buf.copy(), wide.copy(), raw.copy())
        with pytest.raises(ValueError, match="noise|overlap"):
            nonlin.rrelu(x, training=True, seed=3, noise=n, out=o)
        assert_same_bits((x, buf, wide, raw), before)
    # a bad out leaves noise= untouched (out is checked before the noise is drawn)
    for bad, exc in [(np.empty(3, dtype), ValueError), (np.empty(x.shape, np.int32), TypeError),
                     (np.zeros_like(x).tolist(), TypeError)]:
        noise = np.full_like(x, 7.0)
        with pytest.raises(exc, match="rrelu: out"):
            nonlin.rrelu(x, training=True, seed=3, noise=noise, out=bad)
        assert np.all(noise == 7.0)
    ro = np.empty_like(x)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="rrelu: out is read-only"):
        nonlin.rrelu(x, training=True, seed=3, noise=noise, out=ro)
    assert np.all(noise == 7.0)


def test_rrelu_seed_forms():
    x = np.linspace(-2, 2, 24).reshape(4, 6)
    noise = {s: nonlin.rrelu(x, training=True, seed=s)[1] for s in (3, 2**64 - 1)}
    assert not np.array_equal(noise[3], noise[2**64 - 1])
    assert_same_bits(nonlin.rrelu(x, training=True, seed=np.int64(3))[1], noise[3])
    assert_same_bits(nonlin.rrelu(x, training=True, seed=-1)[1], noise[2**64 - 1])  # modulo 2^64
    assert_same_bits(noise[2**64 - 1], reference.rrelu_noise(x.shape, 1 / 8, 1 / 3, -1))
    for bad, exc in [(2**64, ValueError), (-2**63 - 1, ValueError), (1.5, TypeError), ("3", TypeError)]:
        with pytest.raises(exc, match="seed"):
            nonlin.rrelu(x, training=True, seed=bad)


@pytest.mark.parametrize("name", ["rrelu", "rrelu_derivative"])
@pytest.mark.parametrize("lower, upper", [(0.3, 0.1), (np.nan, 0.2), (0.1, np.inf)])
def test_rrelu_bad_bounds(name, lower, upper):
    with pytest.raises(ValueError, match=name):
        getattr(nonlin, name)(np.ones(3), lower, upper)
    with pytest.raises(ValueError, match="rrelu_backward"):
        nonlin.rrelu_backward(np.ones(3), np.ones(3), None, lower, upper)
