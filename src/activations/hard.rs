//! The piecewise-linear family: hardtanh, relu6, hardsigmoid, hardswish, softshrink,
//! hardshrink, threshold and the two-ReLU unit.
//!
//! Each forward is one rounding of its formula (or exact); derivatives and backward masks follow
//! ATen's `*_backward` at the break points, except that NaN in `x` gives NaN (ATen's masks let
//! `grad_output` through there).

use super::c;
use crate::simd::{Kernel, Real, Vector};

/// `(hi + lo) / 6` rounded about once, for `|lo| <= ulp(hi)`: a quotient of `hi`, corrected by
/// its exact remainder plus `lo`. The quotient `hi RN(1/6)` needs no division: `RN(1/6)` is
/// within `2^-(p+1)` relative of `1/6` (`p` the precision), so the product is within half an ulp
/// of `hi / 6` before it is rounded, and a faithful quotient leaves an exact remainder. One
/// division (of the remainder, so that exact ties still round to even) instead of two.
#[inline(always)]
fn div6<V: Vector>(hi: V, lo: V) -> V {
    let q = hi * c(1.0 / 6.0);
    let r = (-q).mul_add(c(6.0), hi); // exact
    q + (r + lo) / c(6.0)
}

/// `x + 3` as `(sum, error)`, both exact (Knuth's two-sum).
#[inline(always)]
fn plus3<V: Vector>(x: V) -> (V, V) {
    let s = x + c(3.0);
    let b = s - x;
    (s, (x - (s - b)) + (c::<V>(3.0) - b))
}

/// `min_val < x < max_val`, false for NaN.
#[inline(always)]
fn inside<V: Vector>(x: V, lo: f64, hi: f64) -> V::Mask {
    V::and(x.gt(c(lo)), x.lt(c(hi)))
}

/// `m ? a : b`, NaN where `x` is NaN.
#[inline(always)]
fn mask_or_nan<V: Vector>(x: V, m: V::Mask, a: V, b: V) -> V {
    V::select(x.is_nan(), x, V::select(m, a, b))
}

/// `hardtanh(x) = min(max(x, min_val), max_val)`, exact; NaN passes, `-0` stays `-0` (when
/// `min_val <= 0 <= max_val`).
pub struct Hardtanh {
    pub min_val: f64,
    pub max_val: f64,
}
impl<T: Real> Kernel<T, 1> for Hardtanh {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let x = V::select(x.lt(c(self.min_val)), c(self.min_val), x);
        V::select(x.gt(c(self.max_val)), c(self.max_val), x)
    }
}

/// 1 for `min_val < x < max_val`, 0 otherwise (0 at both ends, as ATen), NaN for NaN.
pub struct HardtanhDerivative {
    pub min_val: f64,
    pub max_val: f64,
}
impl<T: Real> Kernel<T, 1> for HardtanhDerivative {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        mask_or_nan(x, inside(x, self.min_val, self.max_val), c(1.0), c(0.0))
    }
}

/// `g` where `min_val < x < max_val`, 0 elsewhere, NaN where `x` is NaN. The same mask holds for
/// the saved output (`min_val < y < max_val` exactly where `x` is), so `x` or `y` may be given.
pub struct HardtanhBackward {
    pub min_val: f64,
    pub max_val: f64,
}
impl<T: Real> Kernel<T, 2> for HardtanhBackward {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        mask_or_nan(x, inside(x, self.min_val, self.max_val), g, c(0.0))
    }
}

/// `hardsigmoid(x) = relu6(x + 3) / 6`: 0 for `x <= -3`, 1 for `x >= 3`, `(x + 3) / 6`
/// (rounded about once: `x + 3` is carried exactly) in between.
pub struct Hardsigmoid;
impl<T: Real> Kernel<T, 1> for Hardsigmoid {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (s, e) = plus3(x);
        let y = div6(s, e);
        let y = V::select(x.le(c(-3.0)), c(0.0), y);
        V::select(x.ge(c(3.0)), c(1.0), y)
    }
}

/// `1/6` for `-3 < x < 3`, 0 otherwise (0 at both ends, as ATen's `hardsigmoid_backward`), NaN
/// for NaN.
pub struct HardsigmoidDerivative;
impl<T: Real> Kernel<T, 1> for HardsigmoidDerivative {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        mask_or_nan(x, inside(x, -3.0, 3.0), c(1.0 / 6.0), c(0.0))
    }
}

/// `g / 6` where `-3 < x < 3`, 0 elsewhere, NaN where `x` is NaN.
pub struct HardsigmoidBackward;
impl<T: Real> Kernel<T, 2> for HardsigmoidBackward {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        mask_or_nan(x, inside(x, -3.0, 3.0), g / c(6.0), c(0.0))
    }
}

/// `hardswish(x) = x relu6(x + 3) / 6`: `x (x + 3) / 6` on `[-3, 3]`, rounded about once
/// (`x (x + 3)` is carried in two parts), `x` above 3, and zero with the sign of x below -3
/// (`-0`, as PyTorch's formula gives).
pub struct Hardswish;
impl<T: Real> Kernel<T, 1> for Hardswish {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (s, e) = plus3(x);
        let p = x * s;
        let pl = x.mul_add(s, -p) + x * e;
        let y = div6(p, pl).abs();
        let y = V::select(x.lt(c(-3.0)), c(0.0), y);
        V::select(x.gt(c(3.0)), x, y.copysign(x))
    }
}

