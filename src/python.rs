//! The Python module `nonlin._core`: array extraction, dtype dispatch, `out=`, errors.
//!
//! Every function converts its inputs once ([`extract`]), checks shapes and `out` before
//! anything is written, then runs the kernel with the GIL released.

use numpy::npyffi::{NPY_ARRAY_ALIGNED, NPY_ARRAY_WRITEABLE};
use numpy::{
    Element, PyArrayDescr, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyTuple};

use crate::activations::maxout::{maxout_backward_raw, maxout_raw};
use crate::activations::relu::{
    self as relu_k, LeakyRelu, LeakyReluBackward, LeakyReluDerivative, Prelu, PreluDerivative,
    Relu, ReluBackward, ReluDerivative, weight_strides,
};
use crate::activations::{elu::*, gelu::*, hard::*, mish::*, sigmoid::*, smooth::*, tanh::*};
use crate::parallel::SendPtr;
use crate::simd::{Kernel, Real};
use crate::strided::{View, elementwise, extent};

/// An input converted to one of the two computed dtypes.
enum Arr<'py> {
    F32(Bound<'py, PyArrayDyn<f32>>),
    F64(Bound<'py, PyArrayDyn<f64>>),
}

impl<'py> Arr<'py> {
    fn untyped(&self) -> &Bound<'py, PyUntypedArray> {
        match self {
            Arr::F32(a) => a.as_untyped(),
            Arr::F64(a) => a.as_untyped(),
        }
    }
    fn into_f64(self) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        match self {
            Arr::F64(a) => Ok(a),
            Arr::F32(a) => Ok(a.call_method1("astype", ("float64",))?.cast_into()?),
        }
    }
}

fn shape_str(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// float32 and float64 arrays as they are; other inputs as a NumPy ufunc with float32 and float64
/// loops converts them (see [`extract_all`]).
fn extract<'py>(name: &str, obj: &Bound<'py, PyAny>) -> PyResult<Arr<'py>> {
    let [a] = extract_all(name, [obj])?;
    Ok(a)
}

/// A native-byte-order float32 or float64 array as it is, without a NumPy call.
fn native<'py>(obj: &Bound<'py, PyAny>) -> Option<Arr<'py>> {
    use numpy::npyffi::NPY_TYPES::{NPY_DOUBLE, NPY_FLOAT};
    let a = obj.cast::<PyUntypedArray>().ok()?;
    let d = a.dtype();
    if d.is_native_byteorder() == Some(false) {
        return None;
    }
    // Safety: the type number says the elements are native f32 / f64; `PyArrayDyn` takes any
    // number of dimensions.
    if d.num() == NPY_FLOAT as std::ffi::c_int {
        Some(Arr::F32(
            unsafe { a.cast_unchecked::<PyArrayDyn<f32>>() }.clone(),
        ))
    } else if d.num() == NPY_DOUBLE as std::ffi::c_int {
        Some(Arr::F64(
            unsafe { a.cast_unchecked::<PyArrayDyn<f64>>() }.clone(),
        ))
    } else {
        None
    }
}

/// The operands of a call, converted to one dtype as by a NumPy ufunc whose loops are float32
/// then float64: the first of the two that every operand casts to safely. A Python bool, int or
/// float is weak (NEP 50): it counts as NumPy's promotion of all the operands (`np.result_type`).
/// So float16, bool and 8- and 16-bit integers compute in float32, wider integers in float64;
/// an extended longdouble, complex, object and string inputs are a `TypeError` naming the
/// function and the dtype.
fn extract_all<'py, const N: usize>(
    name: &str,
    objs: [&Bound<'py, PyAny>; N],
) -> PyResult<[Arr<'py>; N]> {
    // The common case: float32 / float64 arrays, checked on the type number (no NumPy call).
    let fast = objs.map(native);
    if fast.iter().all(Option::is_some) {
        let arrs = fast.map(|a| a.unwrap_or_else(|| unreachable!()));
        if arrs.iter().all(|a| matches!(a, Arr::F32(_))) {
            return Ok(arrs);
        }
        return all_ok(arrs.map(|a| a.into_f64().map(Arr::F64)));
    }
    let py = objs[0].py();
    let np = py.import("numpy")?;
    let weak = |o: &Bound<'py, PyAny>| {
        o.is_exact_instance_of::<PyFloat>()
            || o.is_exact_instance_of::<PyInt>()
            || o.is_exact_instance_of::<PyBool>()
    };
    let unsupported = |d: &Bound<'py, PyArrayDescr>| -> PyResult<PyErr> {
        Ok(PyTypeError::new_err(format!(
            "{name}: unsupported dtype {} (it casts safely to neither float32 nor float64)",
            d.str()?
        )))
    };
    let ops = all_ok(objs.map(|o| {
        if weak(o) {
            return Ok(o.clone());
        }
        let a = np.call_method1("asarray", (o,))?;
        let d = a.cast::<PyUntypedArray>()?.dtype();
        match d.kind() {
            b'b' | b'i' | b'u' | b'f' => Ok(a),
            _ => Err(unsupported(&d)?), // (before np.result_type, which would raise its own error)
        }
    }))?;
    let promoted = match ops.iter().any(weak) {
        true => Some(np.call_method1("result_type", PyTuple::new(py, &ops)?)?),
        false => None,
    };
    // Per operand: does it cast safely to float32 (true) or only to float64 (false)?
    let mut f32 = true;
    for o in &ops {
        let d = match (weak(o), &promoted) {
            (true, Some(p)) => p.cast::<PyArrayDescr>()?.clone(),
            _ => o.cast::<PyUntypedArray>()?.dtype(),
        };
        f32 &= match (d.kind(), d.itemsize()) {
            (b'b', _) | (b'i' | b'u', 1 | 2) | (b'f', 2 | 4) => true,
            (b'i' | b'u', 4 | 8) | (b'f', 8) => false,
            _ => return Err(unsupported(&d)?),
        };
    }
    let target = if f32 { "float32" } else { "float64" };
    all_ok(ops.map(|o| -> PyResult<Arr<'py>> {
        let a = np.call_method1("asarray", (o, target))?;
        Ok(if f32 {
            Arr::F32(a.cast_into()?)
        } else {
            Arr::F64(a.cast_into()?)
        })
    }))
}

/// The first error, or every value (an array of results, without a heap allocation).
fn all_ok<T, const N: usize>(rs: [PyResult<T>; N]) -> PyResult<[T; N]> {
    if let Some(i) = rs.iter().position(|r| r.is_err()) {
        return Err(rs
            .into_iter()
            .nth(i)
            .and_then(Result::err)
            .unwrap_or_else(|| unreachable!()));
    }
    Ok(rs.map(|r| r.unwrap_or_else(|_| unreachable!())))
}

/// Memory range `[lo, hi)` in bytes that an array can touch (`(0, 0)` for an empty array).
fn span(a: &Bound<'_, PyUntypedArray>) -> (usize, usize) {
    let (lo, hi) = extent(a.shape(), a.strides());
    if hi < lo {
        return (0, 0);
    }
    let base = unsafe { (*a.as_array_ptr()).fields.data } as isize;
    let item = a.dtype().itemsize() as isize;
    ((base + lo) as usize, (base + hi + item) as usize)
}

/// Whether two arrays, of any dtypes, share a byte of memory (by their ranges).
fn overlaps(a: &Bound<'_, PyUntypedArray>, b: &Bound<'_, PyUntypedArray>) -> bool {
    let (a0, a1) = span(a);
    let (b0, b1) = span(b);
    a0 < a1 && b0 < b1 && a0 < b1 && b0 < a1
}

/// Whether two indices of `a` may address one byte: its axes (those longer than 1), by stride,
/// each step past the whole extent of the smaller ones. A conservative test (NumPy's exact one
/// solves a small integer program): a layout it flags is only written through a temporary.
fn self_overlapping(a: &Bound<'_, PyUntypedArray>) -> bool {
    if a.is_c_contiguous() || a.is_fortran_contiguous() {
        return false; // (the common case, without sorting)
    }
    let mut axes: Vec<(usize, usize)> = (a.shape().iter().zip(a.strides()))
        .filter(|(n, _)| **n > 1)
        .map(|(n, s)| (s.unsigned_abs(), *n))
        .collect();
    axes.sort_unstable();
    let mut extent = a.dtype().itemsize();
    for (stride, n) in axes {
        if stride < extent {
            return true;
        }
        extent += stride * (n - 1);
    }
    false
}

fn same_view<T: Element>(a: &Bound<'_, PyArrayDyn<T>>, b: &Bound<'_, PyArrayDyn<T>>) -> bool {
    a.data() == b.data() && a.shape() == b.shape() && a.strides() == b.strides()
}

fn flag(a: &Bound<'_, PyUntypedArray>, f: i32) -> bool {
    unsafe { (*a.as_array_ptr()).fields.flags & f != 0 }
}

/// Strides in elements, inline for up to 8 axes: a call on a small array should not pay for a
/// heap allocation.
enum Strides {
    Few([isize; 8], usize),
    Many(Vec<isize>),
}

impl std::ops::Deref for Strides {
    type Target = [isize];
    fn deref(&self) -> &[isize] {
        match self {
            Strides::Few(s, n) => &s[..*n],
            Strides::Many(v) => v,
        }
    }
}

/// Strides in elements (the arrays passed here are aligned, so byte strides divide evenly).
fn elem_strides<T: Element>(a: &Bound<'_, PyArrayDyn<T>>) -> Strides {
    let bytes = a.strides();
    let elem = size_of::<T>() as isize;
    if bytes.len() > 8 {
        return Strides::Many(bytes.iter().map(|b| b / elem).collect());
    }
    let mut s = [0; 8];
    for i in 0..bytes.len() {
        s[i] = bytes[i] / elem;
    }
    Strides::Few(s, bytes.len())
}

/// An input the kernels can read: aligned, with strides that are whole elements.
fn readable<'py, T: Element>(a: Bound<'py, PyArrayDyn<T>>) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let sz = size_of::<T>() as isize;
    if flag(a.as_untyped(), NPY_ARRAY_ALIGNED) && a.strides().iter().all(|s| s % sz == 0) {
        Ok(a)
    } else {
        Ok(a.call_method0("copy")?.cast_into()?)
    }
}

/// The owner of a pooled output buffer: the base object of the NumPy array. When the array
/// (and every view of it) is gone, the buffer goes back to the cache.
#[pyclass(name = "Buffer", module = "nonlin._core")]
struct PooledBuffer {
    buf: Option<crate::pool::Buffer>,
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let Some(b) = self.buf.take() {
            crate::pool::give(b);
        }
    }
}

