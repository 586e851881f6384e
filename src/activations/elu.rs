//! Exponential linear unit: `elu(x) = x` for `x > 0`, `alpha * expm1(x)` otherwise.

use super::{c, narrow, piecewise, split, times_const};
use crate::math::{MathConsts, exp_mul, exp_mul_pair, exp_mul_pair_up, expm1, expm1_pair};
use crate::simd::{Kernel, Real, Vector, Wide, via_f64};

/// `elu(x)`, rounded once from `alpha` times expm1 as a pair, so `elu(-1e-10) = -1e-10 alpha` to
/// full precision; `elu(-0) = -0` for `alpha > 0`; `elu(-inf) = -alpha`.
pub struct Elu {
    pub alpha: f64,
}
impl<T: Real> Kernel<T, 1> for Elu {
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        if self.alpha == 0.0 {
            // The product's zero carries the sign (0 * expm1(x)), which the fused form would lose.
            return piecewise(x, x, c::<V>(0.0) * expm1(x));
        }
        piecewise(x, x, times_expm1(x, c(self.alpha), c(0.0)))
    }
}

/// `(ah + al) expm1(x)` for `x <= 0` (`ah != 0`, `|al|` below half an ulp of `ah`), rounded once
/// from expm1 as a pair; `(ah + al) x` near 0, where that is as good, with the sign of `ah x`
/// (so `-0` for `-0` when `ah > 0`).
#[inline(always)]
fn times_expm1<V: Vector>(x: V, ah: V, al: V) -> V {
    let (uh, ul) = expm1_pair(V::select(
        x.lt(c(V::Elem::EXPM1_LO)),
        c(V::Elem::EXPM1_LO),
        x,
    ));
    let y = ah.mul_add(uh, ah.mul_add(ul, al * uh));
    let tiny = ah.mul_add(x, al * x).copysign(ah * x);
    V::select(x.abs().lt(c(V::Elem::EXPM1_TINY)), tiny, y)
}

/// `elu'(x) = 1` for `x > 0`, `alpha e^x` otherwise (`alpha` at 0).
pub struct EluDerivative {
    pub alpha: f64,
}
impl<T: Real> Kernel<T, 1> for EluDerivative {
    const COST: usize = 12;
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
    const COST: usize = 12;
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

/// SELU's scale λ and alpha α (Klambauer et al. 2017), the float64 values PyTorch uses. The
/// kernels take them as exact: `λ` and the exact product `λ α = SELU_SA.0 + SELU_SA.1` enter as
/// pairs, so that float32 results are rounded once from these constants, not from their float32
/// roundings (which cost up to half an ulp more: 1.05 ulp for `λ x` in float32).
pub const SELU_SCALE: f64 = 1.0507009873554805;
pub const SELU_ALPHA: f64 = 1.6732632423543772;
pub const SELU_SA: (f64, f64) = (1.7580993408473766, 5.75014648756476e-17);

/// `λ y` rounded once. float32: the float64 product rounded to float32 (never a double rounding:
/// the float64 product is a float32 midpoint for no float32 `y`, as `tests/kernels.rs`
/// `selu_scale_through_float64_rounds_once` checks). float64: `λ` as a pair; large `y` is halved
/// first and the result doubled, tiny `y` scaled up by `2^64` and the result down (exact but for
/// subnormal results): near overflow the leading product must not overflow where the exact one
/// rounds to the largest finite value, and near underflow the product's error term must be
/// representable.
#[inline(always)]
fn times_scale<V: Vector>(y: V) -> V {
    if narrow::<V>() {
        return via_f64(&ScaleWide, [y]);
    }
    let tiny_below = 2f64.powi(-960);
    let (big, tiny) = (y.abs().gt(c(1.0)), y.abs().lt(c(tiny_below)));
    let s = V::select(big, c(0.5), V::select(tiny, c(2f64.powi(64)), c(1.0)));
    let (p, pl) = times_const(y * s, (SELU_SCALE, 0.0));
    // (The sign of the product also where it is 0: the correction's zero may differ.)
    (p + pl).copysign(p) * V::select(big, c(2.0), V::select(tiny, c(2f64.powi(-64)), c(1.0)))
}

struct ScaleWide;
impl Wide<1> for ScaleWide {
    #[inline(always)]
    fn eval64<W: Vector<Elem = f64>>(&self, [y]: [W; 1]) -> W {
        y * c(SELU_SCALE)
    }
}

/// `selu(x) = λ x` for `x > 0`, `λ α expm1(x)` otherwise, each rounded once.
/// `selu(-0) = -0`, `selu(-inf) = -λ α`.
pub struct Selu;
impl<T: Real> Kernel<T, 1> for Selu {
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (sa, sal) = split::<V>(SELU_SA.0, SELU_SA.1);
        piecewise(x, times_scale(x), times_expm1(x, sa, sal))
    }
}

/// `selu'(x) = λ` for `x > 0`, `λ α e^x` otherwise (`λ α` at 0), each rounded once.
pub struct SeluDerivative;
impl<T: Real> Kernel<T, 1> for SeluDerivative {
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        SeluBackward.eval([c(1.0), x])
    }
}

/// Backward from the input: `λ g` for `x > 0`, `g λ α e^x` otherwise, each rounded once.
pub struct SeluBackward;
impl<T: Real> Kernel<T, 2> for SeluBackward {
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        let (sa, sal) = split::<V>(SELU_SA.0, SELU_SA.1);
        piecewise(x, times_scale(g), exp_mul_pair(x, g, sa, sal))
    }
}

