//! nonlin: activation functions and their gradients, on slices and strided arrays.
//!
//! Every elementwise activation is a [`Kernel`] struct in [`activations`]; run it over slices
//! with [`apply`] (one input), [`apply2`] (backward: gradient and input) or in place with
//! [`apply_inplace`]:
//!
//! ```
//! use nonlin::activations::sigmoid::{Sigmoid, SigmoidDerivative};
//! let x = [-2.0f32, 0.0, 20.0];
//! let mut y = [0.0f32; 3];
//! nonlin::apply(&Sigmoid, &x, &mut y);
//! assert_eq!(y[1], 0.5);
//! nonlin::apply(&SigmoidDerivative, &x, &mut y);
//! assert!(y[2] > 2.0e-9); // accurate in the tail, not 0
//! ```
//!
//! The Python extension (`--features python`) lives in the `python` module and adds nothing
//! to the kernels.

pub mod accuracy;
pub mod activations;
pub mod env;
pub mod math;
pub mod parallel;
pub mod pool;
pub mod simd;
pub mod strided;

#[cfg(feature = "python")]
mod python;

pub use simd::{Kernel, Level, Real, Vector, level};

/// `out[i] = k(x[i])`, on the calling thread or, for large slices, in parallel.
pub fn apply<T: Real, K: Kernel<T, 1>>(k: &K, x: &[T], out: &mut [T]) {
    assert_eq!(x.len(), out.len(), "apply: x and out differ in length");
    unsafe { contiguous(k, [x.as_ptr()], out.as_mut_ptr(), x.len()) }
}

/// `x[i] = k(x[i])`.
pub fn apply_inplace<T: Real, K: Kernel<T, 1>>(k: &K, x: &mut [T]) {
    let p = x.as_mut_ptr();
    unsafe { contiguous(k, [p as *const T], p, x.len()) }
}

/// `out[i] = k(a[i], b[i])`: backward kernels take `(grad_output, x or saved output)`.
pub fn apply2<T: Real, K: Kernel<T, 2>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
    assert!(
        a.len() == out.len() && b.len() == out.len(),
        "apply2: lengths differ"
    );
    unsafe { contiguous(k, [a.as_ptr(), b.as_ptr()], out.as_mut_ptr(), out.len()) }
}

/// # Safety
/// As [`strided::elementwise`] for a 1-d contiguous shape of `n` elements.
unsafe fn contiguous<T: Real, K: Kernel<T, N>, const N: usize>(
    k: &K,
    srcs: [*const T; N],
    dst: *mut T,
    n: usize,
) {
    let views = srcs.map(|ptr| strided::View { ptr, strides: &[1] });
    unsafe { strided::elementwise(k, &[n], views, dst, &[1]) }
}