/// A new uninitialized array; large ones come from the buffer cache ([`crate::pool`]), so that
/// their pages are already mapped.
fn new_array<'py, T: Element>(
    py: Python<'py>,
    shape: &[usize],
    fortran: bool,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    use numpy::ndarray::{ArrayViewD, IxDyn, ShapeBuilder};
    let n: usize = shape.iter().product();
    let bytes = n
        .checked_mul(size_of::<T>())
        .ok_or_else(|| PyValueError::new_err("array too large"))?;
    if bytes < crate::pool::MIN_POOLED {
        return Ok(unsafe { PyArrayDyn::<T>::new(py, shape, fortran) });
    }
    let buf = crate::pool::take(bytes).ok_or_else(|| {
        PyMemoryError::new_err(format!(
            "Unable to allocate {bytes} bytes for an array with shape {}",
            shape_str(shape)
        ))
    })?;
    let ptr = buf.as_ptr() as *const T;
    let owner = Bound::new(py, PooledBuffer { buf: Some(buf) })?;
    // Safety: the buffer holds `n` elements, is aligned, and lives as long as `owner`, the
    // array's base; the elements are written by the kernel before the array is returned.
    let view = unsafe { ArrayViewD::from_shape_ptr(IxDyn(shape).set_f(fortran), ptr) };
    Ok(unsafe { PyArrayDyn::<T>::borrow_from_array(&view, owner.into_any()) })
}

/// Where a call writes its result.
struct Dest<'py, T: Element> {
    /// The array the kernel writes.
    write: Bound<'py, PyArrayDyn<T>>,
    /// The user's `out`, when `write` is a temporary to be copied into it (with NumPy's
    /// `same_kind` casting, when `out` has another dtype).
    copy_to: Option<Bound<'py, PyUntypedArray>>,
    /// What the call returns: `out` itself, if given.
    ret: Option<Bound<'py, PyAny>>,
}

impl<'py, T: Element + Real> Dest<'py, T> {
    /// Checks `out`, the output argument named `arg` (rrelu has two: `out` and `noise`; nothing is
    /// written yet), or allocates the result. The kernel writes `out` directly unless it is
    /// misaligned, maps two indices to one element, overlaps an input other than by being
    /// identical to it (or at all, with `no_alias`), is not C-contiguous when `need_c` is set,
    /// or has another dtype the result casts to as a ufunc's does (`same_kind`: any float or
    /// complex dtype).
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: &str,
        arg: &str,
        out: Option<&Bound<'py, PyAny>>,
        shape: &[usize],
        inputs: &[&Bound<'py, PyArrayDyn<T>>],
        need_c: bool,
        no_alias: bool,
        fortran: bool,
    ) -> PyResult<Self> {
        let py = match inputs.first() {
            Some(a) => a.py(),
            None => unreachable!(),
        };
        let Some(o) = out else {
            let fortran = fortran && !need_c;
            let write = new_array::<T>(py, shape, fortran)?;
            return Ok(Dest {
                write,
                copy_to: None,
                ret: None,
            });
        };
        let Ok(arr) = o.cast::<PyUntypedArray>() else {
            return Err(PyTypeError::new_err(format!(
                "{name}: {arg} must be a numpy.ndarray, not {}",
                o.get_type().name()?
            )));
        };
        let typed = arr.cast::<PyArrayDyn<T>>().ok();
        if typed.is_none() && !matches!(arr.dtype().kind(), b'f' | b'c') {
            return Err(PyTypeError::new_err(format!(
                "{name}: {arg} has dtype {}, but the result ({}) is written only to a float or \
                 complex {arg}",
                arr.dtype().str()?,
                T::NAME
            )));
        }
        if arr.shape() != shape {
            return Err(PyValueError::new_err(format!(
                "{name}: {arg} has shape {}, but the result has shape {}",
                shape_str(arr.shape()),
                shape_str(shape)
            )));
        }
        if !flag(arr, NPY_ARRAY_WRITEABLE) {
            return Err(PyValueError::new_err(format!("{name}: {arg} is read-only")));
        }
        let sz = size_of::<T>() as isize;
        let ret = Some(o.clone());
        match typed {
            Some(typed)
                if flag(arr, NPY_ARRAY_ALIGNED)
                    && arr.strides().iter().all(|s| s % sz == 0)
                    && !self_overlapping(arr)
                    && (!need_c || arr.is_c_contiguous())
                    && inputs.iter().all(|i| {
                        !overlaps(arr, i.as_untyped()) || (!no_alias && same_view(typed, i))
                    }) =>
            {
                Ok(Dest {
                    write: typed.clone(),
                    copy_to: None,
                    ret,
                })
            }
            _ => Ok(Dest {
                write: new_array::<T>(py, shape, false)?,
                copy_to: Some(arr.clone()),
                ret,
            }),
        }
    }

    fn finish(self) -> PyResult<Bound<'py, PyAny>> {
        if let Some(target) = self.copy_to {
            let np = target.py().import("numpy")?;
            np.call_method1("copyto", (target, &self.write))?;
        }
        match self.ret {
            Some(out) => Ok(out),
            None => scalar_if_0d(self.write.into_any()),
        }
    }
}

/// A new 0-d result becomes a NumPy scalar, as ufuncs return.
fn scalar_if_0d<'py>(a: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if a.cast::<PyUntypedArray>()?.ndim() == 0 {
        a.call_method1("__getitem__", (PyTuple::empty(a.py()),))
    } else {
        Ok(a)
    }
}

fn check_same_shape(
    name: &str,
    a: &Bound<'_, PyUntypedArray>,
    b: &Bound<'_, PyUntypedArray>,
    what: &str,
) -> PyResult<()> {
    if a.shape() != b.shape() {
        return Err(PyValueError::new_err(format!(
            "{name}: grad_output has shape {} but {what} has shape {}",
            shape_str(a.shape()),
            shape_str(b.shape())
        )));
    }
    Ok(())
}

/// Runs an elementwise kernel on same-shape inputs and, if `bcast` is given, a last kernel
/// operand read from it (a small vector and its strides over the array's axes, such as a
/// per-channel weight).
fn run_with<'py, T, K, const N: usize, const M: usize>(
    name: &str,
    k: &K,
    ins: [Bound<'py, PyArrayDyn<T>>; N],
    bcast: Option<(&[T], Vec<isize>)>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>>
where
    T: Element + Real,
    K: Kernel<T, M>,
{
    if let Some(why) = <K as Kernel<T, M>>::unusable(k) {
        return Err(PyValueError::new_err(format!("{name}: {why}")));
    }
    let mut ins = ins;
    for a in ins.iter_mut() {
        *a = readable(a.clone())?;
    }
    let dest = Dest::new(
        name,
        "out",
        out,
        ins[0].shape(),
        &ins.each_ref(),
        false,
        false,
        fortran(&ins[0]),
    )?;
    run_into(k, ins, bcast, dest, || ())
}

/// Whether a new result in `a`'s shape is laid out in Fortran order (as `a`, when it is only that).
fn fortran<T: Element>(a: &Bound<'_, PyArrayDyn<T>>) -> bool {
    a.is_fortran_contiguous() && !a.is_c_contiguous()
}

/// [`run_with`] into a checked [`Dest`], the inputs readable; `first` runs before the kernel,
/// without the GIL too (rrelu draws its slopes there: one release of the GIL for both).
fn run_into<'py, T, K, const N: usize, const M: usize>(
    k: &K,
    ins: [Bound<'py, PyArrayDyn<T>>; N],
    bcast: Option<(&[T], Vec<isize>)>,
    dest: Dest<'py, T>,
    first: impl FnOnce() + Send,
) -> PyResult<Bound<'py, PyAny>>
where
    T: Element + Real,
    K: Kernel<T, M>,
{
    assert_eq!(N + bcast.is_some() as usize, M);
    let shape = ins[0].shape();
    let ptrs: [SendPtr<T>; N] = std::array::from_fn(|j| SendPtr(ins[j].data()));
    let strides: [Strides; N] = std::array::from_fn(|j| elem_strides(&ins[j]));
    let bcast = bcast.map(|(v, s)| (SendPtr(v.as_ptr() as *mut T), s));
    let (optr, ostr) = (SendPtr(dest.write.data()), elem_strides(&dest.write));
    dest.write.py().detach(|| {
        first();
        let views: [View<T>; M] = std::array::from_fn(|j| match &bcast {
            Some((p, s)) if j == N => View {
                ptr: p.get(),
                strides: s,
            },
            _ => View {
                ptr: ptrs[j].get(),
                strides: &strides[j],
            },
        });
        unsafe { elementwise(k, shape, views, optr.get(), &ostr) }
    });
    dest.finish()
}

fn unary<'py, K: Kernel<f32, 1> + Kernel<f64, 1>>(
    name: &str,
    k: &K,
    x: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    match extract(name, x)? {
        Arr::F32(a) => run_with(name, k, [a], None, out),
        Arr::F64(a) => run_with(name, k, [a], None, out),
    }
}

fn binary<'py, K: Kernel<f32, 2> + Kernel<f64, 2>>(
    name: &str,
    k: &K,
    g: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    what: &str,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let [g, x] = extract_all(name, [g, x])?;
    check_same_shape(name, g.untyped(), x.untyped(), what)?;
    match (g, x) {
        (Arr::F32(g), Arr::F32(x)) => run_with(name, k, [g, x], None, out),
        (Arr::F64(g), Arr::F64(x)) => run_with(name, k, [g, x], None, out),
        _ => unreachable!(),
    }
}

