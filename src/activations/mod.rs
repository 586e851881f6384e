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
pub mod glu;
pub mod hard;
pub mod maxout;
pub mod mish;
pub mod relu;
pub mod sigmoid;
pub mod smooth;
pub mod softmax;
pub mod tanh;

use crate::math::{MathConsts, exp_pair};
use crate::simd::{Real, Vector, Wide};

#[inline(always)]
pub(crate) fn c<V: Vector>(v: f64) -> V {
    V::splat(V::Elem::from_f64(v))
}

/// `x > 0 ? pos : (x <= 0 ? nonpos : x)`: the piecewise rule above, NaN passed through.
#[inline(always)]
pub(crate) fn piecewise<V: Vector>(x: V, pos: V, nonpos: V) -> V {
    V::select(x.gt(c(0.0)), pos, V::select(x.le(c(0.0)), nonpos, x))
}

pub(crate) use crate::math::poly;

/// The float32 or the float64 table, by the element type.
#[inline(always)]
pub(crate) fn by_type<V: Vector>(f32s: &'static [f64], f64s: &'static [f64]) -> &'static [f64] {
    if V::Elem::MANTISSA_DIGITS == 24 {
        f32s
    } else {
        f64s
    }
}

pub(crate) use crate::math::split;

/// True for float32 vectors: kernels that evaluate float32 through float64
/// ([`crate::simd::via_f64`]) branch on it (a constant, so only one branch is compiled).
#[inline(always)]
pub(crate) fn narrow<V: Vector>() -> bool {
    V::Elem::MANTISSA_DIGITS == 24
}

/// `c * x` for a constant `c = (hi, lo)`, as a rounded product and a correction.
#[inline(always)]
pub(crate) fn times_const<V: Vector>(x: V, (hi, lo): (f64, f64)) -> (V, V) {
    let (h, l) = split::<V>(hi, lo);
    let (p, pl) = crate::math::two_prod(h, x);
    let pl = l.mul_add(x, pl);
    (p, V::select(p.abs().lt(c(f64::INFINITY)), pl, c(0.0)))
}

/// `e^x = 2^k (h + l)` for `x <= 0` as `(k, h, l)`: `k` integer-valued, `h + l` a pair in
/// `[0.7, 1.42]`. `x` is clamped at `EXP_MUL_LO`, below which every `a y e^x` with moderate `y`
/// rounds to 0 for finite `a` (but stays infinite for infinite `a`); below `-1e4` `h = l = 0`, so
/// that factors growing with `|x|` cannot overflow there (an infinite `a` then gives NaN, as
/// `inf * 0`). Carrying `2^k` apart lets a product with `e^x` be formed first and scaled last.
#[inline(always)]
pub(crate) fn exp_split_pair<V: Vector>(x: V) -> (V, V, V) {
    let lo = V::Elem::EXP_MUL_LO;
    let (k, h, l) = exp_pair(V::select(x.lt(c(lo)), c(lo), x));
    let far = x.lt(c(-1e4));
    (k, V::select(far, c(0.0), h), V::select(far, c(0.0), l))
}

/// `a y 2^k` for integer-valued `k` in the range [`exp_split_pair`] gives, rounded about once, as
/// [`crate::math::exp_mul`] does: `k2 = ceil(k / 3)`, `k1 = k - 2 k2`, `((y 2^k1) a) 2^k2 2^k2`;
/// `y 2^k1` is exact for moderate `y`, the product with `a` is the rounding, and the last two
/// scalings only round where the result is subnormal. `a` may be huge (a gradient): it enters
/// after `y` has been scaled down, so nothing overflows that the result does not.
#[inline(always)]
pub(crate) fn mul_pow2<V: Vector>(y: V, a: V, k: V) -> V {
    let magic = c::<V>(V::Elem::ROUND_MAGIC);
    let k2 = (k.mul_add(c(1.0 / 3.0), c(1.0 / 3.0)) + magic) - magic;
    let k1 = k - (k2 + k2);
    let s2 = k2.pow2i();
    (((y * k1.pow2i()) * a) * s2) * s2
}

