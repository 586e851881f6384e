"""Fuzzing the Python API: every public function with random dtypes, shapes, strides, out= and
parameters. Each call either matches nonlin.reference (with the tolerances of conftest's
check_result) or raises TypeError/ValueError, and only when the inputs call for it: an
unsupported dtype, a wrong out=, or parameters the reference rejects. Inputs other than out=
are never modified.

The examples are derandomized (conftest's profile). NONLIN_FUZZ_EXAMPLES sets the number of
examples per function for a long run (default 12); run with -s to see the count of calls."""

import collections
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import nonlin
from conftest import CASES, assert_same_bits, check_result, reference

EXAMPLES = int(os.environ.get("NONLIN_FUZZ_EXAMPLES", "12"))
CONTROLS = {"info", "set_num_threads"}
FUNCTIONS = sorted(n for n in nonlin.__all__ if n not in CONTROLS)
CASES_OF = collections.defaultdict(list)
for _c in CASES:
    CASES_OF[_c.name].append(_c)

FLOATS = [np.float32, np.float64]
OTHER_REAL = [np.float16, np.int8, np.int64, np.uint8, np.bool_, np.int16, np.uint32]
UNSUPPORTED = [np.complex64, np.complex128, object]
SLICES = [slice(None), slice(None, None, 2), slice(None, None, -1), slice(1, None, 2), slice(None, None, -3)]

# Random values for each parameter name (out-of-range ones included: the reference says which
# are errors).
_float = st.floats(-4, 4, allow_nan=False, width=32)
PARAMS = {
    "negative_slope": _float,
    "alpha": st.one_of(_float, st.just(0.0)),
    "beta": st.sampled_from([0.0, 0.5, 1.0, 2.0, -1.0]),
    "threshold": st.sampled_from([20.0, 15.0, 1.0, 0.0, -1.0, 0.5]),
    "value": _float,
    "min_val": _float,
    "max_val": _float,
    "lambd": st.floats(-1, 3, allow_nan=False, width=32),
    "approximate": st.sampled_from(["none", "tanh", "exact"]),
    "lower": st.floats(0, 0.5, width=32),
    "upper": st.floats(0, 0.5, width=32),
    "pieces": st.integers(0, 4),
    "axis": st.integers(-4, 3),
}

COUNTS = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    print(f"\nfuzz: {sum(COUNTS.values())} calls: {dict(COUNTS)}")


def test_every_public_function_is_fuzzed():
    assert FUNCTIONS and all(name in CASES_OF for name in FUNCTIONS)


@st.composite
def array(draw, dtype, min_dims):
    """An array of dtype, maybe 0-d or empty, maybe a strided, reversed or transposed view."""
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=4, min_side=0, max_side=6))
    if dtype is object:
        return np.array(draw(hnp.arrays(np.float64, shape)), dtype=object)
    elements = hnp.from_dtype(np.dtype(dtype), allow_nan=True) if np.dtype(dtype).kind in "fc" else None
    base = draw(hnp.arrays(dtype, shape, elements=elements))
    view = base[tuple(draw(st.sampled_from(SLICES)) for _ in shape)]
    if view.ndim > 1 and draw(st.booleans()):
        view = view.transpose(draw(st.permutations(range(view.ndim))))
    return view


def result_dtype(operands):
    dts = {np.asarray(d).dtype for d in operands}
    return np.dtype(np.float32) if dts == {np.dtype(np.float32)} else np.dtype(np.float64)


def as_float(d):
    """A copy of d in the dtype nonlin computes it in: float32 if it casts to that safely (as in
    a NumPy ufunc with float32 then float64 loops), float64 otherwise."""
    d = np.asarray(d)
    return np.array(d, dtype=np.float32 if np.can_cast(d.dtype, np.float32) else np.float64)


def reference_error(case, data, params):
    """The reference's ValueError for these operands and parameters, or None."""
    try:
        with np.errstate(all="ignore"):
            case.call(reference, tuple(np.asarray(d, np.float64) for d in data), params)
    except ValueError as e:
        return e
    return None