/// Defines a forward or derivative function `name(x, params..., *, out=None)`.
macro_rules! unary_fn {
    ($(#[doc = $doc:expr])* $name:ident($($p:ident: $t:ty = $d:expr),*) => $k:expr) => {
        $(#[doc = $doc])*
        #[pyfunction]
        #[pyo3(signature = (x, $($p = $d,)* *, out = None))]
        fn $name<'py>(x: &Bound<'py, PyAny>, $($p: $t,)* out: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
            $(not_nan(stringify!($name), stringify!($p), $p)?;)*
            unary(stringify!($name), &$k, x, out)
        }
    };
}

/// Defines a backward function `name(grad_output, second, params..., *, out=None)`.
macro_rules! binary_fn {
    ($(#[doc = $doc:expr])* $name:ident($second:ident $(, $p:ident: $t:ty = $d:expr)*) => $k:expr) => {
        $(#[doc = $doc])*
        #[pyfunction]
        #[pyo3(signature = (grad_output, $second, $($p = $d,)* *, out = None))]
        fn $name<'py>(
            grad_output: &Bound<'py, PyAny>,
            $second: &Bound<'py, PyAny>,
            $($p: $t,)*
            out: Option<&Bound<'py, PyAny>>,
        ) -> PyResult<Bound<'py, PyAny>> {
            $(not_nan(stringify!($name), stringify!($p), $p)?;)*
            binary(stringify!($name), &$k, grad_output, $second, stringify!($second), out)
        }
    };
}

unary_fn! {
    /// sigmoid(x) = 1 / (1 + exp(-x)).
    ///
    /// sigmoid(±0) = 0.5, sigmoid(+inf) = 1, sigmoid(-inf) = +0, NaN gives NaN. Computed from
    /// exp(-|x|), so the negative tail keeps full relative accuracy.
    sigmoid() => Sigmoid
}
unary_fn! {
    /// sigmoid'(x) = sigmoid(x) * sigmoid(-x), accurate in both tails.
    ///
    /// Computed as e / (1 + e)^2 with e = exp(-|x|): float32 x = 20 gives 2.06e-9, where
    /// y * (1 - y) from the saved output gives 0. ±inf give +0.
    sigmoid_derivative() => SigmoidDerivative
}
binary_fn! {
    /// Vector-Jacobian product of sigmoid from its saved output y: grad_output * (1 - y) * y.
    ///
    /// As ATen's sigmoid_backward, and exact to that arithmetic; it is 0 wherever y has rounded
    /// to 1 (x above about 17 in float32). For the tails use grad_output * sigmoid_derivative(x).
    sigmoid_backward(output) => SigmoidBackward
}
unary_fn! {
    /// tanh(x). tanh(-0) = -0, tanh(±inf) = ±1, NaN gives NaN.
    tanh() => Tanh
}
unary_fn! {
    /// tanh'(x) = 1 - tanh(x)^2, computed as 4e / (1 + e)^2 with e = exp(-2|x|): no cancellation,
    /// full relative accuracy in the tails. ±inf give +0.
    tanh_derivative() => TanhDerivative
}
binary_fn! {
    /// Vector-Jacobian product of tanh from its saved output y: grad_output * (1 - y^2).
    ///
    /// As ATen's tanh_backward, but evaluated as grad_output * ((1 - y) * (1 + y)), which has
    /// no cancellation near |y| = 1. y has lost the tails: there use
    /// grad_output * tanh_derivative(x).
    tanh_backward(output) => TanhBackward
}
unary_fn! {
    /// relu(x) = max(0, x): x for x > 0, +0 otherwise (relu(-0) = +0). NaN gives NaN.
    relu() => Relu
}
unary_fn! {
    /// relu'(x): 1 for x > 0, 0 for x <= 0 (0 at x = 0, as PyTorch and JAX), NaN for NaN.
    relu_derivative() => ReluDerivative
}
binary_fn! {
    /// Vector-Jacobian product of relu (ATen's threshold_backward at 0): grad_output where
    /// x > 0, 0 where x <= 0 (even where grad_output is inf or NaN, as PyTorch), NaN where x is NaN.
    relu_backward(x) => ReluBackward
}
unary_fn! {
    /// leaky_relu(x) = x for x > 0, negative_slope * x otherwise (-0 stays -0). NaN gives NaN.
    leaky_relu(negative_slope: f64 = 0.01) => LeakyRelu { slope: negative_slope }
}
unary_fn! {
    /// leaky_relu'(x): 1 for x > 0, negative_slope for x <= 0 (negative_slope at 0), NaN for NaN.
    leaky_relu_derivative(negative_slope: f64 = 0.01) => LeakyReluDerivative { slope: negative_slope }
}
binary_fn! {
    /// Vector-Jacobian product of leaky_relu: grad_output where x > 0, negative_slope *
    /// grad_output where x <= 0, NaN where x is NaN.
    leaky_relu_backward(x, negative_slope: f64 = 0.01) => LeakyReluBackward { slope: negative_slope }
}
unary_fn! {
    /// elu(x) = x for x > 0, alpha * expm1(x) otherwise.
    ///
    /// expm1 keeps elu(-1e-10) accurate; elu(-0) = -0 (alpha > 0); elu(-inf) = -alpha.
    elu(alpha: f64 = 1.0) => Elu { alpha }
}
unary_fn! {
    /// elu'(x): 1 for x > 0, alpha * exp(x) for x <= 0 (alpha at 0), NaN for NaN.
    elu_derivative(alpha: f64 = 1.0) => EluDerivative { alpha }
}

/// Vector-Jacobian product of elu, from the input or from the saved output (give exactly one).
///
/// From x: grad_output where x > 0, grad_output * (alpha * exp(x)) where x <= 0.
/// From output y: grad_output where y > 0, grad_output * (y + alpha) where y <= 0 (no exp).
#[pyfunction]
#[pyo3(signature = (grad_output, x = None, output = None, alpha = 1.0, *, out = None))]
fn elu_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    x: Option<&Bound<'py, PyAny>>,
    output: Option<&Bound<'py, PyAny>>,
    alpha: f64,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = "elu_backward";
    not_nan(name, "alpha", alpha)?;
    from_x_or_output(
        name,
        grad_output,
        x,
        output,
        EluBackward { alpha },
        EluBackwardFromOutput { alpha },
        out,
    )
}

/// A `ValueError` naming the function unless `ok`.
fn require(ok: bool, name: &str, msg: std::fmt::Arguments) -> PyResult<()> {
    if ok {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!("{name}: {msg}")))
    }
}

/// A scalar parameter that enters a comparison or a formula: NaN is a ValueError (it would
/// give NaN everywhere, or pass or mask everything without a word).
fn not_nan(name: &str, param: &str, v: f64) -> PyResult<()> {
    require(!v.is_nan(), name, format_args!("{param} must not be NaN"))
}

/// Runs a backward kernel from the input or from the saved output (exactly one given).
fn from_x_or_output<'py, KX, KY>(
    name: &str,
    grad_output: &Bound<'py, PyAny>,
    x: Option<&Bound<'py, PyAny>>,
    output: Option<&Bound<'py, PyAny>>,
    kx: KX,
    ky: KY,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>>
where
    KX: Kernel<f32, 2> + Kernel<f64, 2>,
    KY: Kernel<f32, 2> + Kernel<f64, 2>,
{
    match (x, output) {
        (Some(x), None) => binary(name, &kx, grad_output, x, "x", out),
        (None, Some(y)) => binary(name, &ky, grad_output, y, "output", out),
        (None, None) => Err(PyValueError::new_err(format!(
            "{name}: give x or output (exactly one)"
        ))),
        (Some(_), Some(_)) => Err(PyValueError::new_err(format!(
            "{name}: give exactly one of x and output, not both (a third positional argument is \
             output: give parameters by keyword)"
        ))),
    }
}

// ----------------------------------------------------------------------------- gelu

/// The `approximate` argument of the gelu functions: false for "none", true for "tanh".
fn gelu_tanh_form(name: &str, approximate: &str) -> PyResult<bool> {
    match approximate {
        "none" => Ok(false),
        "tanh" => Ok(true),
        _ => Err(PyValueError::new_err(format!(
            "{name}: approximate must be 'none' or 'tanh', got {approximate:?}"
        ))),
    }
}

/// gelu(x) = x * Phi(x) = x/2 * erfc(-x / sqrt(2)) (approximate="none"), or PyTorch's tanh
/// form x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) (approximate="tanh").
///
/// Both keep full relative accuracy in the negative tail, down to the subnormals (PyTorch's
/// float32 gelu loses it: 1 + tanh(...) and erfc's argument are rounded). gelu(-0) = -0,
/// gelu(-inf) = -0 (PyTorch: NaN), gelu(inf) = inf.
#[pyfunction]
#[pyo3(signature = (x, approximate = "none", *, out = None))]
fn gelu<'py>(
    x: &Bound<'py, PyAny>,
    approximate: &str,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = "gelu";
    if gelu_tanh_form(name, approximate)? {
        unary(name, &GeluTanh, x, out)
    } else {
        unary(name, &Gelu, x, out)
    }
}

/// gelu'(x), the derivative of the chosen form: Phi(x) + x * phi(x) for "none"; for "tanh",
/// the derivative of the tanh formula (what ATen's gelu_backward computes). Full relative
/// accuracy near the root x = -0.7518 ("none"; -0.7525 for "tanh") and in the tails.
#[pyfunction]
#[pyo3(signature = (x, approximate = "none", *, out = None))]
fn gelu_derivative<'py>(
    x: &Bound<'py, PyAny>,
    approximate: &str,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = "gelu_derivative";
    if gelu_tanh_form(name, approximate)? {
        unary(name, &GeluTanhDerivative, x, out)
    } else {
        unary(name, &GeluDerivative, x, out)
    }
}

/// Vector-Jacobian product of gelu (ATen's gelu_backward(grad_output, self, approximate)):
/// grad_output * gelu'(x) of the chosen form.
#[pyfunction]
#[pyo3(signature = (grad_output, x, approximate = "none", *, out = None))]
fn gelu_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    approximate: &str,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = "gelu_backward";
    if gelu_tanh_form(name, approximate)? {
        binary(name, &GeluTanhBackward, grad_output, x, "x", out)
    } else {
        binary(name, &GeluBackward, grad_output, x, "x", out)
    }
}

// ----------------------------------------------------------------------------- smooth

unary_fn! {
    /// silu(x) = x * sigmoid(x) (swish). Full relative accuracy in the negative tail
    /// (silu(-100) = -100 e^-100, not 0). silu(-0) = -0, silu(-inf) = -0.
    silu() => Silu
}
unary_fn! {
    /// silu'(x) = sigmoid(x) * (1 + x * sigmoid(-x)), without cancellation: full relative
    /// accuracy near its root x = -1.2785 and in both tails. silu'(-inf) = 0, silu'(inf) = 1.
    silu_derivative() => SiluDerivative
}
binary_fn! {
    /// Vector-Jacobian product of silu (ATen's silu_backward(grad_output, self)):
    /// grad_output * silu'(x).
    silu_backward(x) => SiluBackward
}
unary_fn! {
    /// mish(x) = x * tanh(softplus(x)), with tanh(softplus(x)) = n / (n + 2), n = e^x (e^x + 2):
    /// no overflow, full relative accuracy in the negative tail. mish(-inf) = -0.
    mish() => Mish
}
unary_fn! {
    /// mish'(x) = tanh(softplus(x)) + x * sech(softplus(x))^2 * sigmoid(x), with full relative
    /// accuracy near its root x = -1.1924 and in both tails.
    mish_derivative() => MishDerivative
}
binary_fn! {
    /// Vector-Jacobian product of mish (ATen's mish_backward(grad_output, self)).
    mish_backward(x) => MishBackward
}

