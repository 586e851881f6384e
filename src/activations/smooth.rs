//! Smooth activations built on the logistic function and softplus: silu, softplus,
//! logsigmoid, softsign, tanhshrink.
//!
//! Shared techniques: `e = e^-|x|` (never overflows); where a result is `e^x` times a factor
//! (the negative tails), `e^x` is carried as `2^k m` ([`exp_split`]) and the power of two is
//! applied last ([`mul_pow2`]), after any gradient: a subnormal result is rounded once, and a
//! huge gradient times a tiny derivative is not lost. The derivatives of silu and mish have a root; around it they are written as
//! `t + ...` with `t = x - x0` computed exactly, so they keep full relative accuracy there.

use super::{c, exp_split, exp_split_pair, mul_pow2, poly, scaled_derivative, split};
use crate::math::{
    MathConsts, div_pair, exp_nonpositive, expm1_pair, fast_two_sum, log1p, square_pair,
};
use crate::simd::{Kernel, Real, Vector};

/// `(k, m, e, d)` with `e = e^-|x| = 2^k m` (see [`exp_split`]) and `d = 1 + e`.
#[inline(always)]
pub(super) fn scaled_exp<V: Vector>(x: V) -> (V, V, V, V) {
    let (k, m) = exp_split(-x.abs());
    let e = mul_pow2(m, c(1.0), k);
    (k, m, e, e + c(1.0))
}

/// `e^-|x| = 2^k (h + l)` (from [`exp_split_pair`]), `ek = 2^k` (0 below `2^-100`, where `e` no
/// longer reaches `1 + e`) and `1 + e^-|x| = dh + dl`, a normalized pair: `(k, h, l, ek, dh, dl)`.
#[inline(always)]
pub(super) fn one_plus_exp_pair<V: Vector>(x: V) -> (V, V, V, V, V, V) {
    let (k, h, l) = exp_split_pair(-x.abs());
    let tiny = k.lt(c(-100.0));
    let ek = V::select(tiny, c(0.0), V::select(tiny, c(-100.0), k).pow2i());
    let (dh, dl) = fast_two_sum(c(1.0), ek * h);
    (k, h, l, ek, dh, ek.mul_add(l, dl))
}

/// `(nh + nl) / (dh + dl)` as an unevaluated pair `(q, r)` (see [`crate::math::div_pair`],
/// which rounds `q + r`).
#[inline(always)]
pub(super) fn div_to_pair<V: Vector>(nh: V, nl: V, dh: V, dl: V) -> (V, V) {
    let inv = c::<V>(1.0) / dh;
    let q = nh * inv;
    let rem = (-q).mul_add(dh, nh) + (-q).mul_add(dl, nl);
    (q, rem * inv)
}

/// `a + b = s + t` exactly, for any order of magnitudes (Knuth's TwoSum).
#[inline(always)]
pub(super) fn two_sum<V: Vector>(a: V, b: V) -> (V, V) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// `silu(x) = x sigmoid(x)`: `x / (1 + e^-x)` for `x > 0`, `x e^x / (1 + e^x)` otherwise, with
/// `e^-|x|` and `1 + e^-|x|` carried as pairs and the quotient as a pair multiplied by `x` in one
/// fused multiply-add, so the result is rounded once; on the negative side `e^x` is carried as
/// `2^k (h + l)` and the power of two applied last, so the tail keeps its precision down to the
/// subnormals (`silu(-100) = -100 e^-100`). `silu(-0) = -0`, `silu(-inf) = -0`.
pub struct Silu;
impl<T: Real> Kernel<T, 1> for Silu {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (k, h, l, _, dh, dl) = one_plus_exp_pair(x);
        let pos = x.gt(c(0.0));
        let (q, r) = div_to_pair(V::select(pos, c(1.0), h), V::select(pos, c(0.0), l), dh, dl);
        let y = x.mul_add(q, x * r).copysign(x); // q + r > 0: keep -0
        let neg = mul_pow2(y, c(1.0), k);
        let neg = V::select(x.le(c(f64::NEG_INFINITY)), c(-0.0), neg);
        let y = V::select(x.ge(c(f64::INFINITY)), x, y);
        V::select(pos, y, neg)
    }
}

/// The root of `silu'`, `x0 = -1 - W(1/e)`, and `e^x0 = -(1 + x0)`, each as hi + lo.
const SILU_X0: (f64, f64) = (-1.2784645427610737, -1.0946994183093437e-16);
const SILU_E0: (f64, f64) = (0.2784645427610737, 1.0946994183093437e-16);