def place_out(draw, mode, data, expected):
    """(out, the exception it must raise or None, index of the operand it is) for an out= mode."""
    if mode == "none":
        return None, None, None
    shape, dtype = np.shape(expected), np.asarray(expected).dtype
    if mode == "right":
        out = np.full(shape, 7, dtype)
        if out.ndim and draw(st.booleans()):  # a strided view into a larger buffer
            big = np.full(tuple(2 * s for s in shape), 7, dtype)
            out = big[tuple(slice(None, None, draw(st.sampled_from([2, -2]))) for _ in shape)]
        return out, None, None
    if mode == "wrong-dtype":  # no same_kind cast from a float result
        return np.full(shape, 7, draw(st.sampled_from([np.int32, np.bool_, np.uint8]))), TypeError, None
    if mode == "cast":  # another float or complex dtype: the result is cast to it
        other = {np.dtype(np.float32): np.float64, np.dtype(np.float64): np.float32}[dtype]
        return np.full(shape, 7, draw(st.sampled_from([other, np.float16, np.complex128]))), None, None
    if mode == "wrong-shape":
        bad = draw(st.sampled_from([shape + (1,), (np.prod(shape, dtype=int) + 1,), shape[:-1] + (shape[-1] + 1,)
                                    if shape else (2,)]))
        return np.full(bad, 7, dtype), ValueError, None
    if mode == "read-only":
        out = np.full(shape, 7, dtype)
        out.flags.writeable = False
        return out, ValueError, None
    if mode == "input":  # out is one of the operands, if one has the result's shape and dtype
        fits = [k for k, d in enumerate(data) if isinstance(d, np.ndarray) and d.shape == shape and d.dtype == dtype]
        if not fits:
            return None, None, None
        k = draw(st.sampled_from(fits))
        return data[k], None, k
    # "overlap": operand k and out are views of one buffer, shifted by one element
    fits = [k for k, d in enumerate(data) if isinstance(d, np.ndarray) and d.shape == shape and d.dtype == dtype]
    if not fits or not np.prod(shape, dtype=int):
        return None, None, None
    k = draw(st.sampled_from(fits))
    buf = np.empty(data[k].size + 1, dtype)
    first, second = (buf[1:], buf[:-1]) if draw(st.booleans()) else (buf[:-1], buf[1:])
    first[...] = data[k].reshape(-1)
    data[k] = first.reshape(shape)
    return second.reshape(shape), None, k


