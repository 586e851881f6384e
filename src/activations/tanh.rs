//! Hyperbolic tangent.

use super::c;
use crate::math::{div_pair, one_plus_exp_neg, scale_down, square_pair, tanh};
use crate::simd::{Kernel, Real, Vector};

/// `tanh(x)`; `tanh(-0) = -0`.
pub struct Tanh;
impl<T: Real> Kernel<T, 1> for Tanh {
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        tanh(x)
    }
}

/// `tanh'(x) = 1 - tanh(x)^2 = 4e / (1 + e)^2` with `e = e^-2|x|`: no cancellation, so the tails
/// keep full relative accuracy; `e` and `(1 + e)^2` are pairs, so the result is rounded once.
pub struct TanhDerivative;
impl<T: Real> Kernel<T, 1> for TanhDerivative {
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        // Above 1 - EXP_LO / 2, 4e rounds to 0 (4 < e^2).
        let a = x.abs();
        let lo = c::<V>(1.0 - 0.5 * V::Elem::EXP_LO);
        let e = one_plus_exp_neg(V::select(a.gt(lo), lo, a) * c(2.0));
        let (sh, sl) = square_pair(e.dh, e.dl);
        scale_down(div_pair(e.h, e.l, sh, sl), e.pk * c(4.0))
    }
}

/// `g * (1 - y^2)` from the saved output `y`, as ATen's `tanh_backward`, but evaluated as
/// `g * ((1 - y) * (1 + y))`: one of the two factors is exact near `|y| = 1`, so there is no
/// cancellation. `y` itself has lost the tails: use [`TanhDerivative`] there.
pub struct TanhBackward;
impl<T: Real> Kernel<T, 2> for TanhBackward {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, y]: [V; 2]) -> V {
        g * ((c::<V>(1.0) - y) * (c::<V>(1.0) + y))
    }
}