/// `silu'(x) = sigmoid(x) (1 + x sigmoid(-x))`, rounded once, without cancellation anywhere:
/// with `e = e^-|x|` and `1 + e` as pairs, for `x > 0`, `(1 + e (1 + x)) / (1 + e)^2` (all terms
/// positive); for `x <= 0`, `e Q / (1 + e)^2` with `Q = 1 + x + e^x`, which has the root `x0`,
/// evaluated as `Q = t + e^x0 expm1(t)`, `t = x - x0` (`1 + x0 + e^x0 = 0`; both terms have the
/// sign of `t`), every part carried as a pair. `silu'(0) = 1/2`, `silu'(+inf) = 1`,
/// `silu'(-inf) = 0`. (Returned as `(y, k)`, the value `y 2^k`; see [`scaled_derivative`].)
#[inline(always)]
fn silu_derivative_parts<V: Vector>(x: V) -> (V, V) {
    let (k, h, l, ek, dh, dl) = one_plus_exp_pair(x);
    let (sh, sl) = square_pair(dh, dl);
    let p = x.gt(c(0.0));
    // x > 0: 1 + e (1 + x), e = ek (h + l) (ek = 1 + e - 1 for the scaling, exact).
    let (s, s_l) = two_sum(c(1.0), x);
    let (eh, el) = (ek * h, ek * l);
    let pr = eh * s;
    let prl = eh.mul_add(s, -pr) + eh.mul_add(s_l, el * s);
    let (nh, nl) = fast_two_sum(c(1.0), pr);
    let pos = div_pair(nh, nl + prl, sh, sl);
    let pos = V::select(x.ge(c(f64::INFINITY)), c(1.0), pos);
    // x <= 0: Q = t + e0 expm1(t), t = th + tl.
    let (x0h, x0l) = split::<V>(SILU_X0.0, SILU_X0.1);
    let (th, tl) = two_sum(x, -x0h);
    let tl = tl - x0l;
    let lo = V::Elem::EXPM1_LO;
    let (uh, ul) = expm1_pair(V::select(th.lt(c(lo)), c(lo), th));
    let (e0h, e0l) = split::<V>(SILU_E0.0, SILU_E0.1);
    let pe = e0h * uh;
    let (qh, q1) = fast_two_sum(th, pe);
    let tail =
        e0h.mul_add(uh, -pe) + e0h.mul_add(ul, e0l * uh) + (e0h * (uh + c(1.0))).mul_add(tl, tl);
    let ql = q1 + tail;
    let n = h * qh;
    let n_l = h.mul_add(qh, -n) + h.mul_add(ql, l * qh);
    let neg = div_pair(n, n_l, sh, sl).copysign(qh + ql); // the sign of Q (in ql where th = 0), also where e^x is 0
    let neg = V::select(x.le(c(f64::NEG_INFINITY)), c(0.0), neg);
    (V::select(p, pos, neg), V::select(p, c(0.0), k))
}

scaled_derivative!(
    SiluDerivative,
    /// `g * silu'(x)`, rounded once where it is subnormal.
    SiluBackward,
    silu_derivative_parts,
    8
);

/// `(sp, s, k)` for `z + zl` (`zl` a small correction to `z`): `softplus(z + zl)` and
/// `sigmoid(z + zl) = s 2^k` (for [`mul_pow2`], so that a backward rounds a subnormal result
/// once), each to first order in `zl`.
/// `softplus(z) = max(z, 0) + log1p(e^-|z|)`: no overflow, and `softplus(z) = e^z` in the
/// negative tail (`log1p` of a tiny argument is that argument).
#[inline(always)]
pub(super) fn softplus_parts<V: Vector>(z: V, zl: V) -> (V, V, V) {
    let (k, m, e, d) = scaled_exp(z);
    let pos = z.ge(c(0.0));
    let (s, sn) = (V::select(pos, c(1.0), m) / d, V::select(pos, e, c(1.0)) / d);
    let zl = V::select(z.abs().lt(c(f64::INFINITY)), zl, c(0.0));
    let sp = V::select(z.gt(c(0.0)), z, c(0.0)) + log1p(e);
    let sp = (V::select(pos, c(1.0), e) / d).mul_add(zl, sp);
    (sp, s.mul_add(sn * zl, s), V::select(pos, c(0.0), k))
}

/// `beta x` as `(z, zl)`, the rounded product and its exact error.
#[inline(always)]
fn times_beta<V: Vector>(x: V, beta: f64) -> (V, V) {
    let b = c::<V>(beta);
    let z = b * x;
    (z, b.mul_add(x, -z))
}

/// `softplus(x) = log(1 + e^(beta x)) / beta`, and `x` where `beta x > threshold` (as
/// PyTorch). Stable for any x: `softplus(-100) = e^-100`, not 0 (PyTorch's `log1p(exp(x))`
/// agrees there; the difference is `beta != 1`, where the rounding of `beta x` is corrected).
pub struct Softplus {
    pub beta: f64,
    pub threshold: f64,
}
impl<T: Real> Kernel<T, 1> for Softplus {
    const COST: usize = 6;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (z, zl) = times_beta(x, self.beta);
        let (sp, _, _) = softplus_parts(z, zl);
        let y = V::select(z.gt(c(self.threshold)), x, sp / c(self.beta));
        V::select(x.is_nan(), x, y)
    }
}

