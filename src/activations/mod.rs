//! The activations: one file per family, each with forward, derivative and backward kernels.
//!
//! Elementwise kernels are [`Kernel`](crate::simd::Kernel)s (structs holding their parameters);
//! run them with [`crate::apply`], [`crate::apply_inplace`] or, for N-d strided arrays,
//! [`crate::strided::elementwise`]. Backward kernels take `[grad_output, x or saved output]`.
//!
//! Convention for the piecewise functions: the `x > 0` branch is taken for positive x only; `x = 0`
//! (either sign) takes the other branch, and NaN in x gives NaN.

pub mod elu;
pub mod gelu;
pub mod hard;
pub mod maxout;
pub mod relu;
pub mod sigmoid;
pub mod smooth;
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

/// Horner's scheme, coefficients from the constant term up.
#[inline(always)]
pub(crate) fn poly<V: Vector>(x: V, coeffs: &[f64]) -> V {
    let mut acc = c::<V>(coeffs[coeffs.len() - 1]);
    for &k in coeffs[..coeffs.len() - 1].iter().rev() {
        acc = acc.mul_add(x, c(k));
    }
    acc
}

/// The float32 or the float64 table, by the element type.
#[inline(always)]
pub(crate) fn by_type<V: Vector>(f32s: &'static [f64], f64s: &'static [f64]) -> &'static [f64] {
    if V::Elem::MANTISSA_DIGITS == 24 {
        f32s
    } else {
        f64s
    }
}

/// A constant `hi + lo` (given as two f64) as two values of the element type, `hi` rounded to it
/// and `lo` the rest, so that `x - hi - lo` keeps the constant's full precision.
#[inline(always)]
pub(crate) fn split<V: Vector>(hi: f64, lo: f64) -> (V, V) {
    let h = V::Elem::from_f64(hi);
    (V::splat(h), c((hi - h.to_f64()) + lo))
}

/// `x - (hi + lo)` for a constant given as [`split`] parts: exact where `x` is within a factor 2
/// of the constant (Sterbenz), then one rounding.
#[inline(always)]
pub(crate) fn minus<V: Vector>(x: V, (hi, lo): (V, V)) -> V {
    (x - hi) - lo
}

/// Power of two used to keep `e^x` normal where a product with it would be subnormal:
/// `exp_nonpositive_scaled(x, SCALE_BITS)` then a final `* 2^-SCALE_BITS`.
pub(crate) const SCALE_BITS: i32 = 24;
pub(crate) const UNSCALE: f64 = 1.0 / 16777216.0;
pub(crate) const SCALE: f64 = 16777216.0;

/// `g * d` from `s = 2^SCALE_BITS d` (a derivative kept scaled): `(g s) 2^-SCALE_BITS`, rounded
/// once even where the result is subnormal; `g (s 2^-SCALE_BITS)` where `g s` would overflow.
#[inline(always)]
pub(crate) fn grad_scaled<V: Vector>(g: V, s: V) -> V {
    let p = g * s;
    V::select(
        p.abs().lt(c(f64::INFINITY)),
        p * c(UNSCALE),
        g * (s * c(UNSCALE)),
    )
}

/// The derivative and backward kernels of a derivative computed scaled by `2^SCALE_BITS`
/// (`$scaled(x)`): the derivative is the scaled value times `2^-SCALE_BITS`, the backward
/// [`grad_scaled`].
macro_rules! scaled_derivative {
    ($(#[$dd:meta])* $deriv:ident, $(#[$bd:meta])* $back:ident, $scaled:path, $cost:expr) => {
        $(#[$dd])*
        pub struct $deriv;
        impl<T: Real> Kernel<T, 1> for $deriv {
            const COST: usize = $cost;
            #[inline(always)]
            fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
                $scaled(x) * super::c(super::UNSCALE)
            }
        }
        $(#[$bd])*
        pub struct $back;
        impl<T: Real> Kernel<T, 2> for $back {
            const COST: usize = $cost;
            #[inline(always)]
            fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
                super::grad_scaled(g, $scaled(x))
            }
        }
    };
}
pub(crate) use scaled_derivative;
