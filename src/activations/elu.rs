//! Exponential linear unit: `elu(x) = x` for `x > 0`, `alpha * expm1(x)` otherwise.

use super::{c, piecewise};
use crate::math::{exp_mul, expm1_pair};
use crate::simd::{Kernel, Real, Vector};

/// `elu(x)`, rounded once from `alpha` times expm1 as a pair, so `elu(-1e-10) = -1e-10 alpha` to
/// full precision; `elu(-0) = -0` for `alpha > 0`; `elu(-inf) = -alpha`.
pub struct Elu {
    pub alpha: f64,
}
impl<T: Real> Kernel<T, 1> for Elu {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let alpha = c::<V>(self.alpha);
        let (uh, ul) = expm1_pair(V::select(x.lt(c(T::EXPM1_LO)), c(T::EXPM1_LO), x));
        // alpha (uh + ul), rounded once; alpha x near 0, where that is as good and keeps -0.
        let y = alpha.mul_add(uh, alpha * ul);
        let y = V::select(x.abs().lt(c(T::EXPM1_TINY)), alpha * x, y);
        piecewise(x, x, y)
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
