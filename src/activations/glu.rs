//! Gated linear unit: `glu(x) = a σ(b)`, with `a` and `b` the first and second halves of `x`
//! along one axis (Dauphin et al. 2017; `torch.nn.functional.glu`).
//!
//! The halves are two strided views of the same array, so the kernels are elementwise over the
//! output's shape ([`crate::strided::elementwise`]) with no copy.

use super::{c, narrow};
use crate::math::{
    MathConsts, exp_pair, exp_wide, fast_two_sum, mul_exp_pair, recip_pair, square_pair,
};
use crate::simd::{Kernel, Real, Vector, Wide, via_f64};

/// `e = e^-|b| = 2^k (h + l)` (|b| clamped at `-EXP_MUL_LO`) and `1 + e = dh + dl`.
#[inline(always)]
fn parts<V: Vector>(b: V) -> ([V; 3], V, V) {
    let a = b.abs();
    let lo = c::<V>(-V::Elem::EXP_MUL_LO);
    let (k, h, l) = exp_pair(-V::select(a.gt(lo), lo, a));
    // 2^k, clamped where 2^k h no longer shows next to 1 (and 2^k is not a normal number).
    let ek = V::select(k.lt(c(-100.0)), c(-100.0), k).pow2i();
    let (dh, dl) = fast_two_sum(c(1.0), ek * h);
    ([k, h, l], dh, ek.mul_add(l, dl))
}

/// `v` where finite, else 0: a correction term must not turn an infinite result into NaN.
#[inline(always)]
fn finite_or_0<V: Vector>(v: V) -> V {
    V::select(v.abs().lt(c(f64::INFINITY)), v, c(0.0))
}

/// `a σ(b) = a / (1 + e)` for `b >= 0`, else `a e / (1 + e)`, `e = e^-|b|`, rounded once; the
/// product by `e` goes through [`mul_exp_pair`], so it keeps full precision where `e` or `σ(b)`
/// alone would be subnormal or 0 (`a` large); an infinite `a` with a finite `b` gives `±inf`.
#[inline(always)]
pub fn mul_sigmoid<V: Vector>(a: V, b: V) -> V {
    if narrow::<V>() {
        return via_f64(&MulSigmoidWide, [a, b]);
    }
    let ([k, h, l], dh, dl) = parts(b);
    let (zh, zl) = recip_pair(dh, dl);
    let pos = a.mul_add(zh, finite_or_0(a) * zl);
    V::select(
        b.ge(c(0.0)),
        pos,
        times_e(b, mul_exp_pair(k, h, l, a, zh, zl), a, zh),
    )
}

/// `a σ'(b) = a e / (1 + e)^2`, `e = e^-|b|`, rounded once, accurate in both tails.
#[inline(always)]
pub fn mul_sigmoid_derivative<V: Vector>(a: V, b: V) -> V {
    if narrow::<V>() {
        return via_f64(&MulSigmoidDerivativeWide, [a, b]);
    }
    let ([k, h, l], dh, dl) = parts(b);
    let (sh, sl) = square_pair(dh, dl);
    let (zh, zl) = recip_pair(sh, sl);
    times_e(b, mul_exp_pair(k, h, l, a, zh, zl), a, zh)
}

/// float32 through float64: `e = e^-|b|` ([`exp_wide`]), where it underflows (and `b` is finite)
/// the least subnormal instead, so that an infinite `a` still gives `±inf` (and a finite one 0).
#[inline(always)]
fn wide_e<W: Vector<Elem = f64>>(b: W) -> W {
    let e = exp_wide(-b.abs());
    let tiny = W::select(b.abs().lt(c(f64::INFINITY)), c(f64::from_bits(1)), c(0.0));
    W::select(e.lt(tiny), tiny, e)
}

/// `a σ(b)`: `a / (1 + e)` for `b >= 0`, else `a e / (1 + e)`, in float64.
struct MulSigmoidWide;
impl Wide<2> for MulSigmoidWide {
    #[inline(always)]
    fn eval64<W: Vector<Elem = f64>>(&self, [a, b]: [W; 2]) -> W {
        let e = wide_e(b);
        W::select(b.ge(c(0.0)), a, a * e) / (e + c(1.0))
    }
}

/// `a σ'(b) = a e / (1 + e)^2`, in float64.
struct MulSigmoidDerivativeWide;
impl Wide<2> for MulSigmoidDerivativeWide {
    #[inline(always)]
    fn eval64<W: Vector<Elem = f64>>(&self, [a, b]: [W; 2]) -> W {
        let e = wide_e(b);
        let d = e + c(1.0);
        (a * e) / (d * d)
    }
}

/// `v`, or `a * 0 * z` where `b` is infinite (`e = 0` exactly: NaN for an infinite `a`).
#[inline(always)]
fn times_e<V: Vector>(b: V, v: V, a: V, z: V) -> V {
    V::select(b.abs().lt(c(f64::INFINITY)), v, (a * c(0.0)) * z)
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
