//! Smooth activations built on the logistic function and softplus: silu, softplus,
//! logsigmoid, softsign, tanhshrink.
//!
//! Shared techniques: `e = e^-|x|` (never overflows); where a result is `e^x` times a factor
//! (the negative tails), `e^x` is carried as `2^k m` ([`exp_split_pair`]) and the power of two is
//! applied last ([`mul_pow2`]), after any gradient: a subnormal result is rounded once, and a
//! huge gradient times a tiny derivative is not lost. The derivatives of silu and mish have a root; around it they are written as
//! `t + ...` with `t = x - x0` computed exactly, so they keep full relative accuracy there.

use super::{c, exp_split_pair, mul_pow2, mul_pow2_pair, poly, scaled_derivative, split};
use crate::math::two_sum;
use crate::math::{
    MathConsts, div_pair, div_to_pair, expm1_pair, fast_two_sum, log1p_pair, square_pair,
};
use crate::simd::{Kernel, Real, Vector};

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
/// `silu'(-inf) = 0`. (Returned as `(q, r, k)`, the value `(q + r) 2^k`; see [`scaled_derivative`].)
#[inline(always)]
fn silu_derivative_parts<V: Vector>(x: V) -> (V, V, V) {
    let (k, h, l, ek, dh, dl) = one_plus_exp_pair(x);
    let (sh, sl) = square_pair(dh, dl);
    let p = x.gt(c(0.0));
    // x > 0: 1 + e (1 + x), e = ek (h + l) (ek = 1 + e - 1 for the scaling, exact).
    let (s, s_l) = two_sum(c(1.0), x);
    let (eh, el) = (ek * h, ek * l);
    let pr = eh * s;
    let prl = eh.mul_add(s, -pr) + eh.mul_add(s_l, el * s);
    let (nh, nl) = fast_two_sum(c(1.0), pr);
    let (pos, pos_l) = div_to_pair(nh, nl + prl, sh, sl);
    let inf = x.ge(c(f64::INFINITY));
    let (pos, pos_l) = (V::select(inf, c(1.0), pos), V::select(inf, c(0.0), pos_l));
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
    let (neg, neg_l) = div_to_pair(n, n_l, sh, sl);
    let neg = neg.copysign(qh + ql); // the sign of Q (in ql where th = 0), also where e^x is 0
    let ninf = x.le(c(f64::NEG_INFINITY));
    let (neg, neg_l) = (V::select(ninf, c(0.0), neg), V::select(ninf, c(0.0), neg_l));
    (
        V::select(p, pos, neg),
        V::select(p, pos_l, neg_l),
        V::select(p, c(0.0), k),
    )
}

scaled_derivative!(
    SiluDerivative,
    /// `g * silu'(x)`, rounded once (also where it is subnormal).
    SiluBackward,
    silu_derivative_parts,
    8
);

/// `sigmoid(z + zl) = 2^k (q + r)` as `(k, q, r)` (`k = 0` for `z >= 0`; `q + r` an unevaluated
/// pair, so that `g sigmoid` is rounded once), to first order in `zl` (a small correction to `z`):
/// `(z >= 0 ? 1 : e) / (1 + e)` with `e = e^-|z|` and `1 + e` as pairs, as [`crate::activations::sigmoid`].
#[inline(always)]
pub(super) fn sigmoid_pair<V: Vector>(z: V, zl: V) -> (V, V, V) {
    let (k, h, l, ek, dh, dl) = one_plus_exp_pair(z);
    let pos = z.ge(c(0.0));
    let (nh, nl) = (V::select(pos, c(1.0), h), V::select(pos, c(0.0), l));
    let inv = c::<V>(1.0) / dh;
    let q = nh * inv;
    let rem = (-q).mul_add(dh, nh) + (-q).mul_add(dl, nl);
    // sigmoid' = sigmoid(z) sigmoid(-z); sigmoid(-z) roughly (it only scales zl).
    let sn = V::select(pos, ek * h, c(1.0)) * inv;
    let zl = V::select(z.abs().lt(c(f64::INFINITY)), zl, c(0.0));
    let r = (q * sn).mul_add(zl, rem * inv);
    (V::select(pos, c(0.0), k), q, r)
}

