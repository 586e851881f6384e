"""Bad inputs raise the documented exception and leave every input and out= untouched."""

import numpy as np
import pytest

import nonlin
from conftest import BACKWARD, CASE_IDS, CASES, assert_same_bits

ALL_CASES = pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
BAD_DTYPES = ["complex128", "complex64", "object", "U3", "S3", "datetime64[s]", "timedelta64[s]", "V8"]
if not np.can_cast(np.longdouble, np.float64):  # an extended longdouble: no safe cast, as for a ufunc
    BAD_DTYPES.append("longdouble")
SENTINEL = 7.0


def valid(case, shape=(3, 4, 6), dtype=np.float64):
    x = np.linspace(-2, 2, int(np.prod(shape)), dtype=dtype).reshape(shape)
    return case.build(x, x[::-1].copy())


def raises_unchanged(exc, fn, arrays, match=()):
    """fn() raises exc (message containing every string in match); no array was modified."""
    before = [np.copy(a) for a in arrays]
    with pytest.raises(exc) as info:
        fn()
    for s in match:
        assert s in str(info.value), f"{s!r} not in {str(info.value)!r}"
    for a, b in zip(arrays, before):
        assert_same_bits(a, b)
    return info


def dtype_names(dt):
    return {dt.name, str(dt), dt.str}


@ALL_CASES
@pytest.mark.parametrize("bad", BAD_DTYPES)
def test_unsupported_dtype_is_type_error(case, bad):
    data, params = valid(case)
    result = case.call(nonlin, data, params)
    out = np.full(np.shape(result[0] if isinstance(result, tuple) else result), SENTINEL)
    for k, d in enumerate(data):  # each operand in turn
        operands = data[:k] + (np.zeros(d.shape, dtype=bad),) + data[k + 1:]
        for kw in ({}, {"out": out}):
            info = raises_unchanged(TypeError, lambda: case.call(nonlin, operands, params, **kw), [*operands, out],
                                    match=[case.name])
            assert any(n in str(info.value) for n in dtype_names(np.dtype(bad))), str(info.value)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "elu"])
@pytest.mark.parametrize("value, dtname", [(1j, "complex128"), (["a", "b"], "<U1"), ([1 + 2j], "complex128"),
                                           (np.complex64(1), "complex64"), (np.array([None]), "object")])
def test_unsupported_python_inputs(name, value, dtname):
    with pytest.raises(TypeError) as info:
        getattr(nonlin, name)(value)
    msg = str(info.value)
    assert name in msg and any(n in msg for n in dtype_names(np.dtype(dtname))), msg


@pytest.mark.parametrize("bad", [np.str_("a"), np.datetime64("2020-01-01"), np.timedelta64(1, "s"),
                                 np.zeros((), [("a", "f4")])])
@pytest.mark.parametrize("scalar", [1.0, 1, True])
def test_unsupported_operand_beside_a_python_scalar(bad, scalar):
    """The operand's dtype is checked before NumPy promotes it with the (weak) Python scalar."""
    for args in ((bad, scalar), (scalar, bad)):
        with pytest.raises(TypeError, match=r"^relu_backward: unsupported dtype"):
            nonlin.relu_backward(*args)


OUT_ERRORS = {  # name -> (input dtype, make out from the correct result, exception)
    # (a float or complex out of another dtype takes the result cast, as a ufunc's: test_kernels)
    "int64": (np.float64, lambda r: np.full(r.shape, 7, np.int64), TypeError),
    "bool": (np.float32, lambda r: np.zeros(r.shape, bool), TypeError),
    "reversed-shape": (np.float64, lambda r: np.full(r.shape[::-1], SENTINEL), ValueError),
    "flat": (np.float64, lambda r: np.full(r.size, SENTINEL), ValueError),
    "broadcastable": (np.float64, lambda r: np.full(r.shape[:-1] + (1,), SENTINEL), ValueError),
    "extra-dim": (np.float64, lambda r: np.full((1,) + r.shape, SENTINEL), ValueError),
    "read-only": (np.float64, lambda r: readonly(np.full(r.shape, SENTINEL)), ValueError),
    "list": (np.float64, lambda r: np.full(r.shape, SENTINEL).tolist(), TypeError),
    "numpy-scalar": (np.float64, lambda r: np.float64(SENTINEL), TypeError),
}


def readonly(a):
    a.flags.writeable = False
    return a


@ALL_CASES
@pytest.mark.parametrize("kind", OUT_ERRORS)
def test_bad_out(case, kind):
    dtype, make_out, exc = OUT_ERRORS[kind]
    data, params = valid(case, dtype=dtype)
    result = case.call(nonlin, data, params)
    out = make_out(np.asarray(result[0] if isinstance(result, tuple) else result))
    if np.shape(out) == np.shape(result[0] if isinstance(result, tuple) else result):
        pytest.skip("the result's shape is its own reverse")  # glu: (3, 4, 6) -> (3, 4, 3)
    checked = [*data] + ([out] if isinstance(out, np.ndarray) else [])
    raises_unchanged(exc, lambda: case.call(nonlin, data, params, out=out), checked)
    if isinstance(out, list):
        assert out == np.full(np.shape(out), SENTINEL).tolist()


