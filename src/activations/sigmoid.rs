//! Logistic sigmoid.
//!
//! `sigmoid(x) = 1 / (1 + e^-x)`, computed as `(x >= 0 ? 1 : e) / (1 + e)` with `e = e^-|x|`:
//! no overflow, and the negative tail keeps full relative accuracy down to the subnormals.
//! `e` is carried as `2^k (h + l)` and `1 + e` as a pair, so each result is rounded once
//! (within 1 ulp; see [`crate::math::div_pair`]).

use super::c;
use crate::math::{MathConsts, OnePlusExp, div_pair, one_plus_exp_neg, scale_down, square_pair};
use crate::simd::{Kernel, Real, Vector};

/// `e^-|x|` and `1 + e^-|x|`, with `|x|` clamped where `e` rounds to 0.
#[inline(always)]
fn parts<V: Vector>(x: V) -> OnePlusExp<V> {
    let a = x.abs();
    let lo = c::<V>(-V::Elem::EXP_LO);
    one_plus_exp_neg(V::select(a.gt(lo), lo, a))
}

pub struct Sigmoid;
impl<T: Real> Kernel<T, 1> for Sigmoid {
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let e = parts(x);
        let pos = x.ge(c(0.0));
        let y = div_pair(
            V::select(pos, c(1.0), e.h),
            V::select(pos, c(0.0), e.l),
            e.dh,
            e.dl,
        );
        // x < 0: the quotient still lacks the 2^k of e.
        V::select(pos, y, scale_down(y, e.pk))
    }
}

/// `sigmoid'(x) = sigmoid(x) sigmoid(-x) = e / (1 + e (2 + e))` with `e = e^-|x|`: accurate in both tails
/// (float32 x = 20 gives 2.0611537e-9, where `y (1 - y)` from the output gives 0).
pub struct SigmoidDerivative;
impl<T: Real> Kernel<T, 1> for SigmoidDerivative {
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let e = parts(x);
        let (sh, sl) = square_pair(e.dh, e.dl);
        scale_down(div_pair(e.h, e.l, sh, sl), e.pk)
    }
}

/// `g * (1 - y) * y` from the saved output `y`, as ATen's `sigmoid_backward`. Exact to that
/// arithmetic; it is 0 wherever `y` has rounded to 1 (x above about 17 in float32): use
/// [`SigmoidDerivative`] for the tails.
pub struct SigmoidBackward;
impl<T: Real> Kernel<T, 2> for SigmoidBackward {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, y]: [V; 2]) -> V {
        g * (c::<V>(1.0) - y) * y
    }
}
