"""Memory nonlin does not own, and side effects: out= overlapping an input gives NumPy's
(buffered) result, misaligned views, read-only inputs, memoryview / array.array / np.memmap /
PyTorch (through np.asarray) inputs, and importing or calling nonlin changes no FPU flag, no
environment variable and starts no thread. (Wrong, read-only and overlapping-by-one out= for
every function are in test_errors.py and test_kernels.py.)"""

import array
import json
import subprocess
import sys

import numpy as np
import pytest

import nonlin
from conftest import CASE_IDS, CASES, assert_same_bits, make_values


# ----------------------------------------------------------------------------- overlapping out=
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shift", [1, -1, 3])
def test_overlapping_out_matches_numpy_ufunc(dtype, shift):
    """nl.relu(x[:-1], out=x[1:]) gives what np.maximum(x[:-1], 0, out=x[1:]) gives."""
    base = np.random.default_rng(0).uniform(-5, 5, 4001).astype(dtype)  # no -0 or NaN: relu == maximum
    k = abs(shift)
    src, dst = (slice(None, -k), slice(k, None)) if shift > 0 else (slice(k, None), slice(None, -k))
    a, b = base.copy(), base.copy()
    nonlin.relu(a[src], out=a[dst])
    np.maximum(b[src], 0, out=b[dst])
    assert_same_bits(a, b)
    for fn, uf in ((nonlin.tanh, np.tanh), (nonlin.sigmoid, lambda v, out: np.divide(1, 1 + np.exp(-v), out=out))):
        a, b = base.copy(), base.copy()
        fn(a[src], out=a[dst])
        uf(b[src], out=b[dst])
        np.testing.assert_allclose(a, b, rtol=4 * np.finfo(dtype).eps)


def test_overlapping_out_2d_transposed():
    """out is the transpose of the input (every element but the diagonal overlaps another)."""
    x = np.random.default_rng(1).uniform(-3, 3, (64, 64))
    want = nonlin.sigmoid(x.copy()).T.copy()
    nonlin.sigmoid(x, out=x.T)
    assert_same_bits(x, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, strides", [((1 << 20,), (0,)), ((512, 2048), (0, 1)), ((6, 5), (2, 1))])
def test_out_that_overlaps_itself_matches_numpy_ufunc(dtype, shape, strides):
    """An out= whose indices share elements (writeable as_strided views) is written as NumPy's
    ufuncs write it: through a buffer, in index order (the last write wins). Written directly,
    both threads wrote the shared elements at once (a different result from run to run)."""
    from numpy.lib.stride_tricks import as_strided

    x = np.arange(np.prod(shape), dtype=dtype).reshape(shape) - 7
    outs = []
    for fn in (nonlin.relu, lambda v, out: np.maximum(v, 0, out=out)):
        buf = np.full(1 + sum((n - 1) * s for n, s in zip(shape, strides)), np.nan, dtype)
        fn(x, out=as_strided(buf, shape, [s * buf.itemsize for s in strides]))
        outs.append(buf)
    assert_same_bits(outs[0], outs[1])


# ----------------------------------------------------------------------------- misaligned views
def misaligned(values, writeable=True):
    buf = bytearray(values.nbytes + 1)
    a = np.frombuffer(buf, dtype=values.dtype, offset=1, count=values.size)
    if writeable:
        a[...] = values
    else:
        a = np.frombuffer(bytes(buf[:1]) + values.tobytes(), dtype=values.dtype, offset=1)
    assert not a.flags.aligned
    return a


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 1000, 100_000])
def test_misaligned_input_and_out(dtype, n):
    x = make_values("mixed", dtype, n, np.random.default_rng(n))
    g = make_values("uniform", dtype, n, np.random.default_rng(n + 1))
    want = nonlin.silu(x)
    assert_same_bits(nonlin.silu(misaligned(x)), want)
    assert_same_bits(nonlin.silu(misaligned(x, writeable=False)), want)
    out = misaligned(np.zeros(n, dtype))
    assert nonlin.silu(x, out=out) is out
    assert_same_bits(out, want)
    inplace = misaligned(x)
    assert nonlin.silu(inplace, out=inplace) is inplace
    assert_same_bits(inplace, want)
    assert_same_bits(nonlin.silu_backward(misaligned(g), misaligned(x)), nonlin.silu_backward(g, x))
    assert_same_bits(nonlin.softmax(misaligned(x)), nonlin.softmax(x))


# ----------------------------------------------------------------------------- read-only inputs
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_read_only_inputs(case):
    rng = np.random.default_rng(2)
    x, g = (make_values("mixed", np.float32, 3 * 4 * 6, rng).reshape(3, 4, 6) for _ in "xg")
    with np.errstate(all="ignore"):
        data, params = case.build(x, g)
        want = case.call(nonlin, data, params)
    frozen = tuple(np.array(d) for d in data)
    for d in frozen:
        d.flags.writeable = False
    with np.errstate(all="ignore"):
        assert_same_bits(case.call(nonlin, frozen, params), want)
        bcast = tuple(np.broadcast_to(d, d.shape) for d in data)  # read-only views
        assert_same_bits(case.call(nonlin, bcast, params), want)