/// ATen's `hardswish_backward` rule (since PyTorch 1.13): 0 for `x <= -3`,
/// `x / 3 + 1/2 = (2x + 3) / 6` for `-3 < x < 3`, 1 for `x >= 3` (the one-sided limits at the
/// kinks: 0 at -3, 1 at 3); NaN for NaN.
pub struct HardswishDerivative;
impl<T: Real> Kernel<T, 1> for HardswishDerivative {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (s, e) = plus3(x + x);
        let d = div6(s, e);
        let d = V::select(x.le(c(-3.0)), c(0.0), d);
        V::select(x.ge(c(3.0)), c(1.0), d)
    }
}

/// `g * hardswish'(x)` (the derivative above, rounded, times `g`).
pub struct HardswishBackward;
impl<T: Real> Kernel<T, 2> for HardswishBackward {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        g * HardswishDerivative.eval([x])
    }
}

/// `|x| > lambd`, false for NaN.
#[inline(always)]
fn outside<V: Vector>(x: V, lambd: f64) -> V::Mask {
    V::or(x.gt(c(lambd)), x.lt(c(-lambd)))
}

/// `softshrink(x) = x - lambd` for `x > lambd`, `x + lambd` for `x < -lambd`, `+0` otherwise;
/// NaN gives NaN.
pub struct Softshrink {
    pub lambd: f64,
}
impl<T: Real> Kernel<T, 1> for Softshrink {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let l = c::<V>(self.lambd);
        let y = V::select(x.gt(l), x - l, V::select(x.lt(-l), x + l, c(0.0)));
        V::select(x.is_nan(), x, y)
    }
}

/// 1 for `|x| > lambd`, 0 otherwise (0 at `±lambd`, as ATen), NaN for NaN: the derivative of
/// softshrink and of hardshrink.
pub struct ShrinkDerivative {
    pub lambd: f64,
}
impl<T: Real> Kernel<T, 1> for ShrinkDerivative {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        mask_or_nan(x, outside(x, self.lambd), c(1.0), c(0.0))
    }
}

/// `g` where `|x| > lambd`, 0 elsewhere, NaN where `x` is NaN (ATen's `softshrink_backward` and
/// `hardshrink_backward`).
pub struct ShrinkBackward {
    pub lambd: f64,
}
impl<T: Real> Kernel<T, 2> for ShrinkBackward {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        mask_or_nan(x, outside(x, self.lambd), g, c(0.0))
    }
}

/// `hardshrink(x) = x` for `|x| > lambd`, `+0` otherwise; NaN gives NaN.
pub struct Hardshrink {
    pub lambd: f64,
}
impl<T: Real> Kernel<T, 1> for Hardshrink {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        mask_or_nan(x, outside(x, self.lambd), x, c(0.0))
    }
}

/// `threshold(x) = x` for `x > threshold`, `value` otherwise; NaN gives NaN.
pub struct Threshold {
    pub threshold: f64,
    pub value: f64,
}
impl<T: Real> Kernel<T, 1> for Threshold {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        V::select(x.le(c(self.threshold)), c(self.value), x)
    }
}

/// 1 for `x > threshold`, 0 otherwise, NaN for NaN.
pub struct ThresholdDerivative {
    pub threshold: f64,
}
impl<T: Real> Kernel<T, 1> for ThresholdDerivative {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        mask_or_nan(x, x.gt(c(self.threshold)), c(1.0), c(0.0))
    }
}

/// ATen's `threshold_backward`: `g` where `x > threshold`, 0 elsewhere; NaN where `x` is NaN.
pub struct ThresholdBackward {
    pub threshold: f64,
}
impl<T: Real> Kernel<T, 2> for ThresholdBackward {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        mask_or_nan(x, x.gt(c(self.threshold)), g, c(0.0))
    }
}

/// The two-ReLU unit `max(0, x + 1) - max(0, x - 1)`: 0 for `x <= -1`, `x + 1` on `[-1, 1]`,
/// 2 for `x >= 1`, i.e. exactly `hardtanh(x) + 1` (a ramp from 0 to 2 of slope 1; equivalently
/// `2 hardsigmoid(3x)`). Computed as `hardtanh(x) + 1`, so it is the correctly rounded value
/// (the literal formula would give `(x + 1) - (x - 1) = 0` for huge x). Never `-0`.
pub struct TwoRelu;
impl<T: Real> Kernel<T, 1> for TwoRelu {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        Hardtanh {
            min_val: -1.0,
            max_val: 1.0,
        }
        .eval([x])
            + c(1.0)
    }
}

/// The derivative of the two-ReLU formula with `relu'(0) = 0` (what autograd gives):
/// 1 for `-1 < x <= 1`, 0 otherwise, NaN for NaN.
pub struct TwoReluDerivative;
impl<T: Real> Kernel<T, 1> for TwoReluDerivative {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        mask_or_nan(x, V::and(x.gt(c(-1.0)), x.le(c(1.0))), c(1.0), c(0.0))
    }
}

/// `g` where `-1 < x <= 1`, 0 elsewhere, NaN where `x` is NaN.
pub struct TwoReluBackward;
impl<T: Real> Kernel<T, 2> for TwoReluBackward {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        mask_or_nan(x, V::and(x.gt(c(-1.0)), x.le(c(1.0))), g, c(0.0))
    }
}
