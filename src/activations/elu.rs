//! Exponential linear unit: `elu(x) = x` for `x > 0`, `alpha * expm1(x)` otherwise.

use super::{c, piecewise};
use crate::math::{exp_mul, expm1_nonpositive};
use crate::simd::{Kernel, Real, Vector};

/// `elu(x)`; near 0- it uses expm1, so `elu(-1e-10) = -1e-10 alpha` to full precision;
/// `elu(-0) = -0` for `alpha > 0`; `elu(-inf) = -alpha`.
pub struct Elu {
    pub alpha: f64,
}
impl<T: Real> Kernel<T, 1> for Elu {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        piecewise(x, x, c::<V>(self.alpha) * expm1_nonpositive(x))
    }
}

/// `elu'(x) = 1` for `x > 0`, `alpha e^x` otherwise (`alpha` at 0).
pub struct EluDerivative {
    pub alpha: f64,
}
impl<T: Real> Kernel<T, 1> for EluDerivative {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        piecewise(x, c(1.0), exp_mul(x, c(self.alpha), c(1.0)))
    }
}

/// Backward from the input: `g` for `x > 0`, `g alpha e^x` otherwise, rounded once (no
/// overflow of `g alpha`, no subnormal `e^x` on the way).
pub struct EluBackward {
    pub alpha: f64,
}
impl<T: Real> Kernel<T, 2> for EluBackward {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        piecewise(x, g, exp_mul(x, g, c(self.alpha)))
    }
}

/// Backward from the saved output `y`: `g` for `y > 0`, `g (y + alpha)` otherwise (no exp).
pub struct EluBackwardFromOutput {
    pub alpha: f64,
}
impl<T: Real> Kernel<T, 2> for EluBackwardFromOutput {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, y]: [V; 2]) -> V {
        piecewise(y, g, g * (y + c::<V>(self.alpha)))
    }
}