/// `softplus(z + zl) = max(z, 0) + log1p(e) + sigmoid(z) zl` (`zl` a small correction to `z`,
/// first order), `e = e^-|z|`: no overflow, `log1p(e)` as a pair ([`log1p_pair`]) added to `z` in
/// one more rounding. Where `e < 2^-(digits+4)` and `z < 0`, `log1p(e) = e (1 - e/2 ..)` is `e`
/// itself, carried as `2^k (h + l)` and scaled last: the tail keeps its precision down to the
/// subnormals (`softplus(-100) = e^-100`). `+inf` for `z = +inf`, 0 for `-inf`.
#[inline(always)]
fn softplus_pair<V: Vector>(z: V, zl: V) -> V {
    let (k, h, l, ek, dh, _) = one_plus_exp_pair(z);
    let (lh, ll) = log1p_pair(ek * h, ek * l);
    let pos = z.gt(c(0.0));
    let zl = V::select(z.abs().lt(c(f64::INFINITY)), zl, c(0.0));
    // sigmoid(z) roughly, for the zl term: 1 / (1 + e), or e / (1 + e).
    let sig = V::select(pos, c(1.0), ek * h) / dh;
    let (s, t) = two_sum(V::select(pos, z, c(0.0)), lh);
    let y = s + sig.mul_add(zl, t + ll);
    let tail = mul_pow2(h.mul_add(zl, l) + h, c(1.0), k);
    let digits = V::Elem::MANTISSA_DIGITS as f64;
    let y = V::select(V::and(k.lt(c(-(digits + 4.0))), z.lt(c(0.0))), tail, y);
    V::select(z.ge(c(f64::INFINITY)), z, y)
}

/// `beta x` as `(z, zl)`, the rounded product and its exact error.
#[inline(always)]
fn times_beta<V: Vector>(x: V, beta: f64) -> (V, V) {
    let b = c::<V>(beta);
    let z = b * x;
    (z, b.mul_add(x, -z))
}

/// `softplus(x) = log(1 + e^(beta x)) / beta`, and `x` where `beta x > threshold` (as
/// PyTorch): `max(z, 0) + log1p(e^-|z|)`, `z = beta x` (its rounding error corrected to first
/// order), rounded once for `beta = 1` (within 1 ulp); for other `beta` the division by `beta`
/// rounds once more. Stable for any x: `softplus(-100) = e^-100`, not 0 (PyTorch's
/// `log1p(exp(x))` agrees there).
pub struct Softplus {
    pub beta: f64,
    pub threshold: f64,
}
impl<T: Real> Kernel<T, 1> for Softplus {
    const COST: usize = 6;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (z, zl) = times_beta(x, self.beta);
        let sp = softplus_pair(z, zl);
        let y = V::select(z.gt(c(self.threshold)), x, sp / c(self.beta));
        V::select(x.is_nan(), x, y)
    }
}

/// `softplus'(x) = sigmoid(beta x)`, and 1 where `beta x > threshold` (as PyTorch's
/// `softplus_backward`); rounded once ([`sigmoid_pair`]).
pub struct SoftplusDerivative {
    pub beta: f64,
    pub threshold: f64,
}
impl<T: Real> Kernel<T, 1> for SoftplusDerivative {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (z, zl) = times_beta(x, self.beta);
        let (k, q, r) = sigmoid_pair(z, zl);
        let y = V::select(
            z.gt(c(self.threshold)),
            c(1.0),
            mul_pow2_pair(q, r, c(1.0), k),
        );
        V::select(x.is_nan(), x, y)
    }
}

