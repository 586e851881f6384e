//! The activations: one file per family, each with forward, derivative and backward kernels.
//!
//! Elementwise kernels are [`Kernel`](crate::simd::Kernel)s (structs holding their parameters);
//! run them with [`crate::apply`], [`crate::apply_inplace`] or, for N-d strided arrays,
//! [`crate::strided::elementwise`]. Backward kernels take `[grad_output, x or saved output]`.
//!
//! Convention for the piecewise functions: the `x > 0` branch is taken for positive x only; `x = 0`
//! (either sign) takes the other branch, and NaN in x gives NaN.

pub mod elu;
pub mod glu;
pub mod maxout;
pub mod relu;
pub mod sigmoid;
pub mod softmax;
pub mod tanh;

use crate::simd::{Real, Vector};

#[inline(always)]
pub(crate) fn c<V: Vector>(v: f64) -> V {
    V::splat(V::Elem::from_f64(v))
}

/// `x > 0 ? pos : (x <= 0 ? nonpos : x)`: the piecewise rule above, NaN passed through.
#[inline(always)]
pub(crate) fn piecewise<V: Vector>(x: V, pos: V, nonpos: V) -> V {
    V::select(x.gt(c(0.0)), pos, V::select(x.le(c(0.0)), nonpos, x))
}