# ----------------------------------------------------------------------------- foreign memory
def test_memoryview_and_array_module():
    x = np.linspace(-4, 4, 101)
    want64, want32 = nonlin.gelu(x), nonlin.gelu(x.astype(np.float32))
    assert_same_bits(nonlin.gelu(memoryview(x)), want64)
    assert_same_bits(nonlin.gelu(memoryview(bytearray(x.tobytes())).cast("d")), want64)
    assert_same_bits(nonlin.gelu(memoryview(x.astype(np.float32))), want32)
    assert_same_bits(nonlin.gelu(array.array("d", x)), want64)
    assert_same_bits(nonlin.gelu(array.array("f", x.astype(np.float32))), want32)
    assert_same_bits(nonlin.gelu(memoryview(x)[::-2]), nonlin.gelu(x[::-2]))  # strided memoryview
    assert_same_bits(nonlin.gelu(memoryview(x.reshape(101, 1)).toreadonly()), want64.reshape(101, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_memmap(tmp_path, dtype):
    x = make_values("mixed", dtype, 50_000, np.random.default_rng(3)).reshape(250, 200)
    path = tmp_path / "x.bin"
    x.tofile(path)
    ro = np.memmap(path, dtype=dtype, mode="r", shape=x.shape)
    assert_same_bits(nonlin.mish(ro), nonlin.mish(x))
    assert_same_bits(nonlin.softmax(ro, axis=0), nonlin.softmax(x, axis=0))
    out = np.memmap(tmp_path / "y.bin", dtype=dtype, mode="w+", shape=x.shape)
    assert nonlin.mish(ro, out=out) is out
    out.flush()
    assert_same_bits(np.fromfile(tmp_path / "y.bin", dtype=dtype).reshape(x.shape), nonlin.mish(x))
    rw = np.memmap(path, dtype=dtype, mode="r+", shape=x.shape)
    nonlin.relu(rw, out=rw)
    rw.flush()
    assert_same_bits(np.fromfile(path, dtype=dtype).reshape(x.shape), nonlin.relu(x))


def test_torch_tensors_through_asarray():
    torch = pytest.importorskip("torch")
    t = torch.linspace(-6, 6, 10_001, dtype=torch.float32)
    x = t.numpy().copy()
    assert_same_bits(nonlin.sigmoid(np.asarray(t)), nonlin.sigmoid(x))
    assert_same_bits(nonlin.sigmoid(np.asarray(t[::3])), nonlin.sigmoid(x[::3]))
    m = t.reshape(73, 137).t()  # a transposed (non-contiguous) tensor
    assert_same_bits(nonlin.softmax(np.asarray(m), axis=-1), nonlin.softmax(np.ascontiguousarray(x.reshape(73, 137).T)))
    out = torch.empty(10_001, dtype=torch.float64)
    nonlin.tanh(np.asarray(t.double()), out=out.numpy())  # writes into the tensor's memory
    assert_same_bits(out.numpy(), nonlin.tanh(x.astype(np.float64)))


# ----------------------------------------------------------------------------- no global side effects
PROBE = r"""
import json, os, sys, threading
import numpy as np

def threads():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()

def state():
    f32, f64 = np.float32, np.float64
    return {
        "subnormal_f32_product": float(f32(1e-30) * f32(1e-10)),  # FTZ would give 0
        "subnormal_f64_product": float(f64(1e-300) * f64(1e-20)),
        "subnormal_f32_operand": float(f32(1e-40) * f32(2)),  # DAZ would give 0
        "subnormal_f64_operand": float(f64(5e-324) * f64(3)),
        "round_nearest": float(f64(1) / f64(3)).hex(),
        "round_neg": float(f64(-1) / f64(3)).hex(),
        # x87 (long double) precision control and a clean register stack
        "x87_third": repr(np.longdouble(1) / np.longdouble(3) - np.longdouble(1 / 3)),
        "x87_exp": repr(np.exp(np.longdouble(-7.6e15)) * np.longdouble(0)),
        "errstate": np.geterr(),
        "env": dict(os.environ),
        "threads": threads(),
        "modules": sorted(m for m in ("torch", "jax", "tensorflow", "numexpr", "threadpoolctl") if m in sys.modules),
    }

before = state()
import nonlin
after_import = state()
x = np.linspace(-5, 5, 1_000_000, dtype=np.float32)
for f in (nonlin.sigmoid, nonlin.gelu, nonlin.softmax, nonlin.silu):
    f(x)
    f(x[:100].astype(np.float64))
after_calls = state()
print(json.dumps({"before": before, "after_import": after_import, "after_calls": after_calls,
                  "configured": nonlin.info()["threads"]}))
"""


def test_import_and_calls_change_no_global_state():
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, cwd="/")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    before, imported, called = s["before"], s["after_import"], s["after_calls"]
    assert before["subnormal_f32_product"] != 0 and before["subnormal_f32_operand"] != 0
    threads = before.pop("threads"), imported.pop("threads"), called.pop("threads")
    assert imported == before, "importing nonlin changed the FPU state, NumPy's error state or the environment"
    assert called == before, "calling nonlin changed the FPU state of the calling thread or the environment"
    assert threads[1] == threads[0], f"importing nonlin started threads: {threads}"
    assert threads[2] - threads[0] <= s["configured"] - 1, f"more workers than configured: {threads}"


# ----------------------------------------------------------------------------- NaN bits and out='s address
def _nans(dtype, n, rng):
    """n NaNs of both signs, quiet and signalling payloads."""
    u = np.dtype(f"u{np.dtype(dtype).itemsize}")
    bits = np.finfo(dtype).bits
    mant = bits - 2 - np.finfo(dtype).nexp  # bits below the quiet bit
    exp = np.array(((1 << np.finfo(dtype).nexp) - 1) << (bits - 1 - np.finfo(dtype).nexp), u)
    quiet = np.array(1 << mant, u)
    payload = rng.integers(1, 1 << min(mant, 20), n).astype(u)
    kind = rng.integers(0, 4, n)
    v = exp | np.where(kind % 2 == 0, quiet, 0).astype(u) | np.where(kind < 2, payload, 1).astype(u)
    v |= np.where(rng.integers(0, 2, n) == 1, np.array(1 << (bits - 1), u), 0).astype(u)
    return v.view(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", [c for c in CASES if c.same_shape], ids=[c.id for c in CASES if c.same_shape])
def test_result_bits_do_not_depend_on_where_out_starts(case, dtype):
    """Every bit of every result, NaNs included, is the same wherever out= starts: offsets 0-15
    elements into a buffer, with NaNs of both signs and several payloads in every operand. (The
    vector loop starts at out's first aligned element, so an element goes through a different
    copy of the kernel at each offset; two NaN operands of a multiplication give either one,
    whichever the compiler put first.)"""
    n = 203  # a partial vector before the aligned ones, four-vector steps, partial vectors after
    rng = np.random.default_rng(11)
    x = make_values("mixed", dtype, n, rng)
    g = make_values("uniform", dtype, n, rng)
    where = rng.random(n) < 0.3
    x[where] = _nans(dtype, int(where.sum()), rng)
    where = rng.random(n) < 0.3
    g[where] = _nans(dtype, int(where.sum()), rng)
    data, params = case.build(x, g)
    u = f"u{np.dtype(dtype).itemsize}"
    want = case.call(nonlin, data, params)
    want = want[0] if isinstance(want, tuple) else want
    assert np.isnan(want).any()
    for off in range(16):
        buf = np.zeros(n + 16, dtype)
        out = buf[off:off + n]
        got = case.call(nonlin, data, params, out=out)
        got = got[0] if isinstance(got, tuple) else got
        assert got is out
        bad = np.flatnonzero(want.view(u) != out.view(u))
        assert bad.size == 0, (off, bad[:5], want[bad[:5]].view(u), out[bad[:5]].view(u))


# The functions that hand on an operand's own NaN (README, "NaN in gives NaN out"): the cheap
# one-operand ones, and maxout_backward, which routes grad_output.
OWN_NAN = {"relu", "leaky_relu", "hardtanh", "relu6", "hardsigmoid", "hardswish", "softshrink", "hardshrink",
           "softsign", "threshold", "two_relu", "rrelu", "maxout", "maxout_backward"}


@pytest.mark.parametrize("shape", [(203,), (7, 10), (3, 300)])  # short rows and long ones for the axis-wise
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_nan_results_are_the_positive_quiet_nan(case, dtype, shape):
    """Outside OWN_NAN, every NaN of a result has the bits of np.nan, whatever NaNs went in,
    whichever loop (vector steps, partial vectors, short or long rows) computed it."""
    if case.name.removesuffix("_derivative") in OWN_NAN:
        pytest.skip("hands on x's own NaN")
    rng = np.random.default_rng(5)
    n = int(np.prod(shape))
    x, g = (make_values("mixed", dtype, n, rng).reshape(shape) for _ in "xg")
    for a in (x, g):
        where = rng.random(shape) < 0.2
        a[where] = _nans(dtype, int(where.sum()), rng)
    data, params = case.build(x, g)
    got = case.call(nonlin, data, params)
    got = got[0] if isinstance(got, tuple) else got
    u = f"u{np.dtype(dtype).itemsize}"
    bits = np.unique(got[np.isnan(got)].view(u))
    assert bits.size and np.all(bits == np.array(np.nan, dtype).view(u)), [hex(b) for b in bits]