/// The softplus kernels' parameters, checked.
fn softplus_params(name: &str, beta: f64, threshold: f64) -> PyResult<(f64, f64)> {
    require(beta != 0.0, name, format_args!("beta must not be 0"))?;
    Ok((beta, threshold))
}

unary_fn! {
    /// softplus(x) = log(1 + exp(beta * x)) / beta, and x where beta * x > threshold (as
    /// PyTorch). Accurate for very negative x: softplus(-100) = e^-100. beta = 0 is a ValueError.
    softplus(beta: f64 = 1.0, threshold: f64 = 20.0) => {
        let (beta, threshold) = softplus_params("softplus", beta, threshold)?;
        Softplus { beta, threshold }
    }
}
unary_fn! {
    /// softplus'(x) = sigmoid(beta * x), and 1 where beta * x > threshold.
    softplus_derivative(beta: f64 = 1.0, threshold: f64 = 20.0) => {
        let (beta, threshold) = softplus_params("softplus_derivative", beta, threshold)?;
        SoftplusDerivative { beta, threshold }
    }
}
binary_fn! {
    /// Vector-Jacobian product of softplus (ATen's softplus_backward(grad_output, self, beta,
    /// threshold)): grad_output * sigmoid(beta * x), grad_output where beta * x > threshold.
    softplus_backward(x, beta: f64 = 1.0, threshold: f64 = 20.0) => {
        let (beta, threshold) = softplus_params("softplus_backward", beta, threshold)?;
        SoftplusBackward { beta, threshold }
    }
}
unary_fn! {
    /// logsigmoid(x) = log(sigmoid(x)) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|)): stable
    /// for large |x| of both signs (logsigmoid(-1e4) = -1e4, logsigmoid(100) = -e^-100).
    logsigmoid() => Logsigmoid
}
unary_fn! {
    /// logsigmoid'(x) = sigmoid(-x), accurate in both tails.
    logsigmoid_derivative() => LogsigmoidDerivative
}
binary_fn! {
    /// Vector-Jacobian product of logsigmoid: grad_output * sigmoid(-x). ATen's
    /// log_sigmoid_backward also takes a buffer from the forward; here (grad_output, x) suffice.
    logsigmoid_backward(x) => LogsigmoidBackward
}
unary_fn! {
    /// softsign(x) = x / (1 + |x|), rounded about once; softsign(±inf) = ±1.
    softsign() => Softsign
}
unary_fn! {
    /// softsign'(x) = 1 / (1 + |x|)^2 (0 at ±inf).
    softsign_derivative() => SoftsignDerivative
}
binary_fn! {
    /// Vector-Jacobian product of softsign: grad_output / (1 + |x|)^2.
    softsign_backward(x) => SoftsignBackward
}
unary_fn! {
    /// tanhshrink(x) = x - tanh(x), with full relative accuracy near 0 (where the difference
    /// cancels: x^3/3 - ..., from an interpolant below |x| = 1.5). tanhshrink(-0) = -0.
    tanhshrink() => Tanhshrink
}
unary_fn! {
    /// tanhshrink'(x) = tanh(x)^2.
    tanhshrink_derivative() => TanhshrinkDerivative
}
binary_fn! {
    /// Vector-Jacobian product of tanhshrink: grad_output * tanh(x)^2.
    tanhshrink_backward(x) => TanhshrinkBackward
}

// ----------------------------------------------------------------------------- selu, celu

unary_fn! {
    /// selu(x) = scale * x for x > 0, scale * alpha * expm1(x) otherwise, with
    /// scale = 1.0507009873554805 and alpha = 1.6732632423543772 (Klambauer et al. 2017), taken
    /// exactly (in float32 too, and scale * alpha unrounded): each result is rounded once.
    /// selu(-0) = -0, selu(-inf) = -scale * alpha.
    selu() => Selu
}
unary_fn! {
    /// selu'(x): scale for x > 0, scale * alpha * exp(x) for x <= 0 (scale * alpha at 0).
    selu_derivative() => SeluDerivative
}

/// Vector-Jacobian product of selu, from the input or from the saved output (give exactly one).
///
/// From x: scale * grad_output where x > 0, grad_output * scale * alpha * exp(x) where x <= 0.
/// From output y: scale * grad_output where y > 0, grad_output * (y + scale * alpha) where
/// y <= 0 (no exp; it loses the far negative tail, where y has rounded to -scale * alpha).
#[pyfunction]
#[pyo3(signature = (grad_output, x = None, output = None, *, out = None))]
fn selu_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    x: Option<&Bound<'py, PyAny>>,
    output: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = "selu_backward";
    from_x_or_output(
        name,
        grad_output,
        x,
        output,
        SeluBackward,
        SeluBackwardFromOutput,
        out,
    )
}

fn celu_alpha(name: &str, alpha: f64) -> PyResult<f64> {
    not_nan(name, "alpha", alpha)?;
    require(alpha != 0.0, name, format_args!("alpha must not be 0"))?;
    Ok(alpha)
}

unary_fn! {
    /// celu(x) = max(0, x) + min(0, alpha * (exp(x / alpha) - 1)): x for x > 0,
    /// alpha * expm1(x / alpha) otherwise. alpha = 0 is a ValueError (as PyTorch), and so is an
    /// alpha that is 0 in float32 (|alpha| <= 2**-150) for a float32 x.
    celu(alpha: f64 = 1.0) => Celu { alpha: celu_alpha("celu", alpha)? }
}
unary_fn! {
    /// celu'(x): 1 for x > 0, exp(x / alpha) for x <= 0 (1 at 0), accurate in the far tail.
    celu_derivative(alpha: f64 = 1.0) => CeluDerivative { alpha: celu_alpha("celu_derivative", alpha)? }
}

/// Vector-Jacobian product of celu, from the input or from the saved output (give exactly one).
///
/// From x: grad_output where x > 0, grad_output * exp(x / alpha) where x <= 0.
/// From output y: grad_output where y > 0, grad_output * (y + alpha) / alpha where y <= 0
/// (no exp; it loses the far negative tail).
#[pyfunction]
#[pyo3(signature = (grad_output, x = None, output = None, alpha = 1.0, *, out = None))]
fn celu_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    x: Option<&Bound<'py, PyAny>>,
    output: Option<&Bound<'py, PyAny>>,
    alpha: f64,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = "celu_backward";
    let alpha = celu_alpha(name, alpha)?;
    from_x_or_output(
        name,
        grad_output,
        x,
        output,
        CeluBackward { alpha },
        CeluBackwardFromOutput { alpha },
        out,
    )
}

// ----------------------------------------------------------------------------- hard

fn hardtanh_params(name: &str, min_val: f64, max_val: f64) -> PyResult<(f64, f64)> {
    require(
        min_val <= max_val,
        name,
        format_args!("min_val ({min_val}) must not be greater than max_val ({max_val})"),
    )?;
    Ok((min_val, max_val))
}

unary_fn! {
    /// hardtanh(x) = min(max(x, min_val), max_val); -0 stays -0, NaN gives NaN.
    /// min_val > max_val is a ValueError (as PyTorch).
    hardtanh(min_val: f64 = -1.0, max_val: f64 = 1.0) => {
        let (min_val, max_val) = hardtanh_params("hardtanh", min_val, max_val)?;
        Hardtanh { min_val, max_val }
    }
}
unary_fn! {
    /// hardtanh'(x): 1 for min_val < x < max_val, 0 otherwise (0 at both ends, as ATen).
    hardtanh_derivative(min_val: f64 = -1.0, max_val: f64 = 1.0) => {
        let (min_val, max_val) = hardtanh_params("hardtanh_derivative", min_val, max_val)?;
        HardtanhDerivative { min_val, max_val }
    }
}
binary_fn! {
    /// Vector-Jacobian product of hardtanh (ATen's hardtanh_backward(grad_output, self, min_val,
    /// max_val)): grad_output where min_val < x < max_val, 0 elsewhere, NaN where x is NaN.
    /// The saved output works as well as x: min_val < y < max_val exactly where x is.
    hardtanh_backward(x, min_val: f64 = -1.0, max_val: f64 = 1.0) => {
        let (min_val, max_val) = hardtanh_params("hardtanh_backward", min_val, max_val)?;
        HardtanhBackward { min_val, max_val }
    }
}

const RELU6: (f64, f64) = (0.0, 6.0);
unary_fn! {
    /// relu6(x) = hardtanh(x, 0, 6) = min(max(x, 0), 6) (-0 stays -0, as hardtanh).
    relu6() => Hardtanh { min_val: RELU6.0, max_val: RELU6.1 }
}
unary_fn! {
    /// relu6'(x): 1 for 0 < x < 6, 0 otherwise (as ATen's hardtanh_backward).
    relu6_derivative() => HardtanhDerivative { min_val: RELU6.0, max_val: RELU6.1 }
}
binary_fn! {
    /// Vector-Jacobian product of relu6: grad_output where 0 < x < 6, else 0 (x or the output).
    relu6_backward(x) => HardtanhBackward { min_val: RELU6.0, max_val: RELU6.1 }
}
unary_fn! {
    /// hardsigmoid(x) = relu6(x + 3) / 6: 0 for x <= -3, 1 for x >= 3, (x + 3) / 6 between,
    /// rounded once.
    hardsigmoid() => Hardsigmoid
}
unary_fn! {
    /// hardsigmoid'(x): 1/6 for -3 < x < 3, 0 otherwise (0 at ±3, as ATen's hardsigmoid_backward).
    hardsigmoid_derivative() => HardsigmoidDerivative
}
binary_fn! {
    /// Vector-Jacobian product of hardsigmoid (ATen's hardsigmoid_backward(grad_output, self)):
    /// grad_output / 6 where -3 < x < 3, else 0.
    hardsigmoid_backward(x) => HardsigmoidBackward
}
unary_fn! {
    /// hardswish(x) = x * relu6(x + 3) / 6: x for x > 3, x (x + 3) / 6 on [-3, 3] (rounded
    /// once), -0 for x < -3 (the sign of x, as PyTorch's formula gives).
    hardswish() => Hardswish
}
unary_fn! {
    /// hardswish'(x), ATen's hardswish_backward rule: 0 for x <= -3, x / 3 + 1/2 for
    /// -3 < x < 3, 1 for x >= 3 (the one-sided limits at the kinks: 0 at -3, 1 at 3).
    hardswish_derivative() => HardswishDerivative
}
binary_fn! {
    /// Vector-Jacobian product of hardswish (ATen's hardswish_backward(grad_output, self)).
    hardswish_backward(x) => HardswishBackward
}

