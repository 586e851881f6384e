//! Hyperbolic tangent.

use super::c;
use crate::math::{exp_nonpositive_scaled, tanh};
use crate::simd::{Kernel, Real, Vector};

/// `tanh(x)`; `tanh(-0) = -0`.
pub struct Tanh;
impl<T: Real> Kernel<T, 1> for Tanh {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        tanh(x)
    }
}

/// `tanh'(x) = 1 - tanh(x)^2 = 4e / (1 + e (2 + e))` with `e = e^-2|x|`: no cancellation, so the tails
/// keep full relative accuracy.
pub struct TanhDerivative;
impl<T: Real> Kernel<T, 1> for TanhDerivative {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let a = x.abs();
        // 4e rounded once (4e is normal where e alone would be subnormal), then e = 4e / 4.
        let e4 = exp_nonpositive_scaled(-(a + a), 2);
        let e = e4 * c(0.25);
        // (1 + e)^2 = 1 + e (2 + e), rounded once by the fused multiply-add.
        e4 / e.mul_add(e + c(2.0), c(1.0))
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