/// `softplus'(x) = sigmoid(beta x)`, and 1 where `beta x > threshold` (as PyTorch's
/// `softplus_backward`).
pub struct SoftplusDerivative {
    pub beta: f64,
    pub threshold: f64,
}
impl<T: Real> Kernel<T, 1> for SoftplusDerivative {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (z, zl) = times_beta(x, self.beta);
        let (_, s, k) = softplus_parts(z, zl);
        let y = V::select(z.gt(c(self.threshold)), c(1.0), mul_pow2(s, c(1.0), k));
        V::select(x.is_nan(), x, y)
    }
}

/// `g * softplus'(x)`.
pub struct SoftplusBackward {
    pub beta: f64,
    pub threshold: f64,
}
impl<T: Real> Kernel<T, 2> for SoftplusBackward {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        let (z, zl) = times_beta(x, self.beta);
        let (_, s, k) = softplus_parts(z, zl);
        let y = V::select(z.gt(c(self.threshold)), g, mul_pow2(s, g, k));
        V::select(x.is_nan(), x, y)
    }
}

/// `logsigmoid(x) = log(sigmoid(x)) = -softplus(-x) = min(x, 0) - log1p(e^-|x|)`: no
/// cancellation, `logsigmoid(-1e4) = -1e4`, `logsigmoid(100) = -e^-100`.
pub struct Logsigmoid;
impl<T: Real> Kernel<T, 1> for Logsigmoid {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (sp, _, _) = softplus_parts(-x, c(0.0));
        V::select(x.is_nan(), x, -sp)
    }
}

/// `logsigmoid'(x) = sigmoid(-x)`, accurate in both tails.
pub struct LogsigmoidDerivative;
impl<T: Real> Kernel<T, 1> for LogsigmoidDerivative {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (_, s, k) = softplus_parts(-x, c(0.0));
        V::select(x.is_nan(), x, mul_pow2(s, c(1.0), k))
    }
}

/// `g * sigmoid(-x)` (ATen's `log_sigmoid_backward` without its buffer argument).
pub struct LogsigmoidBackward;
impl<T: Real> Kernel<T, 2> for LogsigmoidBackward {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        let (_, s, k) = softplus_parts(-x, c(0.0));
        V::select(x.is_nan(), x, mul_pow2(s, g, k))
    }
}

/// `1 + |x|` as `(d, dl)`, rounded sum and exact error.
#[inline(always)]
fn one_plus_abs<V: Vector>(x: V) -> (V, V) {
    let a = x.abs();
    let d = a + c(1.0);
    let big = a.gt(c(1.0));
    let (hi, lo) = (V::select(big, a, c(1.0)), V::select(big, c(1.0), a));
    (d, (hi - d) + lo)
}

/// `softsign(x) = x / (1 + |x|)`, rounded about once (the denominator is carried in two parts);
/// `softsign(±inf) = ±1`, `softsign(-0) = -0`.
pub struct Softsign;
impl<T: Real> Kernel<T, 1> for Softsign {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (d, dl) = one_plus_abs(x);
        let q = x / d;
        let r = (-q).mul_add(d, x) - q * dl;
        let y = (q + r / d).copysign(x);
        V::select(x.abs().ge(c(f64::INFINITY)), c::<V>(1.0).copysign(x), y)
    }
}

/// `softsign'(x) = 1 / (1 + |x|)^2`, as `r (r + 2 r e)` with `r = 1 / (1 + |x|)` rounded and
/// `e` its relative error (no overflow of the square; 0 at ±inf).
pub struct SoftsignDerivative;
impl<T: Real> Kernel<T, 1> for SoftsignDerivative {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (d, dl) = one_plus_abs(x);
        let r = c::<V>(1.0) / d;
        let e = (-r).mul_add(d, c(1.0)) - r * dl;
        let y = (r + r).mul_add(e, r) * r;
        V::select(x.abs().ge(c(f64::INFINITY)), c(0.0), y)
    }
}

/// `g * softsign'(x)`.
pub struct SoftsignBackward;
impl<T: Real> Kernel<T, 2> for SoftsignBackward {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        // (g r) (r + 2 r e): g enters before the square can underflow.
        let (d, dl) = one_plus_abs(x);
        let r = c::<V>(1.0) / d;
        let e = (-r).mul_add(d, c(1.0)) - r * dl;
        let y = (g * r) * (r + r).mul_add(e, r);
        V::select(x.abs().ge(c(f64::INFINITY)), g * c(0.0), y)
    }
}