/// `g * softplus'(x)`, rounded once (also where it is subnormal).
pub struct SoftplusBackward {
    pub beta: f64,
    pub threshold: f64,
}
impl<T: Real> Kernel<T, 2> for SoftplusBackward {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        let (z, zl) = times_beta(x, self.beta);
        let (k, q, r) = sigmoid_pair(z, zl);
        let y = V::select(z.gt(c(self.threshold)), g, mul_pow2_pair(q, r, g, k));
        V::select(x.is_nan(), x, y)
    }
}

/// `logsigmoid(x) = log(sigmoid(x)) = -softplus(-x) = min(x, 0) - log1p(e^-|x|)`, rounded once
/// (as [`Softplus`]): no cancellation, `logsigmoid(-1e4) = -1e4`, `logsigmoid(100) = -e^-100`.
pub struct Logsigmoid;
impl<T: Real> Kernel<T, 1> for Logsigmoid {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        V::select(x.is_nan(), x, -softplus_pair(-x, c(0.0)))
    }
}

/// `logsigmoid'(x) = sigmoid(-x)`, rounded once, accurate in both tails.
pub struct LogsigmoidDerivative;
impl<T: Real> Kernel<T, 1> for LogsigmoidDerivative {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (k, q, r) = sigmoid_pair(-x, c(0.0));
        V::select(x.is_nan(), x, mul_pow2_pair(q, r, c(1.0), k))
    }
}

/// `g * sigmoid(-x)` (ATen's `log_sigmoid_backward` without its buffer argument), rounded once.
pub struct LogsigmoidBackward;
impl<T: Real> Kernel<T, 2> for LogsigmoidBackward {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        let (k, q, r) = sigmoid_pair(-x, c(0.0));
        V::select(x.is_nan(), x, mul_pow2_pair(q, r, g, k))
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

/// `1 / (1 + |x|)^2 = p (1 + 2e) + pl` as `(r, e, p, c)`, `c = p 2e + pl`: `r = 1 / (1 + |x|)` rounded,
/// `e` its relative error (from `1 + |x|` as a pair), `p + pl = r^2` exactly (where `p` is
/// normal). No overflow (`r <= 1`); 0 at ±inf.
#[inline(always)]
fn softsign_d_parts<V: Vector>(x: V) -> (V, V, V, V) {
    let (d, dl) = one_plus_abs(x);
    let r = c::<V>(1.0) / d;
    let e = (-r).mul_add(d, c(1.0)) - r * dl;
    let p = r * r;
    let pl = r.mul_add(r, -p);
    (r, e, p, (p + p).mul_add(e, pl))
}

/// `softsign'(x) = 1 / (1 + |x|)^2`, rounded once: `r^2 (1 + 2e)` with `r = 1 / (1 + |x|)`
/// rounded, `e` its relative error and `r^2` as a pair (no overflow of the square; 0 at ±inf).
pub struct SoftsignDerivative;
impl<T: Real> Kernel<T, 1> for SoftsignDerivative {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (_, _, p, corr) = softsign_d_parts(x);
        V::select(x.abs().ge(c(f64::INFINITY)), c(0.0), p + corr)
    }
}

/// `g * softsign'(x)`, rounded once: `g p + g c` in one fused multiply-add (see
/// [`SoftsignDerivative`]); where `r^2` is far down (`|x|` above `2^(digits+8)`), `(g r) (r +
/// 2 r e)`, so that `g` enters before the square can underflow.
pub struct SoftsignBackward;
impl<T: Real> Kernel<T, 2> for SoftsignBackward {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        let (r, e, p, corr) = softsign_d_parts(x);
        let gc = g * corr;
        let gc = V::select(gc.abs().lt(c(f64::INFINITY)), gc, c(0.0));
        let near = g.mul_add(p, gc);
        let far = (g * r) * (r + r).mul_add(e, r);
        let huge = x
            .abs()
            .gt(c(2f64.powi(V::Elem::MANTISSA_DIGITS as i32 + 8)));
        // softsign' > 0: the sign of g, also for a zero result (g = -0 and corr < 0).
        let y = V::select(huge, far, near).copysign(g);
        V::select(x.abs().ge(c(f64::INFINITY)), g * c(0.0), y)
    }
}