@pytest.mark.parametrize("name, args", [("sigmoid", ()), ("leaky_relu", (0.2,)), ("elu", (1.0,))])
def test_out_is_keyword_only(name, args):
    x, out = np.ones(3), np.full(3, SENTINEL)
    raises_unchanged(TypeError, lambda: getattr(nonlin, name)(x, *args, out), [x, out])


SHAPE_CASES = [c for c in BACKWARD if not c.name.startswith("maxout")]


@pytest.mark.parametrize("case", SHAPE_CASES, ids=[c.id for c in SHAPE_CASES])
@pytest.mark.parametrize("g_shape, other_shape", [((3, 4), (4, 3)), ((4, 3), (3, 4)), ((12,), (3, 4)),
                                                  ((1, 4), (3, 4)), ((3, 4), (3, 1)), ((), (3,))])
def test_backward_shape_mismatch(case, g_shape, other_shape):
    g = np.ones(g_shape)
    other = np.linspace(-1, 1, int(np.prod(other_shape))).reshape(other_shape)
    params = {"weight": 0.25} if case.name == "prelu_backward" else case.params(other)
    out = np.full(other_shape, SENTINEL)
    match = [str(g_shape), str(other_shape)] if len(g_shape) == len(other_shape) == 2 else []
    for kw in ({}, {"out": out}):
        raises_unchanged(ValueError, lambda: case.call(nonlin, (g, other), params, **kw), [g, other, out], match)


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("g_shape", [(3, 6), (2, 3), (3, 3), (6,), (3, 2, 1)])
def test_maxout_backward_grad_shape(axis, g_shape):
    x, g = np.linspace(-1, 1, 18).reshape(3, 6), np.ones(g_shape)  # output shapes: (3, 2) / (1, 6)
    out = np.full(x.shape, SENTINEL)
    raises_unchanged(ValueError, lambda: nonlin.maxout_backward(g, x, 3, axis=axis, out=out), [x, g, out])


PRELU_BAD = [((2, 3, 4), np.full(4, 0.5)), ((2, 3, 4), np.full(2, 0.5)), ((2, 3, 4), np.zeros(0)),
             ((2, 3, 4), np.full((3, 1), 0.5)), ((2, 3, 4), np.full((1, 1), 0.5)), ((3,), np.full(3, 0.5)),
             ((), np.full(3, 0.5)), ((2, 1, 4), np.full(4, 0.5))]


@pytest.mark.parametrize("name", ["prelu", "prelu_derivative", "prelu_backward"])
@pytest.mark.parametrize("x_shape, weight", PRELU_BAD, ids=[f"x{s}-w{w.shape}" for s, w in PRELU_BAD])
def test_prelu_bad_weight(name, x_shape, weight):
    x = np.linspace(-1, 1, int(np.prod(x_shape))).reshape(x_shape)
    args = (np.ones(x_shape), x) if name == "prelu_backward" else (x,)
    out = np.full(x_shape, SENTINEL)
    raises_unchanged(ValueError, lambda: getattr(nonlin, name)(*args, weight, out=out), [*args, weight, out])


MAXOUT_BAD = [((3, 6), 4, -1), ((3, 6), 0, -1), ((3, 6), -3, -1), ((3, 6), 5, 0),
              ((3, 6), 3, 2), ((3, 6), 3, -3), ((), 1, -1), ((), 1, 0)]


@pytest.mark.parametrize("x_shape, pieces, axis", MAXOUT_BAD)
@pytest.mark.parametrize("backward", [False, True])
def test_maxout_bad_parameters(x_shape, pieces, axis, backward):
    x = np.linspace(-1, 1, int(np.prod(x_shape))).reshape(x_shape)
    g = np.ones(x_shape[:-1] + (1,) if x_shape else ())
    args = (g, x) if backward else (x,)
    fn = nonlin.maxout_backward if backward else nonlin.maxout
    raises_unchanged(ValueError, lambda: fn(*args, pieces, axis=axis), list(args))


@pytest.mark.parametrize("name", ["elu_backward", "selu_backward", "celu_backward"])
@pytest.mark.parametrize("kwargs", [{}, {"x": None, "output": None}, {"x": np.ones(3), "output": np.ones(3)}])
def test_backward_needs_exactly_one_of_x_output(name, kwargs):
    g, out = np.ones(3), np.full(3, SENTINEL)
    arrays = [g, out] + [v for v in kwargs.values() if v is not None]
    match = [name, "not both" if len(arrays) == 4 else "x or output"]
    raises_unchanged(ValueError, lambda: getattr(nonlin, name)(g, out=out, **kwargs), arrays, match=match)


