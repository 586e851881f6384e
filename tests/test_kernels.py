"""nonlin kernels against nonlin.reference: accuracy, shapes/layouts, out=, dtypes, threads."""

import pathlib
import re
import threading

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import nonlin
from conftest import (BACKWARD, CASE_IDS, CASES, FLOAT_DTYPES, GENERATORS, assert_same_bits, check_result,
                      contiguous, make_values)

DTYPES = pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
ALL_CASES = pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
SCALAR_CASES = [c for c in CASES if c.min_ndim == 0]
STUB = pathlib.Path(__file__).resolve().parents[1] / "python" / "nonlin" / "_core.pyi"


def inputs(case, dtype, shape, seed=0, kind="mixed"):
    """(data operands, params) for `case` with x of `shape` drawn from generator `kind`."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    x, g = (make_values(kind, dtype, n, rng).reshape(shape) for _ in "xg")
    return case.build(x, g)


def copies(data):
    return tuple(np.copy(d) for d in data)


def main(result):
    """The array written through out= (prelu_backward's grad_input)."""
    return result[0] if isinstance(result, tuple) else result


def test_every_stub_function_is_covered():
    """Every activation in the stub has a case (the runtime controls are tested elsewhere)."""
    controls = {"set_num_threads", "_runtime", "_ignored_settings", "_set_simd", "_simd_levels", "_after_fork", "_buffer_cache", "_vector_math"}
    defined = set(re.findall(r"^def (\w+)\(", STUB.read_text(), re.M))
    assert controls <= defined
    compiled = {n for n in dir(nonlin._core) if callable(getattr(nonlin._core, n)) and not n.startswith("__")}
    assert compiled == defined, "the stub and the compiled module differ"
    stub = defined - controls
    assert stub == {c.name for c in CASES}
    for name in stub:
        assert callable(getattr(nonlin, name)) and callable(getattr(nonlin.reference, name))


# ----------------------------------------------------------------------------- accuracy
@ALL_CASES
@DTYPES
@pytest.mark.parametrize("kind", [*GENERATORS, "mixed"])
def test_matches_reference_1d(case, dtype, kind):
    data, params = inputs(case, dtype, (600,), kind=kind)
    check_result(case, case.call(nonlin, data, params), data, params, dtype)


@ALL_CASES
@DTYPES
def test_matches_reference_3d(case, dtype):
    data, params = inputs(case, dtype, (3, 4, 6), seed=1)
    check_result(case, case.call(nonlin, data, params), data, params, dtype)


@pytest.mark.parametrize("x, expected", [(20, 2.0611537e-09), (30, 9.357623e-14), (-20, 2.0611537e-09)])
def test_sigmoid_derivative_tail_float32(x, expected):
    got = nonlin.sigmoid_derivative(np.float32(x))
    assert type(got) is np.float32 and got == pytest.approx(expected, rel=1e-6)


def exact(f, x, dtype):
    """f evaluated in 60-digit arithmetic at the float value x, rounded to dtype."""
    with mpmath.workdps(60):
        return dtype.type(float(f(mpmath.mpf(float(x)))))


@DTYPES
@pytest.mark.parametrize("name, f, xs", [
    ("sigmoid_derivative", lambda t: mpmath.exp(-t) / (1 + mpmath.exp(-t)) ** 2, [20, 30, -40, 80]),
    ("tanh_derivative", lambda t: 1 - mpmath.tanh(t) ** 2, [5, 10, -20, 40]),
    ("sigmoid", lambda t: 1 / (1 + mpmath.exp(-t)), [-20, -80, -100]),
    ("elu", lambda t: 1.3 * mpmath.expm1(t), [-1e-10, -1e-20, -3e-6, -1e-30]),
])
def test_tails_are_accurate(name, f, xs, dtype):
    kw = {"alpha": 1.3} if name == "elu" else {}
    for x in np.array(xs, dtype=dtype):
        got, want = getattr(nonlin, name)(x, **kw), exact(f, x, dtype)
        assert want != 0 and type(got) is dtype.type
        assert abs(float(got) - float(want)) <= 4 * float(np.spacing(abs(want))), (name, x, got, want)


SPECIAL = [  # (function, args, kwargs, expected) straight from the spec, sign of zero included
    ("sigmoid", (0.0,), {}, 0.5), ("sigmoid", (-0.0,), {}, 0.5), ("sigmoid", (np.inf,), {}, 1.0),
    ("sigmoid", (-np.inf,), {}, 0.0), ("sigmoid", (np.nan,), {}, np.nan),
    ("sigmoid_derivative", (np.inf,), {}, 0.0), ("sigmoid_derivative", (-np.inf,), {}, 0.0),
    ("sigmoid_derivative", (0.0,), {}, 0.25), ("tanh", (-0.0,), {}, -0.0), ("tanh", (-np.inf,), {}, -1.0),
    ("tanh_derivative", (np.inf,), {}, 0.0), ("tanh_derivative", (-np.inf,), {}, 0.0),
    ("relu", (-0.0,), {}, 0.0), ("relu", (-3.0,), {}, 0.0), ("relu", (np.nan,), {}, np.nan),
    ("relu_derivative", (0.0,), {}, 0.0), ("relu_derivative", (2.0,), {}, 1.0),
    ("relu_derivative", (np.nan,), {}, np.nan),
    ("relu_backward", (np.inf, -1.0), {}, 0.0), ("relu_backward", (np.nan, 0.0), {}, 0.0),
    ("relu_backward", (5.0, np.nan), {}, np.nan), ("relu_backward", (5.0, 2.0), {}, 5.0),
    ("leaky_relu", (-0.0, 0.2), {}, -0.0), ("leaky_relu", (-np.inf, 0.2), {}, -np.inf),
    ("leaky_relu_derivative", (0.0, 0.2), {}, 0.2), ("leaky_relu_derivative", (np.nan, 0.2), {}, np.nan),
    ("leaky_relu_backward", (2.0, 0.0, 0.25), {}, 0.5), ("leaky_relu_backward", (2.0, np.nan, 0.25), {}, np.nan),
    ("prelu", (-0.0, 0.25), {}, -0.0), ("prelu_derivative", (0.0, 0.25), {}, 0.25),
    ("elu", (-0.0,), {"alpha": 1.3}, -0.0), ("elu", (-np.inf,), {"alpha": 1.3}, -1.3),
    ("elu", (np.inf,), {"alpha": 1.3}, np.inf), ("elu_derivative", (0.0,), {"alpha": 1.3}, 1.3),
    ("elu_derivative", (-np.inf,), {"alpha": 1.3}, 0.0),
    ("elu_backward", (2.0, 0.0), {"alpha": 1.5}, 3.0), ("elu_backward", (2.0,), {"output": -0.5, "alpha": 1.5}, 2.0),
]


@DTYPES
@pytest.mark.parametrize("name, args, kwargs, expected", SPECIAL)
def test_documented_special_values(name, args, kwargs, expected, dtype):
    for n in (1, 37):  # scalar path and vector loop
        ndata = 2 if name.endswith("_backward") else 1  # the rest are parameters
        arrays = [np.full(n, a, dtype=dtype) if i < ndata else a for i, a in enumerate(args)]
        kw = {k: np.full(n, v, dtype=dtype) if k == "output" else v for k, v in kwargs.items()}
        assert_same_bits(getattr(nonlin, name)(*arrays, **kw), np.full(n, expected, dtype=dtype))


@DTYPES
@pytest.mark.parametrize("axis", [-1, 0])
def test_maxout_nan_and_first_maximum(dtype, axis):
    x = np.array([3, 3, 0, -0.0, -0.0, 0, 1, np.nan, np.nan, 2], dtype=dtype)
    g = np.arange(1, 6, dtype=dtype)
    fwd = np.array([3, 0, 0, np.nan, np.nan], dtype)
    grad = np.array([1, 0, 2, 0, 3, 0, 0, 4, 5, 0], dtype)  # first maximum / first NaN of each pair
    if axis == 0:  # the same data down the columns of a (10, 2) array
        x, g, fwd, grad = (np.stack([a, 2 * a], axis=1) for a in (x, g, fwd, grad))
    y = nonlin.maxout(x, 2, axis=axis)
    assert y.shape == fwd.shape and np.all(y[[1, 2]] == 0)  # tied zeros: either sign
    assert_same_bits(y[[0, 3, 4]], fwd[[0, 3, 4]])
    assert_same_bits(nonlin.maxout_backward(g, x, 2, axis=axis), grad)


# ----------------------------------------------------------------------------- shapes and layouts
@pytest.mark.parametrize("case", SCALAR_CASES, ids=[c.id for c in SCALAR_CASES])
@DTYPES
@pytest.mark.parametrize("form", ["numpy-scalar", "0d-array"])
def test_zero_d_returns_numpy_scalar(case, dtype, form):
    x, g = (np.array(v, dtype) for v in (-0.75, 1.5))
    data, params = case.build(x, g)
    data = tuple(d[()] for d in data) if form == "numpy-scalar" else data
    got = case.call(nonlin, data, params)
    for r in got if isinstance(got, tuple) else (got,):
        assert type(r) is dtype.type, type(r)
    check_result(case, got, data, params, dtype)
    out = np.full((), 7, dtype)
    assert main(case.call(nonlin, data, params, out=out)) is out
    assert_same_bits(out, main(got))


@ALL_CASES
@DTYPES
@pytest.mark.parametrize("shape", [(0,), (2, 0, 3), (3, 0)])
def test_empty(case, dtype, shape):
    data, params = inputs(case, dtype, shape)
    got = case.call(nonlin, data, params)
    assert isinstance(main(got), np.ndarray) and main(got).size == 0
    check_result(case, got, data, params, dtype)


LAYOUTS = {
    "fortran": np.asfortranarray,
    "step2": lambda a: a[:, ::2],
    "transpose": lambda a: a.transpose(2, 0, 1),
    "negative": lambda a: a[::-1, :, ::-1],
    "sliced3d": lambda a: a[1:5:2, ::-3, 2:11],
    "flat-step2": lambda a: a.reshape(-1)[::2],
    "flat-reversed": lambda a: a.reshape(-1)[::-1],
}


@ALL_CASES
@DTYPES
@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts_bitwise_equal_to_contiguous(case, dtype, layout):
    rng = np.random.default_rng(2)
    x, g = (LAYOUTS[layout](make_values("mixed", dtype, 6 * 8 * 12, rng).reshape(6, 8, 12)) for _ in "xg")
    data, params = case.build(x, g)
    assert not all(d.flags.c_contiguous for d in data)
    got = case.call(nonlin, data, params)
    assert_same_bits(got, case.call(nonlin, tuple(contiguous(d) for d in data), params))
    check_result(case, got, data, params, dtype)


# ----------------------------------------------------------------------------- out=
@ALL_CASES
@DTYPES
@pytest.mark.parametrize("mode", ["fresh", "strided", "inplace", "overlap", "cast"])
def test_out(case, dtype, mode):
    data, params = inputs(case, dtype, (4, 3, 6) if mode != "overlap" else (50,), seed=3)
    expected = case.call(nonlin, copies(data), params)
    shape = main(expected).shape
    if mode == "fresh":
        targets = [(np.full(shape, 7, dtype), None)]
    elif mode == "strided":
        big = np.full(tuple(2 * s for s in shape), 7, dtype)
        idx = tuple(slice(None, None, -2) if i % 2 else slice(1, None, 2) for i in range(len(shape)))
        targets = [(big[idx], (big, idx))]
    elif mode == "cast":  # out of another float or complex dtype: the result cast to it (same_kind)
        others = [np.float16, np.float64 if dtype == np.float32 else np.float32, np.complex64,
                  np.dtype(dtype).newbyteorder()]
        for other in others:
            out = np.full(shape, 7, other)
            with np.errstate(over="ignore"):  # float16 overflows (NumPy warns, as for a ufunc's out)
                result = case.call(nonlin, copies(data), params, out=out)
                assert_same_bits(out, main(expected).astype(other))
            assert main(result) is out
            if isinstance(result, tuple):
                assert_same_bits(result[1:], expected[1:])
        return
    elif mode == "inplace":
        targets = [(k, None) for k, d in enumerate(data) if d.shape == shape]
        if not targets:
            pytest.skip("no operand has the result shape")
    else:  # out overlaps the first operand shifted by one element
        if not case.same_shape:
            pytest.skip("result shape differs from the operands")
        targets = []
        for shift in (1, -1):
            buf = make_values("mixed", dtype, 51, np.random.default_rng(4))
            first, out = (buf[1:], buf[:-1]) if shift == 1 else (buf[:-1], buf[1:])
            data = (first,) + data[1:]
            expected = case.call(nonlin, copies(data), params)
            assert_same_bits(main(case.call(nonlin, data, params, out=out)), main(expected))
        return
    for out, guard in targets:
        operands = copies(data)
        if isinstance(out, int):  # in place: out is one of the operands
            out = operands[out]
        result = case.call(nonlin, operands, params, out=out)
        assert main(result) is out
        assert_same_bits(result if isinstance(result, tuple) else out, expected)
        if guard is not None:  # nothing outside the view was touched
            big, idx = guard
            outside = np.ones(big.shape, bool)
            outside[idx] = False
            assert np.all(big[outside] == 7)


# ----------------------------------------------------------------------------- input conversion
# Inputs other than float32 and float64 are converted as a NumPy ufunc with float32 then float64
# loops converts them: NumPy's promotion of the operands, then the first of the two it casts to
# safely (Python scalars are weak, NEP 50).
COMPUTED_IN = {
    np.bool_: np.float32, np.int8: np.float32, np.uint8: np.float32, np.int16: np.float32,
    np.uint16: np.float32, np.float16: np.float32, np.int32: np.float64, np.uint32: np.float64,
    np.int64: np.float64, np.uint64: np.float64, np.float32: np.float32, np.float64: np.float64,
}
CONVERSIONS = {np.dtype(t).name: (lambda a, t=t: (np.abs(a) if np.dtype(t).kind == "u" else a).astype(t))
               for t in COMPUTED_IN}
CONVERSIONS["list"] = lambda a: a.tolist()


@ALL_CASES
@pytest.mark.parametrize("conv", CONVERSIONS)
def test_other_real_inputs_follow_ufunc_casting(case, conv):
    x = np.random.default_rng(5).integers(-3, 4, size=(2, 3, 6)).astype(np.float64)
    data, params = case.build(x, np.flip(x))
    converted = tuple(CONVERSIONS[conv](d) for d in data)
    want = np.float64 if conv == "list" else COMPUTED_IN[np.dtype(conv).type]
    got = case.call(nonlin, converted, params)
    expected = case.call(nonlin, tuple(np.asarray(d, dtype=want) for d in converted), params)
    assert main(got).dtype == want
    assert_same_bits(got, expected)


def test_computed_dtype_is_that_of_a_float32_float64_ufunc():
    """scipy.special.erfinv and huber are NumPy ufuncs with exactly the loops f->f, d->d
    (ff->f, dd->d), in that order: NumPy's own type resolution gives the dtype nonlin computes in."""
    special = pytest.importorskip("scipy.special")
    assert special.erfinv.types == ["f->f", "d->d"] and special.huber.types == ["ff->f", "dd->d"]
    for a in [*(np.ones(3, t) for t in COMPUTED_IN), [0.5, 0.25, 0.0], [1, 2]]:
        assert nonlin.tanh(a).dtype == special.erfinv(a).dtype, a
        assert nonlin.tanh_backward(a, a).dtype == special.huber(a, a).dtype, a
    # pairs of 0-d operands, Python scalars (weak) among them
    zero_d = [*(np.ones((), t) for t in COMPUTED_IN), True, 2, 0.5, np.float32(0.5), np.int16(1), np.uint32(1)]
    for a in zero_d:
        assert np.asarray(nonlin.tanh(a)).dtype == np.asarray(special.erfinv(a)).dtype, a
        for b in zero_d:
            assert np.asarray(nonlin.tanh_backward(a, b)).dtype == np.asarray(special.huber(a, b)).dtype, (a, b)
    # what NumPy rejects, nonlin rejects (a weak 10**30 beside a float32 array is float32 in both)
    for bad in (np.ones(3, np.longdouble), 10**30, np.ones(3, np.complex64), np.ones(3, "m8[s]")):
        g = np.ones(np.shape(bad), np.float32)
        for fn, oracle in ((nonlin.tanh, special.erfinv), (nonlin.tanh_backward, special.huber)):
            args = (bad,) if fn is nonlin.tanh else (g, bad)
            try:
                want = np.asarray(oracle(*args)).dtype
            except TypeError:
                with pytest.raises(TypeError, match=rf"^{fn.__name__}: unsupported dtype"):
                    fn(*args)
            else:
                assert np.asarray(fn(*args)).dtype == want, (fn, bad)


@pytest.mark.parametrize("case", SCALAR_CASES, ids=[c.id for c in SCALAR_CASES])
@pytest.mark.parametrize("values", [(0.75, -1.5), (2, 3), (True, -1.0)])
def test_python_scalars_give_numpy_scalars(case, values):
    data, params = case.build(*(np.array(v) for v in values))
    data = tuple(np.asarray(d).item() for d in data)  # Python bool/int/float operands
    assert not any(isinstance(d, np.generic) for d in data)
    got = case.call(nonlin, data, params)
    # Python scalars alone: NumPy's promotion of them (bools: bool, then float32; an int or a
    # float among them: int64 or float64, then float64). rrelu's noise is cast to x's dtype.
    deciding = data[:-1] if "noise" in case.id else data
    want = np.float32 if all(type(d) is bool for d in deciding) else np.float64
    assert type(main(got)) is want
    assert_same_bits(got, case.call(nonlin, tuple(np.asarray(d, want) for d in data), params))


@pytest.mark.parametrize("case", BACKWARD, ids=[c.id for c in BACKWARD])
@pytest.mark.parametrize("dtypes", [("float32", "float64"), ("float64", "float32"), ("float32", "float32"),
                                    ("float32", "list"), ("int32", "float32"), ("int16", "float32"),
                                    ("float32", "uint8"), ("int8", "uint16")])
def test_backward_operand_promotion(case, dtypes):
    data, params = inputs(case, np.float64, (3, 4, 6), seed=6, kind="uniform")
    data = tuple(d.tolist() if t == "list" else d.astype(t) for d, t in zip(data, dtypes))
    got = case.call(nonlin, data, params)
    result_dtype = np.float64 if {"float64", "list", "int32"} & set(dtypes) else np.float32
    assert main(got).dtype == result_dtype
    assert_same_bits(got, case.call(nonlin, tuple(np.asarray(d, result_dtype) for d in data), params))


@DTYPES
def test_prelu_weight_forms(dtype):
    x = np.linspace(-3, 3, 2 * 3 * 4, dtype=dtype).reshape(2, 3, 4)
    g = np.ones_like(x)
    want = nonlin.prelu(x, np.full(3, 0.25))
    assert want.dtype == dtype  # weight is cast to x's dtype
    for w in (0.25, np.float64(0.25), np.array(0.25), np.array([0.25]), np.full(3, 0.25, np.float32)):
        assert_same_bits(nonlin.prelu(x, w), want)
        grad_input, grad_weight = nonlin.prelu_backward(g, x, w)
        assert np.shape(grad_weight) == np.shape(w) and grad_weight.dtype == dtype
        assert np.isclose(np.sum(grad_weight), np.sum(np.where(x > 0, 0, x)), rtol=1e-6)
    for xs in (x[0, 0], x[0, 0, 0]):  # a one-element weight applies to 1-D and 0-d x too
        assert_same_bits(nonlin.prelu(xs, np.array([0.25])), nonlin.prelu(xs, 0.25))
    # a misaligned weight (np.frombuffer at an odd offset), as unpickling can give
    buf = bytearray(3 * np.dtype(dtype).itemsize + 1)
    w = np.frombuffer(buf, dtype, count=3, offset=1)
    assert not w.flags.aligned
    w[...] = 0.25  # frombuffer of a bytearray is writeable
    assert_same_bits(nonlin.prelu(x, w), want)
    assert_same_bits(nonlin.prelu_backward(g, x, w)[0], nonlin.prelu_backward(g, x, 0.25)[0])


# ----------------------------------------------------------------------------- hypothesis
SLICES = [slice(None), slice(None, None, 2), slice(None, None, -1), slice(1, None, 2), slice(None, None, -3)]


@st.composite
def strided(draw, dtype, min_dims):
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=0, max_side=7))
    base = draw(hnp.arrays(dtype, shape, elements=hnp.from_dtype(np.dtype(dtype))))
    return base[tuple(draw(st.sampled_from(SLICES)) for _ in shape)]