fn softshrink_lambd(name: &str, lambd: f64) -> PyResult<f64> {
    require(
        lambd >= 0.0,
        name,
        format_args!("lambd must be greater or equal to 0, got {lambd}"),
    )?;
    Ok(lambd)
}

unary_fn! {
    /// softshrink(x) = x - lambd for x > lambd, x + lambd for x < -lambd, 0 otherwise.
    /// lambd < 0 is a ValueError (as PyTorch).
    softshrink(lambd: f64 = 0.5) => Softshrink { lambd: softshrink_lambd("softshrink", lambd)? }
}
unary_fn! {
    /// softshrink'(x): 1 for |x| > lambd, 0 otherwise (0 at ±lambd, as ATen).
    softshrink_derivative(lambd: f64 = 0.5) => ShrinkDerivative { lambd: softshrink_lambd("softshrink_derivative", lambd)? }
}
binary_fn! {
    /// Vector-Jacobian product of softshrink (ATen's softshrink_backward(grad_output, self,
    /// lambd)): grad_output where |x| > lambd, else 0.
    softshrink_backward(x, lambd: f64 = 0.5) => ShrinkBackward { lambd: softshrink_lambd("softshrink_backward", lambd)? }
}
unary_fn! {
    /// hardshrink(x) = x for |x| > lambd, 0 otherwise.
    hardshrink(lambd: f64 = 0.5) => Hardshrink { lambd }
}
unary_fn! {
    /// hardshrink'(x): 1 for |x| > lambd, 0 otherwise (0 at ±lambd, as ATen).
    hardshrink_derivative(lambd: f64 = 0.5) => ShrinkDerivative { lambd }
}
binary_fn! {
    /// Vector-Jacobian product of hardshrink (ATen's hardshrink_backward(grad_output, self,
    /// lambd)): grad_output where |x| > lambd, else 0.
    hardshrink_backward(x, lambd: f64 = 0.5) => ShrinkBackward { lambd }
}

/// threshold(x, threshold, value) = x where x > threshold, value elsewhere (NaN gives NaN).
/// A NaN threshold is a ValueError; value may be anything (NaN too).
#[pyfunction]
#[pyo3(signature = (x, threshold, value, *, out = None))]
fn threshold<'py>(
    x: &Bound<'py, PyAny>,
    threshold: f64,
    value: f64,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    not_nan("threshold", "threshold", threshold)?;
    unary("threshold", &Threshold { threshold, value }, x, out)
}

/// threshold'(x): 1 where x > threshold, 0 elsewhere, NaN for NaN.
#[pyfunction]
#[pyo3(signature = (x, threshold, *, out = None))]
fn threshold_derivative<'py>(
    x: &Bound<'py, PyAny>,
    threshold: f64,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    not_nan("threshold_derivative", "threshold", threshold)?;
    unary(
        "threshold_derivative",
        &ThresholdDerivative { threshold },
        x,
        out,
    )
}

/// Vector-Jacobian product of threshold (ATen's threshold_backward(grad_output, self,
/// threshold)): grad_output where x > threshold, 0 elsewhere, NaN where x is NaN.
#[pyfunction]
#[pyo3(signature = (grad_output, x, threshold, *, out = None))]
fn threshold_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    threshold: f64,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    not_nan("threshold_backward", "threshold", threshold)?;
    let k = ThresholdBackward { threshold };
    binary("threshold_backward", &k, grad_output, x, "x", out)
}

unary_fn! {
    /// The two-ReLU unit of the lecture, max(0, x + 1) - max(0, x - 1): 0 for x <= -1, x + 1 on
    /// [-1, 1], 2 for x >= 1. It equals hardtanh(x) + 1 exactly (hardtanh shifted up by 1; also
    /// 2 * hardsigmoid(3x)), a piecewise-linear sigmoid-like ramp from 0 to 2, and is computed that
    /// way (correctly rounded, where the literal difference gives 0 for huge x).
    two_relu() => TwoRelu
}
unary_fn! {
    /// two_relu'(x), as autograd of the two-ReLU formula with relu'(0) = 0 gives: 1 for
    /// -1 < x <= 1, 0 otherwise (so 0 at -1 and 1 at 1, unlike hardtanh's 0 at both ends).
    two_relu_derivative() => TwoReluDerivative
}
binary_fn! {
    /// Vector-Jacobian product of two_relu: grad_output where -1 < x <= 1, 0 elsewhere.
    two_relu_backward(x) => TwoReluBackward
}

/// The per-channel weight of prelu as a vector of T, checked against x's shape.
fn prelu_weight<T: Real>(
    name: &str,
    weight: &Bound<'_, PyAny>,
    shape: &[usize],
) -> PyResult<(Vec<T>, Vec<usize>)> {
    fn values<U: Element + Real, T: Real>(a: &Bound<'_, PyArrayDyn<U>>) -> PyResult<Vec<T>> {
        let cast = |v: &[U]| v.iter().map(|e| T::from_f64(e.to_f64())).collect();
        // Safety: read under the GIL, before this call writes anything.
        match unsafe { a.as_slice() } {
            Ok(v) => Ok(cast(v)),
            // not contiguous, or misaligned (e.g. from np.frombuffer): an aligned C copy
            Err(_) => {
                let copy = a.call_method0("copy")?.cast_into::<PyArrayDyn<U>>()?;
                Ok(cast(unsafe { copy.as_slice() }?))
            }
        }
    }
    let (wshape, vals) = if let Ok(v) = weight.cast::<pyo3::types::PyFloat>() {
        (vec![], vec![T::from_f64(v.value())]) // a Python float (or NumPy float64 scalar): no array needed
    } else {
        match extract(name, weight)? {
            Arr::F32(a) => (a.shape().to_vec(), values(&a)?),
            Arr::F64(a) => (a.shape().to_vec(), values(&a)?),
        }
    };
    let len = vals.len();
    if wshape.len() > 1 {
        return Err(PyValueError::new_err(format!(
            "{name}: weight must be a scalar or 1-D, got shape {}",
            shape_str(&wshape)
        )));
    }
    if len != 1 && (shape.len() < 2 || shape[1] != len) {
        return Err(PyValueError::new_err(format!(
            "{name}: weight has {len} elements but x has shape {} (one weight per channel on axis 1, or a single one)",
            shape_str(shape)
        )));
    }
    Ok((vals, wshape))
}

fn prelu_generic<'py, T: Element + Real, K: Kernel<T, 2>>(
    name: &str,
    k: &K,
    x: Bound<'py, PyArrayDyn<T>>,
    weight: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (w, _) = prelu_weight::<T>(name, weight, x.shape())?;
    let ws = weight_strides(x.ndim(), w.len());
    run_with(name, k, [x], Some((&w, ws)), out)
}

/// prelu(x, weight) = x for x > 0, weight[c] * x otherwise, with c the index on axis 1
/// (torch.nn.functional.prelu). weight is a scalar, or 1-D with one value per channel.
#[pyfunction]
#[pyo3(signature = (x, weight, *, out = None))]
fn prelu<'py>(
    x: &Bound<'py, PyAny>,
    weight: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    match extract("prelu", x)? {
        Arr::F32(a) => prelu_generic("prelu", &Prelu, a, weight, out),
        Arr::F64(a) => prelu_generic("prelu", &Prelu, a, weight, out),
    }
}

/// prelu'(x): 1 for x > 0, weight[c] for x <= 0 (weight[c] at 0), NaN for NaN.
#[pyfunction]
#[pyo3(signature = (x, weight, *, out = None))]
fn prelu_derivative<'py>(
    x: &Bound<'py, PyAny>,
    weight: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = "prelu_derivative";
    match extract(name, x)? {
        Arr::F32(a) => prelu_generic(name, &PreluDerivative, a, weight, out),
        Arr::F64(a) => prelu_generic(name, &PreluDerivative, a, weight, out),
    }
}

fn contiguous<'py, T: Element>(
    a: Bound<'py, PyArrayDyn<T>>,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    if a.is_c_contiguous() && flag(a.as_untyped(), NPY_ARRAY_ALIGNED) {
        Ok(a)
    } else {
        Ok(a.py()
            .import("numpy")?
            .call_method1("ascontiguousarray", (a,))?
            .cast_into()?)
    }
}

fn prelu_backward_generic<'py, T: Element + Real>(
    g: Bound<'py, PyArrayDyn<T>>,
    x: Bound<'py, PyArrayDyn<T>>,
    weight: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let name = "prelu_backward";
    let py = x.py();
    let (w, wshape) = prelu_weight::<T>(name, weight, x.shape())?;
    let (g, x) = (contiguous(g)?, contiguous(x)?);
    let shape = x.shape();
    let dest = Dest::new(name, "out", out, shape, &[&g, &x], true, false, false)?;
    let n = x.len();
    let (outer, inner) = match (w.len(), shape.len()) {
        (1, _) => (1, n),
        (c, _) => (shape[0], n / (shape[0] * c).max(1)),
    };
    let (gp, xp, op) = (
        SendPtr(g.data()),
        SendPtr(x.data()),
        SendPtr(dest.write.data()),
    );
    let sums = py.detach(|| {
        if n == 0 {
            vec![0.0; w.len()]
        } else {
            unsafe { relu_k::prelu_backward_raw(gp.get(), xp.get(), &w, outer, inner, op.get()) }
        }
    });
    let gw = unsafe { PyArrayDyn::<T>::new(py, wshape, false) };
    unsafe { gw.as_slice_mut()? }
        .iter_mut()
        .zip(&sums)
        .for_each(|(d, s)| *d = T::from_f64(*s));
    PyTuple::new(py, [dest.finish()?, scalar_if_0d(gw.into_any())?])
}

/// Vector-Jacobian product of prelu: returns (grad_input, grad_weight).
///
/// grad_input = grad_output where x > 0, weight[c] * grad_output where x <= 0 (NaN where x is
/// NaN); grad_weight[c] = sum of grad_output * x over channel c where x <= 0, in weight's shape,
/// summed in float64 in the same pass, with no temporary the size of x for contiguous inputs.
/// out= receives grad_input.
#[pyfunction]
#[pyo3(signature = (grad_output, x, weight, *, out = None))]
fn prelu_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    weight: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let name = "prelu_backward";
    let [g, x] = extract_all(name, [grad_output, x])?;
    check_same_shape(name, g.untyped(), x.untyped(), "x")?;
    match (g, x) {
        (Arr::F32(g), Arr::F32(x)) => prelu_backward_generic(g, x, weight, out),
        (Arr::F64(g), Arr::F64(x)) => prelu_backward_generic(g, x, weight, out),
        _ => unreachable!(),
    }
}