// (x - tanh x) / x^3 on x^2 in [0, 2.25], u = (x^2 - 1.125) / 1.125: Chebyshev interpolants
// (tools/activation_constants.py); max relative error 3.6e-9 (float32 table), 4.0e-17 (float64).
#[rustfmt::skip]
const TANHSHRINK_F32: [f64; 11] = [0.23024970214677892, -0.07085696980668987, 0.022137088457363164, -0.006929860208372801, 0.002170046542637252, -0.0006805890240766519, 0.00021313368749903145, -6.441240714627461e-05, 2.0171454631670886e-05, -8.649656713655329e-06, 2.708735334958843e-06];
#[rustfmt::skip]
const TANHSHRINK_F64: [f64; 22] = [0.23024970214677892, -0.07085696069441098, 0.022137085603752226, -0.006930041560310882, 0.002170103335010243, -0.0006795862339985432, 0.00021281965250368983, -6.664680702202095e-05, 2.087118341736924e-05, -6.536041099476421e-06, 2.0468247361707106e-06, -6.409857261673526e-07, 2.0075668456243813e-07, -6.286916851101088e-08, 1.9641582842812378e-08, -6.150978156778602e-09, 1.9821548704390937e-09, -6.20733644991626e-10, 1.527324443607195e-10, -4.7829848368764685e-11, 3.2518291900687304e-11, -1.0183461525356913e-11];

/// `tanhshrink(x) = x - tanh(x)`, with the sign of x, rounded about once: for `|x| < 1.5`, where
/// the difference cancels, `|x| P(x^2) x^2` (`P` an interpolant of `(x - tanh x) / x^3`), with
/// `x^2` and `|x| P` as pairs and `P = c0 + c1 u + u^2 Q(u)`, `u = (x^2 - 1.125) / 1.125`, whose
/// first two terms are exact pairs (only `u^2 Q`, under 14% of `P`, is rounded); above,
/// `(|x| - 1) + 2e / (1 + e)` with `e = e^-2|x|` (both terms positive, the quotient of pairs
/// rounded once and under a fifth of the sum).
pub struct Tanhshrink;
impl<T: Real> Kernel<T, 1> for Tanhshrink {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let a = x.abs();
        let coeffs = super::by_type::<V>(&TANHSHRINK_F32, &TANHSHRINK_F64);
        let z = a * a;
        let zl = a.mul_add(a, -z);
        // v = z - 1.125 = vh + vl exactly; c1 u = (c1 / 1.125) v.
        let (vh, vl) = two_sum(z, c(-1.125));
        let vl = vl + zl;
        let u = vh * c(1.0 / 1.125);
        let w = (u * u) * poly(u, &coeffs[2..]);
        let (c0h, c0l) = split::<V>(coeffs[0], 0.0);
        let (c1h, c1l) = split::<V>(coeffs[1] / 1.125, 0.0);
        let m = c1h * vh;
        let ml = c1h.mul_add(vh, -m) + c1h.mul_add(vl, c1l * vh);
        let (s0, s0l) = fast_two_sum(c0h, m);
        let (ph, p1) = fast_two_sum(s0, w);
        let pl = p1 + s0l + ml + c0l;
        let ap = a * ph;
        let apl = a.mul_add(ph, -ap) + a * pl;
        let small = ap.mul_add(z, ap.mul_add(zl, apl * z));
        // |x| >= 1.5: e = e^-2|x| = 2^k (h + l), 1 + e = dh + dl.
        let (_, h, l, ek, dh, dl) = one_plus_exp_pair(a + a);
        let two_ek = ek + ek;
        let q = div_pair(two_ek * h, two_ek * l, dh, dl);
        let large = (a - c(1.0)) + q;
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