@ALL_CASES
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_property_matches_reference(case, data):
    dtype = np.dtype(data.draw(st.sampled_from(FLOAT_DTYPES)))
    x = data.draw(strided(dtype, case.min_ndim))
    g = data.draw(hnp.arrays(dtype, x.shape[::-1], elements=hnp.from_dtype(dtype))).T  # Fortran order
    operands, params = case.build(x, g)
    got = case.call(nonlin, operands, params)
    check_result(case, got, operands, params, dtype)
    assert_same_bits(got, case.call(nonlin, tuple(contiguous(d) for d in operands), params))


# ----------------------------------------------------------------------------- threads
@ALL_CASES
def test_concurrent_calls_on_shared_inputs(case):
    data, params = inputs(case, np.float32, (40, 50, 60), seed=7)
    expected = case.call(nonlin, copies(data), params)
    barrier, errors, n_threads = threading.Barrier(8), [], 8

    def work(i):
        try:
            barrier.wait()
            for _ in range(3):
                assert_same_bits(case.call(nonlin, data, params), expected)
                out = np.empty_like(main(expected))
                assert main(case.call(nonlin, data, params, out=out)) is out
                assert_same_bits(out, main(expected))
        except BaseException as e:  # reported by the main thread
            errors.append(f"thread {i}: {e!r}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