/// The maxout axis split: (outer, groups, inner) around an axis of length groups * pieces.
fn maxout_dims(
    name: &str,
    shape: &[usize],
    pieces: isize,
    axis: isize,
) -> PyResult<(usize, usize, usize, usize)> {
    let nd = shape.len() as isize;
    if nd == 0 {
        return Err(PyValueError::new_err(format!(
            "{name}: x must have at least one axis"
        )));
    }
    if axis < -nd || axis >= nd {
        return Err(PyValueError::new_err(format!(
            "{name}: axis {axis} is out of range for shape {}",
            shape_str(shape)
        )));
    }
    let a = axis.rem_euclid(nd) as usize;
    let len = shape[a];
    if pieces < 1 || !len.is_multiple_of(pieces as usize) {
        return Err(PyValueError::new_err(format!(
            "{name}: pieces = {pieces} must be positive and divide the length {len} of axis {axis} of shape {}",
            shape_str(shape)
        )));
    }
    let outer = shape[..a].iter().product();
    let inner = shape[a + 1..].iter().product();
    Ok((a, outer, len / pieces as usize, inner))
}

fn maxout_generic<'py, T: Element + Real>(
    x: Bound<'py, PyArrayDyn<T>>,
    pieces: isize,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = "maxout";
    let (a, outer, groups, inner) = maxout_dims(name, x.shape(), pieces, axis)?;
    let x = contiguous(x)?;
    let mut shape = x.shape().to_vec();
    shape[a] = groups;
    let dest = Dest::new(name, "out", out, &shape, &[&x], true, true, false)?;
    let (xp, op, k) = (
        SendPtr(x.data()),
        SendPtr(dest.write.data()),
        pieces as usize,
    );
    if outer * groups * inner > 0 {
        x.py()
            .detach(|| unsafe { maxout_raw(xp.get(), outer, groups, k, inner, op.get()) });
    }
    dest.finish()
}

/// maxout(x, pieces, axis=-1): splits the axis (length m * pieces) into m groups of `pieces`
/// consecutive entries and returns each group's max (NaN if the group has a NaN). The output has
/// length m on that axis.
#[pyfunction]
#[pyo3(signature = (x, pieces, axis = -1, *, out = None))]
fn maxout<'py>(
    x: &Bound<'py, PyAny>,
    pieces: isize,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    match extract("maxout", x)? {
        Arr::F32(a) => maxout_generic(a, pieces, axis, out),
        Arr::F64(a) => maxout_generic(a, pieces, axis, out),
    }
}

fn maxout_backward_generic<'py, T: Element + Real>(
    g: Bound<'py, PyArrayDyn<T>>,
    x: Bound<'py, PyArrayDyn<T>>,
    pieces: isize,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = "maxout_backward";
    let (a, outer, groups, inner) = maxout_dims(name, x.shape(), pieces, axis)?;
    let mut gshape = x.shape().to_vec();
    gshape[a] = groups;
    if g.shape() != gshape {
        return Err(PyValueError::new_err(format!(
            "{name}: grad_output has shape {} but maxout's output has shape {}",
            shape_str(g.shape()),
            shape_str(&gshape)
        )));
    }
    let (g, x) = (contiguous(g)?, contiguous(x)?);
    let shape = x.shape().to_vec();
    let dest = Dest::new(name, "out", out, &shape, &[&g, &x], true, true, false)?;
    let (gp, xp, op, k) = (
        SendPtr(g.data()),
        SendPtr(x.data()),
        SendPtr(dest.write.data()),
        pieces as usize,
    );
    if outer * groups * inner > 0 {
        x.py().detach(|| unsafe {
            maxout_backward_raw(gp.get(), xp.get(), outer, groups, k, inner, op.get())
        });
    }
    dest.finish()
}

/// Vector-Jacobian product of maxout: an array of x's shape holding each grad_output value at
/// its group's first maximal entry (the first NaN if the group has one), zeros elsewhere.
#[pyfunction]
#[pyo3(signature = (grad_output, x, pieces, axis = -1, *, out = None))]
fn maxout_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    pieces: isize,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    match extract_all("maxout_backward", [grad_output, x])? {
        [Arr::F32(g), Arr::F32(x)] => maxout_backward_generic(g, x, pieces, axis, out),
        [Arr::F64(g), Arr::F64(x)] => maxout_backward_generic(g, x, pieces, axis, out),
        _ => unreachable!(),
    }
}

/// The vector math (exp, expm1, log1p, tanh, erf, erfc) on an array, for accuracy tests.
#[pyfunction]
#[pyo3(signature = (name, x, *, out = None))]
fn _vector_math<'py>(
    name: &str,
    x: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    use crate::math::kernels::*;
    match name {
        "exp" => unary(name, &Exp, x, out),
        "expm1" => unary(name, &Expm1, x, out),
        "log1p" => unary(name, &Log1p, x, out),
        "tanh" => unary(name, &Tanh, x, out),
        "erf" => unary(name, &Erf, x, out),
        "erfc" => unary(name, &Erfc, x, out),
        _ => Err(PyValueError::new_err(format!(
            "_vector_math: unknown function {name:?}"
        ))),
    }
}

/// Called in a child process after fork(): run single-threaded there, and draw a new seed
/// stream for rrelu.
#[pyfunction]
fn _after_fork() {
    crate::parallel::force_serial();
    SEEDS.store(0, std::sync::atomic::Ordering::Relaxed);
}

/// Uses the named SIMD level (at most the CPU's best) from now on; returns the level set.
#[pyfunction]
fn _set_simd(name: &str) -> PyResult<&'static str> {
    let level = crate::simd::Level::from_name(name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown SIMD level {name:?}")))?;
    Ok(crate::simd::set_level(level).name())
}

/// The SIMD levels this CPU runs, lowest first.
#[pyfunction]
fn _simd_levels() -> Vec<&'static str> {
    let best = crate::simd::Level::detect();
    crate::simd::Level::all()
        .iter()
        .filter(|l| **l <= best)
        .map(|l| l.name())
        .collect()
}

/// Uses `n` threads for large calls from now on (1: the calling thread only).
#[pyfunction]
fn set_num_threads(n: usize) -> PyResult<()> {
    if n == 0 {
        return Err(PyValueError::new_err(
            "set_num_threads: n must be at least 1",
        ));
    }
    crate::parallel::set_num_threads(n).map_err(|e| {
        PyRuntimeError::new_err(format!(
            "set_num_threads: cannot start {n} threads ({e}); the {} in use stay",
            crate::parallel::num_threads()
        ))
    })
}

/// (bytes held by the output buffer cache, its capacity); `clear=True` empties it first.
#[pyfunction]
#[pyo3(signature = (clear = false))]
fn _buffer_cache(clear: bool) -> (usize, usize) {
    if clear {
        crate::pool::clear();
    }
    (crate::pool::cached_bytes(), crate::pool::capacity())
}

/// The NONLIN_* settings the runtime ignores, unreadable: (variable, value, what it must be).
#[pyfunction]
fn _ignored_settings() -> Vec<(&'static str, String, String)> {
    crate::env::ignored()
}

/// The SIMD level in use and the number of threads.
#[pyfunction]
fn _runtime() -> (&'static str, usize) {
    (crate::level().name(), crate::parallel::num_threads())
}

// ----------------------------------------------------------------- softmax, log_softmax, glu, rrelu

use crate::activations::glu::{Glu, GluBackwardA, GluBackwardB, glu_backward_contiguous};
use crate::activations::relu::{PreluBackward, rrelu_noise};
use crate::activations::softmax::{Op, softmax_raw};

/// `(axis, outer, len, inner)` of a function along `axis`; a 0-d array counts as shape (1,), as
/// PyTorch takes dim 0 or -1 for it.
fn axis_dims(name: &str, shape: &[usize], axis: isize) -> PyResult<(usize, usize, usize, usize)> {
    let nd = shape.len().max(1) as isize;
    if axis < -nd || axis >= nd {
        return Err(PyValueError::new_err(format!(
            "{name}: axis {axis} is out of range for shape {}",
            shape_str(shape)
        )));
    }
    if shape.is_empty() {
        return Ok((0, 1, 1, 1));
    }
    let a = axis.rem_euclid(nd) as usize;
    Ok((
        a,
        shape[..a].iter().product(),
        shape[a],
        shape[a + 1..].iter().product(),
    ))
}

fn softmax_generic<'py, T: Element + Real>(
    op: Op,
    name: &str,
    a: Bound<'py, PyArrayDyn<T>>,
    b: Option<Bound<'py, PyArrayDyn<T>>>,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let shape = a.shape().to_vec();
    let (_, outer, len, inner) = axis_dims(name, &shape, axis)?;
    let a = contiguous(a)?;
    let b = match b {
        Some(b) => contiguous(b)?,
        None => a.clone(),
    };
    let dest = Dest::new(name, "out", out, &shape, &[&a, &b], true, false, false)?;
    let (ap, bp, op_) = (
        SendPtr(a.data()),
        SendPtr(b.data()),
        SendPtr(dest.write.data()),
    );
    a.py()
        .detach(|| unsafe { softmax_raw(op, ap.get(), bp.get(), op_.get(), outer, len, inner) });
    dest.finish()
}

fn softmax_forward<'py>(
    op: Op,
    name: &str,
    x: &Bound<'py, PyAny>,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    match extract(name, x)? {
        Arr::F32(a) => softmax_generic(op, name, a, None, axis, out),
        Arr::F64(a) => softmax_generic(op, name, a, None, axis, out),
    }
}

fn softmax_grad<'py>(
    op: Op,
    name: &str,
    g: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let [g, y] = extract_all(name, [g, y])?;
    check_same_shape(name, g.untyped(), y.untyped(), "output")?;
    match (g, y) {
        (Arr::F32(g), Arr::F32(y)) => softmax_generic(op, name, g, Some(y), axis, out),
        (Arr::F64(g), Arr::F64(y)) => softmax_generic(op, name, g, Some(y), axis, out),
        _ => unreachable!(),
    }
}

/// softmax(x, axis=-1): exp(x - max) / sum(exp(x - max)) along axis (torch.nn.functional.softmax).
///
/// Numerically stable (max-subtracted), with the rounding error of x - max put back, and the sum
/// taken in a fixed order with compensation: within a few ulp, bit-identical for any thread
/// count and SIMD level. A 0-d x is one element (1.0). A row with NaN or +inf, or all -inf,
/// gives NaN (as PyTorch).
#[pyfunction]
#[pyo3(signature = (x, axis = -1, *, out = None))]
fn softmax<'py>(
    x: &Bound<'py, PyAny>,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    softmax_forward(Op::Softmax, "softmax", x, axis, out)
}