/// `a (q + r) 2^k`, rounded once, as [`mul_pow2`] with a pair `q + r` (`|r|` well below `|q|`,
/// or both 0); an infinite `a` gives `a q 2^k` (no `inf * 0` from a zero `r`). The sign is that of
/// `a q`, also where the result is 0 (`a = -0` and `r < 0` would otherwise give `+0`).
#[inline(always)]
pub(crate) fn mul_pow2_pair<V: Vector>(q: V, r: V, a: V, k: V) -> V {
    let magic = c::<V>(V::Elem::ROUND_MAGIC);
    let k2 = (k.mul_add(c(1.0 / 3.0), c(1.0 / 3.0)) + magic) - magic;
    let s1 = (k - (k2 + k2)).pow2i();
    let s2 = k2.pow2i();
    let corr = (r * s1) * a;
    let corr = V::select(corr.abs().lt(c(f64::INFINITY)), corr, c(0.0));
    ((((q * s1).mul_add(a, corr)) * s2) * s2).copysign(a * q)
}

/// The derivative and backward kernels of a derivative computed as `(q + r) 2^k` (`$parts(x)`
/// returns `(q, r, k)`, a pair and `k` from [`exp_split_pair`], 0 where the derivative is not
/// exponentially small; a zero `q` carries the derivative's sign): the derivative is
/// [`mul_pow2_pair`]`(q, r, 1, k)`, the backward `mul_pow2_pair(q, r, g, k)`, so `g d` is rounded
/// once for any `g`, even where `d` alone would be subnormal or 0. With `wide = $wide`, float32
/// goes through float64 instead ([`crate::simd::via_f64`]): the derivative is `$wide(x)`, the
/// backward `g $wide(x)`, each rounded once to float32.
macro_rules! scaled_derivative {
    ($(#[$dd:meta])* $deriv:ident, $(#[$bd:meta])* $back:ident, $parts:path, $cost:expr
     $(, wide = $wide:path)?) => {
        $(#[$dd])*
        pub struct $deriv;
        impl<T: Real> Kernel<T, 1> for $deriv {
            const COST: usize = $cost;
            #[inline(always)]
            fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
                $(
                    if super::narrow::<V>() {
                        return crate::simd::via_f64(&super::Wide1($wide), [x]);
                    }
                )?
                let (q, r, k) = $parts(x);
                super::mul_pow2_pair(q, r, super::c(1.0), k)
            }
        }
        $(#[$bd])*
        pub struct $back;
        impl<T: Real> Kernel<T, 2> for $back {
            const COST: usize = $cost;
            #[inline(always)]
            fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
                $(
                    if super::narrow::<V>() {
                        return crate::simd::via_f64(&super::Wide2($wide), [g, x]);
                    }
                )?
                let (q, r, k) = $parts(x);
                super::mul_pow2_pair(q, r, g, k)
            }
        }
    };
}
pub(crate) use scaled_derivative;

/// A float64 derivative `d(x)` as a [`Wide`] kernel: `d(x)` (`Wide1`) and `g d(x)` (`Wide2`).
pub(crate) struct Wide1<F>(pub F);
pub(crate) struct Wide2<F>(pub F);

/// A function generic over the float64 vector type (a plain `fn` cannot be: it is passed as a
/// zero-sized value implementing this, one per derivative).
pub(crate) trait WideFn {
    fn at<W: Vector<Elem = f64>>(&self, x: W) -> W;
}
impl<F: WideFn> Wide<1> for Wide1<F> {
    #[inline(always)]
    fn eval64<W: Vector<Elem = f64>>(&self, [x]: [W; 1]) -> W {
        self.0.at(x)
    }
}
impl<F: WideFn> Wide<2> for Wide2<F> {
    #[inline(always)]
    fn eval64<W: Vector<Elem = f64>>(&self, [g, x]: [W; 2]) -> W {
        g * self.0.at(x)
    }
}
