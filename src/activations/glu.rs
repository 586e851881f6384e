//! Gated linear unit: `glu(x) = a σ(b)`, with `a` and `b` the first and second halves of `x`
//! along one axis (Dauphin et al. 2017; `torch.nn.functional.glu`).
//!
//! The halves are two strided views of the same array, so the kernels are elementwise over the
//! output's shape ([`crate::strided::elementwise`]) with no copy.

use super::c;
use crate::math::{exp_mul, exp_nonpositive};
use crate::simd::{Kernel, Real, Vector};

/// `a σ(b)`: `a / (1 + e)` for `b >= 0`, else `(a / (1 + e)) e`, `e = e^-|b|`, the product by `e`
/// rounded about once ([`exp_mul`]) so that it keeps full precision where `e` or `σ(b)` alone
/// would be subnormal or 0 (`a` large); an infinite `a` with a finite `b` gives `±inf`.
#[inline(always)]
pub fn mul_sigmoid<V: Vector>(a: V, b: V) -> V {
    let nb = -b.abs();
    let q = a / (c::<V>(1.0) + exp_nonpositive(nb));
    V::select(b.ge(c(0.0)), q, exp_mul(nb, q, c(1.0)))
}

/// `a σ'(b) = (a / (1 + e)^2) e`, `e = e^-|b|`, accurate in both tails as [`mul_sigmoid`].
#[inline(always)]
pub fn mul_sigmoid_derivative<V: Vector>(a: V, b: V) -> V {
    let nb = -b.abs();
    let e = exp_nonpositive(nb);
    // (1 + e)^2 = 1 + e (2 + e), rounded once by the fused multiply-add.
    exp_mul(nb, a / e.mul_add(e + c(2.0), c(1.0)), c(1.0))
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

/// The gradient for the second half: `[g, a, b] -> g (a σ'(b))`, with `σ'(b) = σ(b) σ(-b)`
/// computed as `e / (1 + e)^2`, `e = e^-|b|` (accurate in both tails, where `σ (1 - σ)` from a
/// rounded σ gives 0). `a σ'(b)` keeps full precision; multiplied by `g`, it is rounded twice
/// where it is subnormal.
pub struct GluBackwardB;
impl<T: Real> Kernel<T, 3> for GluBackwardB {
    const COST: usize = 8;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, a, b]: [V; 3]) -> V {
        g * mul_sigmoid_derivative(a, b)
    }
}