/// log_softmax(x, axis=-1): x - max - log(sum(exp(x - max))) along axis
/// (torch.nn.functional.log_softmax).
///
/// Very negative outputs keep full relative accuracy; near 0 the error is within a few ulp of
/// log(sum). The maximum of a row whose other entries are far below gets -sum(exp(x - max))
/// computed as log1p of the other terms, not 0 (PyTorch gives 0 there).
#[pyfunction]
#[pyo3(signature = (x, axis = -1, *, out = None))]
fn log_softmax<'py>(
    x: &Bound<'py, PyAny>,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    softmax_forward(Op::LogSoftmax, "log_softmax", x, axis, out)
}

/// Vector-Jacobian product of softmax from its saved output y (ATen's _softmax_backward_data):
/// y * (grad_output - sum(grad_output * y)) along axis, the sum in a fixed order.
#[pyfunction]
#[pyo3(signature = (grad_output, output, axis = -1, *, out = None))]
fn softmax_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    output: &Bound<'py, PyAny>,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = "softmax_backward";
    softmax_grad(Op::SoftmaxBackward, name, grad_output, output, axis, out)
}

/// Vector-Jacobian product of log_softmax from its saved output y (ATen's
/// _log_softmax_backward_data): grad_output - exp(y) * sum(grad_output) along axis.
#[pyfunction]
#[pyo3(signature = (grad_output, output, axis = -1, *, out = None))]
fn log_softmax_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    output: &Bound<'py, PyAny>,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = "log_softmax_backward";
    softmax_grad(Op::LogSoftmaxBackward, name, grad_output, output, axis, out)
}

/// `(axis, half)` of glu's split: the axis must exist and have even length. The messages
/// also give `g_shape` (glu_backward: grad_output's shape).
fn glu_halves(
    name: &str,
    shape: &[usize],
    axis: isize,
    g_shape: Option<&[usize]>,
) -> PyResult<(usize, usize)> {
    let also = || match g_shape {
        Some(g) => format!(" (grad_output has shape {})", shape_str(g)),
        None => String::new(),
    };
    if shape.is_empty() {
        let also = also();
        return Err(PyValueError::new_err(format!(
            "{name}: x must have at least one axis (glu halves one){also}"
        )));
    }
    let (a, _, len, _) = axis_dims(name, shape, axis)?;
    if len % 2 != 0 {
        let also = also();
        return Err(PyValueError::new_err(format!(
            "{name}: axis {axis} of shape {} has odd length {len}; glu splits it in halves{also}",
            shape_str(shape)
        )));
    }
    Ok((a, len / 2))
}

fn glu_generic<'py, T: Element + Real>(
    g: Option<Bound<'py, PyArrayDyn<T>>>,
    x: Bound<'py, PyArrayDyn<T>>,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = if g.is_some() { "glu_backward" } else { "glu" };
    let x = readable(x)?;
    let (a, half) = glu_halves(name, x.shape(), axis, g.as_ref().map(|g| g.shape()))?;
    let mut hshape = x.shape().to_vec();
    hshape[a] = half;
    let xs = elem_strides(&x);
    let pa = SendPtr(x.data());
    let pb = SendPtr(x.data().wrapping_offset(half as isize * xs[a]));
    let fortran = fortran(&x);
    match g {
        None => {
            let dest = Dest::new(name, "out", out, &hshape, &[&x], false, true, fortran)?;
            let (op_, os) = (SendPtr(dest.write.data()), elem_strides(&dest.write));
            x.py().detach(|| unsafe {
                let views = [pa, pb].map(|p| View {
                    ptr: p.get() as *const T,
                    strides: &xs,
                });
                elementwise(&Glu, &hshape, views, op_.get(), &os)
            });
            dest.finish()
        }
        Some(g) => {
            if g.shape() != hshape {
                return Err(PyValueError::new_err(format!(
                    "{name}: grad_output has shape {} but glu's output has shape {} (x has shape {})",
                    shape_str(g.shape()),
                    shape_str(&hshape),
                    shape_str(x.shape())
                )));
            }
            let g = readable(g)?;
            let gs = elem_strides(&g);
            let pg = SendPtr(g.data());
            let shape = x.shape().to_vec();
            let dest = Dest::new(name, "out", out, &shape, &[&g, &x], false, true, fortran)?;
            let os = elem_strides(&dest.write);
            let oa = SendPtr(dest.write.data());
            let ob = SendPtr(dest.write.data().wrapping_offset(half as isize * os[a]));
            if x.is_c_contiguous() && g.is_c_contiguous() && dest.write.is_c_contiguous() {
                // Both halves in one pass: x as (outer, 2, m).
                let outer: usize = shape[..a].iter().product();
                let m = half * shape[a + 1..].iter().product::<usize>();
                let po = SendPtr(dest.write.data());
                x.py().detach(|| unsafe {
                    glu_backward_contiguous(pg.get() as *const T, pa.get(), po.get(), outer, m)
                });
                return dest.finish();
            }
            x.py().detach(|| unsafe {
                let gv = View {
                    ptr: pg.get() as *const T,
                    strides: &gs,
                };
                let [av, bv] = [pa, pb].map(|p| View {
                    ptr: p.get() as *const T,
                    strides: &xs,
                });
                elementwise(&GluBackwardA, &hshape, [gv, bv], oa.get(), &os);
                elementwise(&GluBackwardB, &hshape, [gv, av, bv], ob.get(), &os);
            });
            dest.finish()
        }
    }
}

/// glu(x, axis=-1) = a * sigmoid(b), with a and b the first and second halves of x along axis
/// (torch.nn.functional.glu; `dim` is called axis here). The axis must have even length.
#[pyfunction]
#[pyo3(signature = (x, axis = -1, *, out = None))]
fn glu<'py>(
    x: &Bound<'py, PyAny>,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    match extract("glu", x)? {
        Arr::F32(x) => glu_generic(None, x, axis, out),
        Arr::F64(x) => glu_generic(None, x, axis, out),
    }
}

/// Vector-Jacobian product of glu (ATen's glu_backward(grad_output, self, dim)): the gradient
/// for x, in x's shape: [grad_output * sigmoid(b), grad_output * a * sigmoid'(b)], with
/// sigmoid'(b) = sigmoid(b) sigmoid(-b) accurate in both tails (not sigmoid (1 - sigmoid)).
#[pyfunction]
#[pyo3(signature = (grad_output, x, axis = -1, *, out = None))]
fn glu_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    axis: isize,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    match extract_all("glu_backward", [grad_output, x])? {
        [Arr::F32(g), Arr::F32(x)] => glu_generic(Some(g), x, axis, out),
        [Arr::F64(g), Arr::F64(x)] => glu_generic(Some(g), x, axis, out),
        _ => unreachable!(),
    }
}

fn rrelu_check(name: &str, lower: f64, upper: f64) -> PyResult<()> {
    if !lower.is_finite() || !upper.is_finite() || lower > upper {
        return Err(PyValueError::new_err(format!(
            "{name}: lower = {lower} and upper = {upper} must be finite with lower <= upper"
        )));
    }
    Ok(())
}

/// rrelu's noise (slopes) as an array of T of x's shape.
fn rrelu_slopes<'py, T: Element + Real>(
    name: &str,
    noise: &Bound<'py, PyAny>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let arr = extract(name, noise)?;
    if arr.untyped().shape() != shape {
        return Err(PyValueError::new_err(format!(
            "{name}: noise has shape {} but x has shape {}",
            shape_str(arr.untyped().shape()),
            shape_str(shape)
        )));
    }
    let any = match arr {
        Arr::F32(a) => a.into_any(),
        Arr::F64(a) => a.into_any(),
    };
    match any.cast::<PyArrayDyn<T>>() {
        Ok(a) => Ok(a.clone()),
        Err(_) => Ok(any.call_method1("astype", (T::NAME,))?.cast_into()?),
    }
}

fn rrelu_train<'py, T: Element + Real>(
    x: Bound<'py, PyArrayDyn<T>>,
    lower: f64,
    upper: f64,
    seed: u64,
    noise: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = x.py();
    let x = readable(x)?;
    let shape = x.shape().to_vec();
    let nd = Dest::new("rrelu", "noise", noise, &shape, &[&x], true, true, false)?;
    if let (Some(o), Some(n)) = (out, noise)
        && let (Ok(o), Ok(n)) = (o.cast::<PyUntypedArray>(), n.cast::<PyUntypedArray>())
        && overlaps(o, n)
    {
        return Err(PyValueError::new_err(
            "rrelu: out and noise must not overlap (both are results)",
        ));
    }
    // out is checked before the noise is written: a bad out leaves noise= untouched
    let dest = Dest::new(
        "rrelu",
        "out",
        out,
        &shape,
        &[&x],
        false,
        false,
        fortran(&x),
    )?;
    let (l, u) = (T::from_f64(lower).to_f64(), T::from_f64(upper).to_f64());
    let (np_, n) = (SendPtr(nd.write.data()), x.len());
    let slopes = nd.write.clone();
    let y = run_into(&Prelu, [x, slopes], None, dest, || {
        if n > 0 {
            unsafe { rrelu_noise::<T>(seed, l, u, std::slice::from_raw_parts_mut(np_.get(), n)) }
        }
    })?;
    Ok(PyTuple::new(py, [y, nd.finish()?])?.into_any())
}

/// The state of rrelu's seed stream for seed=None; 0 until the first such call draws it from
/// os.urandom (and again in a forked child, which must not repeat its parent's slopes).
static SEEDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The next seed of a SplitMix64 stream (Steele, Lea and Flood 2014) started from os.urandom:
/// distinct for every call, from any thread, without os.urandom's cost on each (about 440 ns,
/// more than the rest of a one-element call).
fn fresh_seed(py: Python<'_>) -> PyResult<u64> {
    use std::sync::atomic::Ordering::Relaxed;
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
    if SEEDS.load(Relaxed) == 0 {
        let b: Vec<u8> = py.import("os")?.call_method1("urandom", (8,))?.extract()?;
        let s = u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) | 1;
        let _ = SEEDS.compare_exchange(0, s, Relaxed, Relaxed); // another thread's draw may win
    }
    Ok(crate::activations::relu::splitmix64(
        SEEDS.fetch_add(GAMMA, Relaxed),
    ))
}