@pytest.mark.parametrize("name", FUNCTIONS)
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(draw=st.data())
def test_fuzz(name, draw):
    case = draw.draw(st.sampled_from(CASES_OF[name]))
    kind = draw.draw(st.sampled_from(["float"] * 4 + ["other-real", "unsupported"]))
    dtype = draw.draw(st.sampled_from(FLOATS if kind != "other-real" else OTHER_REAL))
    x = draw.draw(array(dtype, case.min_ndim))
    g = draw.draw(hnp.arrays(x.dtype, x.shape, elements=hnp.from_dtype(x.dtype) if x.dtype.kind == "f" else None))
    with np.errstate(all="ignore"):  # (NaN cast to an integer dtype is not under test)
        data, params = case.build(x, g)
        data = [np.asarray(d, dtype=x.dtype) if isinstance(d, np.ndarray) and d.dtype != x.dtype else d for d in data]
    params = dict(params)  # a copy: the cases' parameter dicts are shared by every test
    for key in sorted(params):  # perturb some parameters
        if key in PARAMS and draw.draw(st.booleans()):
            params[key] = draw.draw(PARAMS[key])

    allowed = set()
    if kind == "unsupported":
        k = draw.draw(st.integers(0, len(data) - 1))
        with np.errstate(all="ignore"):
            data[k] = np.asarray(data[k]).astype(draw.draw(st.sampled_from(UNSUPPORTED)))
        allowed.add(TypeError)
    # the same operands in float32/float64 (an unsupported one replaced by zeros)
    ok_data = [as_float(d) if d.dtype.kind not in "cO" else np.zeros(d.shape) for d in map(np.asarray, data)]
    if reference_error(case, ok_data, params) is not None:
        allowed.add(ValueError)
    expected = None
    if ValueError not in allowed:  # the result for valid operands (checked against the reference below)
        with np.errstate(all="ignore"):
            expected = case.call(nonlin, tuple(np.copy(d) for d in ok_data), params)
    main = expected[0] if isinstance(expected, tuple) else expected
    template = np.asarray(main) if main is not None else np.empty(x.shape, result_dtype(ok_data))
    mode = draw.draw(st.sampled_from(["none", "none", "right", "wrong-dtype", "wrong-shape", "read-only", "input",
                                      "overlap", "cast"]))
    if kind != "float" and mode in ("input", "overlap"):
        mode = "right"  # operands of other dtypes are converted: no aliasing
    out, out_error, aliased = place_out(draw.draw, mode, data, template)
    if out_error is not None:
        allowed.add(out_error)
    kw = {} if out is None else {"out": out}
    before = [np.copy(d) for d in data]

    try:
        with np.errstate(all="ignore"):
            got = case.call(nonlin, tuple(data), params, **kw)
    except (TypeError, ValueError) as e:
        assert type(e) in allowed, f"{name} raised {e!r} for valid input"
        assert name in str(e), f"the message does not name the function: {e}"
        COUNTS[type(e).__name__] += 1
        for k, (a, b) in enumerate(zip(data, before)):
            if k != aliased:
                assert_same_bits(a, b)
        return
    assert not allowed, f"{name} accepted input it should reject ({allowed})"
    COUNTS["ok"] += 1
    for k, (a, b) in enumerate(zip(data, before)):
        if k != aliased and not (out is not None and np.shares_memory(a, out)):
            assert_same_bits(a, b)  # inputs untouched
    if out is not None:
        assert (got[0] if isinstance(got, tuple) else got) is out
    if mode == "cast":
        with np.errstate(all="ignore"):
            assert_same_bits(out, np.asarray(main).astype(out.dtype))
    else:
        assert_same_bits(got[0] if isinstance(got, tuple) else got, main)
    if isinstance(got, tuple):
        assert_same_bits(got[1], expected[1])
    with np.errstate(all="ignore"):
        check_result(case, expected, tuple(ok_data), params, result_dtype(ok_data))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("alpha", [-1.0, -0.3, -2.5])
def test_celu_negative_alpha(alpha, dtype):
    """celu with alpha < 0 (PyTorch allows it): for x <= 0, alpha expm1(x / alpha) with a positive
    argument that grows with |x| (the rounding of x / alpha is corrected, not amplified by it);
    against mpmath at 50 digits, up to where the result overflows. (2 ulp: expm1's error and the
    product with alpha each round; 11 ulp at x = -92, float64, before the correction.)"""
    import mpmath

    mp = mpmath.mp.clone()
    mp.dps = 50
    big = 700.0 if dtype == np.float64 else 85.0
    x = np.concatenate([-np.geomspace(1e-6, big * abs(alpha), 4001), [-92.0, -0.0, 1.5]]).astype(dtype)
    a = float(np.asarray(alpha, dtype=dtype))
    got = nonlin.celu(x, alpha=alpha)
    want = [mp.mpf(float(v)) if v > 0 else a * mp.expm1(mp.mpf(float(v)) / a) for v in x]
    with np.errstate(over="ignore"):
        ulp = np.spacing(np.abs(np.array([float(w) for w in want]).astype(dtype))).astype(np.float64)
    err = [float(abs(mp.mpf(float(g)) - w) / mp.mpf(float(u))) for g, w, u in zip(got, want, ulp)]
    assert max(err) <= 2.0, (max(err), float(x[int(np.argmax(err))]))
    assert np.all(np.diff(got[:-3]) <= 0)  # non-increasing as x decreases: monotone