// (x - tanh x) / x^3 on x^2 in [0, 2.25], u = (x^2 - 1.125) / 1.125: Chebyshev interpolants
// (tools/activation_constants.py); max relative error 3.6e-9 (float32 table), 4.0e-17 (float64).
#[rustfmt::skip]
const TANHSHRINK_F32: [f64; 11] = [0.23024970214677892, -0.07085696980668987, 0.022137088457363164, -0.006929860208372801, 0.002170046542637252, -0.0006805890240766519, 0.00021313368749903145, -6.441240714627461e-05, 2.0171454631670886e-05, -8.649656713655329e-06, 2.708735334958843e-06];
#[rustfmt::skip]
const TANHSHRINK_F64: [f64; 22] = [0.23024970214677892, -0.07085696069441098, 0.022137085603752226, -0.006930041560310882, 0.002170103335010243, -0.0006795862339985432, 0.00021281965250368983, -6.664680702202095e-05, 2.087118341736924e-05, -6.536041099476421e-06, 2.0468247361707106e-06, -6.409857261673526e-07, 2.0075668456243813e-07, -6.286916851101088e-08, 1.9641582842812378e-08, -6.150978156778602e-09, 1.9821548704390937e-09, -6.20733644991626e-10, 1.527324443607195e-10, -4.7829848368764685e-11, 3.2518291900687304e-11, -1.0183461525356913e-11];

/// `tanhshrink(x) = x - tanh(x)`, with the sign of x: for `|x| < 1.5`, where the difference
/// cancels, `|x|^3 P(x^2)` (an interpolant of `(x - tanh x) / x^3`); above,
/// `(|x| - 1) + 2e / (1 + e)` with `e = e^-2|x|` (both terms positive).
pub struct Tanhshrink;
impl<T: Real> Kernel<T, 1> for Tanhshrink {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let a = x.abs();
        let z = a * a;
        let zl = a.mul_add(a, -z);
        let p = poly(
            z.mul_add(c(1.0 / 1.125), c(-1.0)),
            super::by_type::<V>(&TANHSHRINK_F32, &TANHSHRINK_F64),
        );
        let ap = a * p;
        let small = ap.mul_add(z, ap * zl);
        let e = exp_nonpositive(-(a + a));
        let large = (a - c(1.0)) + (e + e) / (e + c(1.0));
        V::select(a.lt(c(1.5)), small, large).copysign(x)
    }
}

/// `tanh(x)^2`, rounded once: `m^2 / (m + 2)^2` with `m = expm1(-2|x|)` for `|x| <= 1`, and
/// `1 - 4e / (1 + e)^2` with `e = e^-2|x|` above (no cancellation: `4e / (1 + e)^2 < 0.42`),
/// every part a pair; `x^2` below `TANH_TINY`, where `tanh x` rounds to `x`.
#[inline(always)]
fn tanh_squared<V: Vector>(x: V) -> V {
    let a = x.abs();
    let two = c::<V>(2.0);
    let (mh, ml) = expm1_pair(V::select(a.gt(c(1.0)), c(-2.0), -(a + a)));
    let (nh, nl) = square_pair(mh, ml);
    let (dh, dl) = fast_two_sum(two, mh);
    let (sh, sl) = square_pair(dh, dl + ml);
    let small = div_pair(nh, nl, sh, sl);
    // |x| > 1: e = e^-2|x| = 2^k (h + l) (0 where it no longer reaches 1).
    let (_, h, l, ek, eh1, el1) = one_plus_exp_pair(a + a);
    let (s2h, s2l) = square_pair(eh1, el1);
    let (q, r) = div_to_pair(c::<V>(4.0) * (ek * h), c::<V>(4.0) * (ek * l), s2h, s2l);
    let (u, ul) = fast_two_sum(c(1.0), -q);
    let large = u + (ul - r);
    let y = V::select(a.gt(c(1.0)), large, small);
    let y = V::select(a.lt(c(V::Elem::TANH_TINY)), x * x, y);
    V::select(x.is_nan(), x, y)
}

/// `tanhshrink'(x) = tanh(x)^2`.
pub struct TanhshrinkDerivative;
impl<T: Real> Kernel<T, 1> for TanhshrinkDerivative {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        tanh_squared(x)
    }
}

/// `g * tanh(x)^2`.
pub struct TanhshrinkBackward;
impl<T: Real> Kernel<T, 2> for TanhshrinkBackward {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        // g enters before a tiny tanh^2 = x^2 can underflow: (g x) x.
        let tiny = x.abs().lt(c(V::Elem::TANH_TINY));
        V::select(tiny, (g * x) * x, g * tanh_squared(x))
    }
}