/// rrelu(x, lower=1/8, upper=1/3, training=False, seed=None, *, noise=None, out=None)
/// (torch.nn.functional.rrelu, ATen's rrelu_with_noise).
///
/// Eval (training=False): leaky_relu with slope (lower + upper) / 2; returns y.
/// Training: every element gets a slope r uniform in [lower, upper] (rounded to x's dtype) and
/// y = x if x > 0 else r * x; returns (y, noise), noise being the slopes of every element (an
/// array of x's shape), written into noise= if given (as ATen's rrelu_with_noise fills its
/// noise). The slopes come from a counter-based generator: slope i is a hash of (seed, i), i the
/// element's index in C order, so the same seed gives the same slopes for any thread count, SIMD
/// level or memory layout (a negative seed counts modulo 2^64). seed=None takes a fresh seed from
/// a stream started from os.urandom (a new stream in a forked child). Pass noise to
/// rrelu_backward for the gradient. (ATen's noise holds 1 where x > 0; both forms give the same
/// gradient.)
#[pyfunction]
#[pyo3(signature = (x, lower = 0.125, upper = 1.0 / 3.0, training = false, seed = None, *, noise = None, out = None))]
#[allow(clippy::too_many_arguments)]
fn rrelu<'py>(
    x: &Bound<'py, PyAny>,
    lower: f64,
    upper: f64,
    training: bool,
    seed: Option<&Bound<'py, PyAny>>,
    noise: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = "rrelu";
    rrelu_check(name, lower, upper)?;
    if !training {
        if noise.is_some() {
            return Err(PyValueError::new_err(format!(
                "{name}: noise= is only written with training=True"
            )));
        }
        let slope = (lower + upper) / 2.0;
        return unary(name, &LeakyRelu { slope }, x, out);
    }
    let seed = match seed {
        // a negative seed (PyTorch takes them) as its two's complement, modulo 2^64
        Some(s) => match (s.extract::<u64>(), s.extract::<i64>()) {
            (Ok(u), _) => u,
            (_, Ok(i)) => i as u64,
            (Err(e), _) if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(s.py()) => {
                return Err(PyValueError::new_err(format!(
                    "{name}: seed must be an integer in [-2**63, 2**64)"
                )));
            }
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "{name}: seed must be an integer, not {}",
                    s.get_type().name()?
                )));
            }
        },
        None => fresh_seed(x.py())?,
    };
    match extract(name, x)? {
        Arr::F32(a) => rrelu_train(a, lower, upper, seed, noise, out),
        Arr::F64(a) => rrelu_train(a, lower, upper, seed, noise, out),
    }
}

/// rrelu'(x): 1 for x > 0, else the element's slope from noise (training) or (lower + upper) / 2
/// (eval, noise=None); NaN for NaN. noise is cast to x's dtype.
#[pyfunction]
#[pyo3(signature = (x, lower = 0.125, upper = 1.0 / 3.0, noise = None, *, out = None))]
fn rrelu_derivative<'py>(
    x: &Bound<'py, PyAny>,
    lower: f64,
    upper: f64,
    noise: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = "rrelu_derivative";
    rrelu_check(name, lower, upper)?;
    let Some(noise) = noise else {
        let slope = (lower + upper) / 2.0;
        return unary(name, &LeakyReluDerivative { slope }, x, out);
    };
    match extract(name, x)? {
        Arr::F32(x) => {
            let r = rrelu_slopes::<f32>(name, noise, x.shape())?;
            run_with(name, &PreluDerivative, [x, r], None, out)
        }
        Arr::F64(x) => {
            let r = rrelu_slopes::<f64>(name, noise, x.shape())?;
            run_with(name, &PreluDerivative, [x, r], None, out)
        }
    }
}

/// Vector-Jacobian product of rrelu (ATen's rrelu_with_noise_backward): grad_output where x > 0,
/// else grad_output times the element's slope from noise (training: the noise rrelu returned)
/// or (lower + upper) / 2 (eval, noise=None); NaN where x is NaN. noise is cast to the result's
/// dtype (that of grad_output and x), as prelu's weight.
#[pyfunction]
#[pyo3(signature = (grad_output, x, noise = None, lower = 0.125, upper = 1.0 / 3.0, *, out = None))]
fn rrelu_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    noise: Option<&Bound<'py, PyAny>>,
    lower: f64,
    upper: f64,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = "rrelu_backward";
    rrelu_check(name, lower, upper)?;
    let Some(noise) = noise else {
        let slope = (lower + upper) / 2.0;
        return binary(name, &LeakyReluBackward { slope }, grad_output, x, "x", out);
    };
    let [g, x] = extract_all(name, [grad_output, x])?;
    check_same_shape(name, g.untyped(), x.untyped(), "x")?;
    match (g, x) {
        (Arr::F32(g), Arr::F32(x)) => {
            let r = rrelu_slopes::<f32>(name, noise, x.shape())?;
            run_with(name, &PreluBackward, [g, x, r], None, out)
        }
        (Arr::F64(g), Arr::F64(x)) => {
            let r = rrelu_slopes::<f64>(name, noise, x.shape())?;
            run_with(name, &PreluBackward, [g, x, r], None, out)
        }
        _ => unreachable!(),
    }
}

/// Registers the functions of this block.
fn add_axis_functions(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(softmax, m)?)?;
    m.add_function(wrap_pyfunction!(softmax_backward, m)?)?;
    m.add_function(wrap_pyfunction!(log_softmax, m)?)?;
    m.add_function(wrap_pyfunction!(log_softmax_backward, m)?)?;
    m.add_function(wrap_pyfunction!(glu, m)?)?;
    m.add_function(wrap_pyfunction!(glu_backward, m)?)?;
    m.add_function(wrap_pyfunction!(rrelu, m)?)?;
    m.add_function(wrap_pyfunction!(rrelu_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(rrelu_backward, m)?)?;
    Ok(())
}

// Free-threaded CPython (3.13t/3.14t): the module keeps no Python-visible state of its own; the
// Rust globals (thread pool, buffer cache, SIMD level) are behind locks or atomics, and kernels
// already run with the GIL released. So it declares it does not need the GIL.
#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(sigmoid, m)?)?;
    m.add_function(wrap_pyfunction!(sigmoid_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(sigmoid_backward, m)?)?;
    m.add_function(wrap_pyfunction!(tanh, m)?)?;
    m.add_function(wrap_pyfunction!(tanh_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(tanh_backward, m)?)?;
    m.add_function(wrap_pyfunction!(relu, m)?)?;
    m.add_function(wrap_pyfunction!(relu_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(relu_backward, m)?)?;
    m.add_function(wrap_pyfunction!(leaky_relu, m)?)?;
    m.add_function(wrap_pyfunction!(leaky_relu_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(leaky_relu_backward, m)?)?;
    m.add_function(wrap_pyfunction!(prelu, m)?)?;
    m.add_function(wrap_pyfunction!(prelu_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(prelu_backward, m)?)?;
    m.add_function(wrap_pyfunction!(elu, m)?)?;
    m.add_function(wrap_pyfunction!(elu_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(elu_backward, m)?)?;
    m.add_function(wrap_pyfunction!(gelu, m)?)?;
    m.add_function(wrap_pyfunction!(gelu_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(gelu_backward, m)?)?;
    m.add_function(wrap_pyfunction!(silu, m)?)?;
    m.add_function(wrap_pyfunction!(silu_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(silu_backward, m)?)?;
    m.add_function(wrap_pyfunction!(mish, m)?)?;
    m.add_function(wrap_pyfunction!(mish_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(mish_backward, m)?)?;
    m.add_function(wrap_pyfunction!(softplus, m)?)?;
    m.add_function(wrap_pyfunction!(softplus_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(softplus_backward, m)?)?;
    m.add_function(wrap_pyfunction!(logsigmoid, m)?)?;
    m.add_function(wrap_pyfunction!(logsigmoid_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(logsigmoid_backward, m)?)?;
    m.add_function(wrap_pyfunction!(softsign, m)?)?;
    m.add_function(wrap_pyfunction!(softsign_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(softsign_backward, m)?)?;
    m.add_function(wrap_pyfunction!(tanhshrink, m)?)?;
    m.add_function(wrap_pyfunction!(tanhshrink_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(tanhshrink_backward, m)?)?;
    m.add_function(wrap_pyfunction!(selu, m)?)?;
    m.add_function(wrap_pyfunction!(selu_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(selu_backward, m)?)?;
    m.add_function(wrap_pyfunction!(celu, m)?)?;
    m.add_function(wrap_pyfunction!(celu_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(celu_backward, m)?)?;
    m.add_function(wrap_pyfunction!(hardtanh, m)?)?;
    m.add_function(wrap_pyfunction!(hardtanh_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(hardtanh_backward, m)?)?;
    m.add_function(wrap_pyfunction!(relu6, m)?)?;
    m.add_function(wrap_pyfunction!(relu6_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(relu6_backward, m)?)?;
    m.add_function(wrap_pyfunction!(hardsigmoid, m)?)?;
    m.add_function(wrap_pyfunction!(hardsigmoid_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(hardsigmoid_backward, m)?)?;
    m.add_function(wrap_pyfunction!(hardswish, m)?)?;
    m.add_function(wrap_pyfunction!(hardswish_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(hardswish_backward, m)?)?;
    m.add_function(wrap_pyfunction!(softshrink, m)?)?;
    m.add_function(wrap_pyfunction!(softshrink_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(softshrink_backward, m)?)?;
    m.add_function(wrap_pyfunction!(hardshrink, m)?)?;
    m.add_function(wrap_pyfunction!(hardshrink_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(hardshrink_backward, m)?)?;
    m.add_function(wrap_pyfunction!(threshold, m)?)?;
    m.add_function(wrap_pyfunction!(threshold_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(threshold_backward, m)?)?;
    m.add_function(wrap_pyfunction!(two_relu, m)?)?;
    m.add_function(wrap_pyfunction!(two_relu_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(two_relu_backward, m)?)?;
    m.add_function(wrap_pyfunction!(maxout, m)?)?;
    m.add_function(wrap_pyfunction!(maxout_backward, m)?)?;
    m.add_function(wrap_pyfunction!(_after_fork, m)?)?;
    m.add_function(wrap_pyfunction!(_runtime, m)?)?;
    m.add_function(wrap_pyfunction!(_ignored_settings, m)?)?;
    m.add_function(wrap_pyfunction!(_set_simd, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(_buffer_cache, m)?)?;
    m.add_function(wrap_pyfunction!(_vector_math, m)?)?;
    m.add_function(wrap_pyfunction!(_simd_levels, m)?)?;
    add_axis_functions(m)?;
    Ok(())
}
