//! Logistic sigmoid.
//!
//! `sigmoid(x) = 1 / (1 + e^-x)`, computed as `(x >= 0 ? 1 : e) / (1 + e)` with `e = e^-|x|`:
//! no overflow, and the negative tail keeps full relative accuracy down to the subnormals.

use super::c;
use crate::math::exp_nonpositive;
use crate::simd::{Kernel, Real, Vector};

pub struct Sigmoid;
impl<T: Real> Kernel<T, 1> for Sigmoid {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let e = exp_nonpositive(-x.abs());
        V::select(x.ge(c(0.0)), c(1.0), e) / (c::<V>(1.0) + e)
    }
}

/// `sigmoid'(x) = sigmoid(x) sigmoid(-x) = e / (1 + e (2 + e))` with `e = e^-|x|`: accurate in both tails
/// (float32 x = 20 gives 2.0611537e-9, where `y (1 - y)` from the output gives 0).
pub struct SigmoidDerivative;
impl<T: Real> Kernel<T, 1> for SigmoidDerivative {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let e = exp_nonpositive(-x.abs());
        // (1 + e)^2 = 1 + e (2 + e), rounded once by the fused multiply-add.
        e / e.mul_add(e + c(2.0), c(1.0))
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