/// Backward from the saved output `y`: `λ g` for `y > 0`, `g (y + λ α)` otherwise (no exp;
/// like [`EluBackwardFromOutput`], it loses the far negative tail, where `y` has rounded to `-λ α`).
pub struct SeluBackwardFromOutput;
impl<T: Real> Kernel<T, 2> for SeluBackwardFromOutput {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, y]: [V; 2]) -> V {
        piecewise(y, times_scale(g), g * (y + c(SELU_SA.0)))
    }
}

/// `x / alpha` as `(q, r / alpha)` with `q` rounded and `r` its exact remainder: together they
/// carry the quotient to about twice the precision (used where `e^(x/alpha)` is taken far out).
#[inline(always)]
fn div_alpha<V: Vector>(x: V, alpha: f64) -> (V, V) {
    let a = c::<V>(alpha);
    let q = x / a;
    let r = (-q).mul_add(a, x) / a;
    // e^(q + r) = e^q (1 + r) needs |r| << 1: beyond |q| = 4096 (past the clamp of exp_mul) the
    // result is 0 or inf anyway.
    (q, V::select(q.abs().lt(c(4096.0)), r, c(0.0)))
}

/// celu's `alpha` rounded to 0 at type `T` (float32, |alpha| <= 2^-150 = 7.0e-46): x / alpha
/// is then NaN at 0 and ±inf elsewhere (PyTorch refuses such an alpha too: 1 / alpha overflows).
fn zero_alpha<T: Real>(alpha: f64) -> Option<String> {
    (T::from_f64(alpha).to_f64() == 0.0).then(|| format!("alpha={alpha:e} is 0 in {}", T::NAME))
}

/// `celu(x) = max(0, x) + min(0, alpha expm1(x / alpha))`, i.e. `x` for `x > 0` and
/// `alpha expm1(x / alpha)` otherwise (for either sign of `alpha`; `alpha != 0`, checked by the
/// caller). With `alpha = 1` it is [`Elu`]. The rounding of `u = x / alpha` is corrected to first
/// order, `expm1(q + r) = m + (1 + m) r` with `m = expm1(q)`: for `alpha < 0` the argument is
/// positive and grows with `|x|`, and an uncorrected rounding of `u` costs `u` half-ulps of the
/// result (11 ulp at `x = -92`, float64). For `alpha > 0`, `m` is a pair and the product with
/// `alpha` is rounded once.
pub struct Celu {
    pub alpha: f64,
}
impl<T: Real> Kernel<T, 1> for Celu {
    fn unusable(&self) -> Option<String> {
        zero_alpha::<T>(self.alpha)
    }
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (u, r) = div_alpha(x, self.alpha);
        let a = c::<V>(self.alpha);
        if self.alpha > 0.0 {
            // x <= 0 gives u <= 0: alpha (mh + ml + (1 + mh) r), rounded once (u is clamped
            // where expm1 is -1 to working precision); x itself near 0 (and -0 for -0), as Elu.
            let (mh, ml) = expm1_pair(V::select(u.lt(c(T::EXPM1_LO)), c(T::EXPM1_LO), u));
            let ml = (mh + c(1.0)).mul_add(r, ml);
            let y = a.mul_add(mh, a * ml);
            return piecewise(x, x, V::select(u.abs().lt(c(T::EXPM1_TINY)), x, y));
        }
        // alpha < 0: u >= 0, up to overflow.
        let m = expm1(u);
        // Not where m is infinite (r may be 0 or negative); |corr| < ulp(m): m's sign (of zero).
        let corr = (m + c(1.0)) * r;
        let m = V::select(m.abs().lt(c(f64::INFINITY)), (m + corr).copysign(m), m);
        piecewise(x, x, a * m)
    }
}

/// `celu'(x) = 1` for `x > 0`, `e^(x / alpha)` otherwise (1 at 0); the quotient is carried in
/// two parts, so the far tail keeps full relative accuracy for any alpha.
pub struct CeluDerivative {
    pub alpha: f64,
}
impl<T: Real> Kernel<T, 1> for CeluDerivative {
    fn unusable(&self) -> Option<String> {
        zero_alpha::<T>(self.alpha)
    }
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        CeluBackward { alpha: self.alpha }.eval([c(1.0), x])
    }
}

/// Backward from the input: `g` for `x > 0`, `g e^(x / alpha)` otherwise, rounded about once.
pub struct CeluBackward {
    pub alpha: f64,
}
impl<T: Real> Kernel<T, 2> for CeluBackward {
    fn unusable(&self) -> Option<String> {
        zero_alpha::<T>(self.alpha)
    }
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        let (q, r) = div_alpha(x, self.alpha);
        // e^(q + r) = e^q (1 + r) to first order; |r| <= ulp(q).
        // With alpha < 0, q > 0 and e^q grows without bound.
        piecewise(x, g, exp_mul_pair_up(q, g, c(1.0), r))
    }
}

/// Backward from the saved output `y`: `g` for `y > 0`, `g (y + alpha) / alpha` otherwise
/// (`e^(x/alpha) = 1 + y / alpha`; no exp, loses the far tail as [`EluBackwardFromOutput`]).
pub struct CeluBackwardFromOutput {
    pub alpha: f64,
}
impl<T: Real> Kernel<T, 2> for CeluBackwardFromOutput {
    fn unusable(&self) -> Option<String> {
        zero_alpha::<T>(self.alpha)
    }
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, y]: [V; 2]) -> V {
        let a = c::<V>(self.alpha);
        piecewise(y, g, g * ((y + a) / a))
    }
}