def test_positional_alpha_after_x_says_to_use_a_keyword():
    g = x = np.ones(3)
    for name in ("elu_backward", "celu_backward"):
        raises_unchanged(ValueError, lambda: getattr(nonlin, name)(g, x, 1.3), [g], match=[name, "by keyword"])


# Every scalar parameter that enters a comparison or a formula: (function, args before it, name).
NAN_PARAMS = [
    ("leaky_relu", "x", "negative_slope"), ("leaky_relu_backward", "gx", "negative_slope"),
    ("elu", "x", "alpha"), ("elu_backward", "g", "alpha"), ("celu", "x", "alpha"),
    ("celu_derivative", "x", "alpha"), ("celu_backward", "g", "alpha"),
    ("softplus", "x", "beta"), ("softplus", "x", "threshold"), ("softplus_backward", "gx", "beta"),
    ("hardtanh", "x", "min_val"), ("hardtanh_backward", "gx", "max_val"),
    ("softshrink", "x", "lambd"), ("hardshrink", "x", "lambd"), ("hardshrink_backward", "gx", "lambd"),
]


@pytest.mark.parametrize("name, lead, param", NAN_PARAMS)
def test_nan_parameter_is_value_error(name, lead, param):
    x = np.linspace(-2, 2, 5)
    args = {"x": (x,), "gx": (np.ones(5), x), "g": (np.ones(5),)}[lead]
    kw = {"x": x} if lead == "g" else {}
    out = np.full(5, SENTINEL)
    fn = getattr(nonlin, name)
    raises_unchanged(ValueError, lambda: fn(*args, **kw, **{param: np.nan}, out=out), [x, out], [name, param, "NaN"])



CELU_CALLS = {
    "celu": lambda x, a, out: nonlin.celu(x, alpha=a, out=out),
    "celu_derivative": lambda x, a, out: nonlin.celu_derivative(x, alpha=a, out=out),
    "celu_backward": lambda x, a, out: nonlin.celu_backward(np.ones_like(x), x=x, alpha=a, out=out),
    "celu_backward(output)": lambda x, a, out: nonlin.celu_backward(np.ones_like(x), output=x, alpha=a, out=out),
}


@pytest.mark.parametrize("name", CELU_CALLS)
def test_celu_alpha_that_is_zero_in_float32_is_value_error(name):
    # alpha = 1e-50 rounds to 0 in float32, where x / alpha is NaN at 0 (PyTorch raises too: 1 / alpha
    # overflows); it works in float64, and a float32 alpha that stays subnormal works in float32
    x = np.array([-3.0, -1e-45, -0.0, 0.0, 2.0], np.float32)
    f = CELU_CALLS[name]
    for alpha in (1e-50, -1e-50, 2.0**-150):
        out = np.full(5, SENTINEL, np.float32)
        raises_unchanged(ValueError, lambda: f(x, alpha, out), [x, out], [name.split("(")[0], "alpha=", "is 0 in float32"])
    for a in (f(x.astype(np.float64), 1e-50, None), f(x, 2.0**-149, None), f(x, -(2.0**-149), None)):
        assert not np.isnan(a).any(), a
    # the values at float32's smallest alpha: celu(x <= 0) is alpha expm1(x / alpha), -alpha far out
    assert_same_bits(nonlin.celu(x, alpha=2.0**-149), np.array([-(2.0**-149), -(2.0**-149), -0.0, 0.0, 2.0], np.float32))
    assert_same_bits(nonlin.celu(x.astype(np.float64), alpha=1e-50)[[0, 2, 3, 4]], np.array([-1e-50, -0.0, 0.0, 2.0]))

def test_threshold_nan_threshold_is_value_error_but_nan_value_is_allowed():
    x, out = np.array([-1.0, 2.0]), np.full(2, SENTINEL)
    for fn, args in [(nonlin.threshold, (x, np.nan, 5.0)), (nonlin.threshold_derivative, (x, np.nan)),
                     (nonlin.threshold_backward, (np.ones(2), x, np.nan))]:
        raises_unchanged(ValueError, lambda: fn(*args, out=out), [x, out], ["threshold must not be NaN"])
    np.testing.assert_array_equal(nonlin.threshold(x, 0.0, np.nan), [np.nan, 2.0])


def test_output_too_large_to_allocate_is_memory_error():
    # A view of 2^60 elements (one stored): its 4 EiB result cannot be had, overcommit or not.
    x = np.broadcast_to(np.float32(0.5), (2**60,))
    with pytest.raises(MemoryError, match="Unable to allocate"):
        nonlin.relu(x)
