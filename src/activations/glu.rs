//! Gated linear unit: `glu(x) = a σ(b)`, with `a` and `b` the first and second halves of `x`
//! along one axis (Dauphin et al. 2017; `torch.nn.functional.glu`).
//!
//! The halves are two strided views of the same array, so the kernels are elementwise over the
//! output's shape ([`crate::strided::elementwise`]) with no copy.

use super::c;
use crate::math::{MathConsts, exp_mul_pair, one_plus_exp_neg, recip_pair, square_pair};
use crate::simd::{Kernel, Real, Vector};

/// `(-|b|, 1 + e^-|b|)`: the pair `(dh, dl)`, with `|b|` clamped where `e` no longer shows.
#[inline(always)]
fn one_plus_e<V: Vector>(b: V) -> (V, V, V) {
    let a = b.abs();
    let lo = c::<V>(4.0 - V::Elem::EXP_LO);
    let e = one_plus_exp_neg(V::select(a.gt(lo), lo, a));
    (-a, e.dh, e.dl)
}

/// `v` where finite, else 0: a correction term must not turn an infinite result into NaN.
#[inline(always)]
fn finite_or_0<V: Vector>(v: V) -> V {
    V::select(v.abs().lt(c(f64::INFINITY)), v, c(0.0))
}

/// `a (zh + zl)` for `b >= 0`, `a (zh + zl) e^-|b|` otherwise, rounded once; the product by `e`
/// goes through [`exp_mul_pair`], so it keeps full precision where `e` or `σ(b)` alone would be
/// subnormal or 0 (`a` large); an infinite `a` with a finite `b` gives `±inf`.
#[inline(always)]
fn times_e_below_0<V: Vector>(a: V, b: V, nb: V, zh: V, zl: V) -> V {
    let pos = a.mul_add(zh, finite_or_0(a) * zl);
    V::select(b.ge(c(0.0)), pos, exp_mul_pair(nb, a, zh, zl))
}

/// `a σ(b) = a / (1 + e)` for `b >= 0`, else `a e / (1 + e)`, `e = e^-|b|`, rounded once.
#[inline(always)]
pub fn mul_sigmoid<V: Vector>(a: V, b: V) -> V {
    let (nb, dh, dl) = one_plus_e(b);
    let (zh, zl) = recip_pair(dh, dl);
    times_e_below_0(a, b, nb, zh, zl)
}

/// `a σ'(b) = a e / (1 + e)^2`, `e = e^-|b|`, rounded once, accurate in both tails.
#[inline(always)]
pub fn mul_sigmoid_derivative<V: Vector>(a: V, b: V) -> V {
    let (nb, dh, dl) = one_plus_e(b);
    let (sh, sl) = square_pair(dh, dl);
    let (zh, zl) = recip_pair(sh, sl);
    // b >= 0 too: e is then applied through exp_mul_pair.
    exp_mul_pair(nb, a, zh, zl)
}

/// `[a, b] -> a σ(b)`.
pub struct Glu;
impl<T: Real> Kernel<T, 2> for Glu {
    const COST: usize = 8;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [a, b]: [V; 2]) -> V {
        mul_sigmoid(a, b)
    }
}

/// The gradient for the first half: `[g, b] -> g σ(b)`.
pub struct GluBackwardA;
impl<T: Real> Kernel<T, 2> for GluBackwardA {
    const COST: usize = 8;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, b]: [V; 2]) -> V {
        mul_sigmoid(g, b)
    }
}

/// The gradient for the second half: `[g, a, b] -> g a σ'(b)`, with `σ'(b) = σ(b) σ(-b)`
/// computed as `e / (1 + e)^2`, `e = e^-|b|` (accurate in both tails, where `σ (1 - σ)` from a
/// rounded σ gives 0): `a σ'(b)` rounded once, then the product by `g`.
pub struct GluBackwardB;
impl<T: Real> Kernel<T, 3> for GluBackwardB {
    const COST: usize = 8;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, a, b]: [V; 3]) -> V {
        // a σ'(b) first (at most |a| / 4, so g a may overflow where the result does not)
        g * mul_sigmoid_derivative(a, b)
    }
}
