//! Smooth activations built on the logistic function and softplus: silu, softplus,
//! logsigmoid, softsign, tanhshrink.
//!
//! Shared techniques: `e = e^-|x|` (never overflows); where a result is `e^x` times a factor
//! (the negative tails), `e^x` is carried as `2^k m` ([`exp_split_pair`]) and the power of two is
//! applied last ([`mul_pow2`]), after any gradient: a subnormal result is rounded once, and a
//! huge gradient times a tiny derivative is not lost. The derivatives of silu and mish have a root; around it they are written as
//! `t + ...` with `t = x - x0` computed exactly, so they keep full relative accuracy there.

use super::{
    Wide1, Wide2, WideFn, c, exp_split_pair, mul_pow2, mul_pow2_pair, narrow, poly,
    scaled_derivative, split,
};
use crate::math::two_sum;
use crate::math::{
    EXP_TAYLOR_9, div_pair, div_to_pair, exp_wide, expm1_pair, fast_two_sum, log1p_pair,
    log1p_unit_wide, square_pair,
};
use crate::simd::{Kernel, Real, Vector, Wide, via_f64};

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
    const COST: usize = 12;
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
/// with `e = e^-|x|` and `1 + e` as pairs, `N / (1 + e)^2`, one pair quotient for both signs. For
/// `x > 0`, `N = 1 + e (1 + x)` (all terms positive); for `x <= 0`, `N = e Q` with `Q = 1 + x +
/// e^x`, `1 + x` exact and `e^x = e` a pair (the terms cancel by at most a factor 1.7 outside
/// `|x - x0| < 1/4`). `Q` has the root `x0`; around it (only where some lane is there) `Q = t +
/// e^x0 expm1(t)`, `t = x - x0` (`1 + x0 + e^x0 = 0`; both terms have the sign of `t`), every part
/// carried as a pair. `silu'(0) = 1/2`, `silu'(+inf) = 1`, `silu'(-inf) = 0`. (Returned as
/// `(q, r, k)`, the value `(q + r) 2^k`; see [`scaled_derivative`].)
#[inline(always)]
fn silu_derivative_parts<V: Vector>(x: V) -> (V, V, V) {
    let (k, h, l, ek, dh, dl) = one_plus_exp_pair(x);
    let (sh, sl) = square_pair(dh, dl);
    let p = x.gt(c(0.0));
    let (s, s_l) = two_sum(c(1.0), x);
    let (eh, el) = (ek * h, ek * l);
    // x > 0: 1 + e (1 + x) (ek = 1 + e - 1 for the scaling, exact).
    let pr = eh * s;
    let prl = eh.mul_add(s, -pr) + eh.mul_add(s_l, el * s);
    let (nh, nl) = fast_two_sum(c(1.0), pr);
    // x <= 0: Q = (1 + x) + e^x.
    let (qh, q1) = two_sum(s, eh);
    let (mut qh, mut ql) = (qh, q1 + (s_l + el));
    let (x0h, x0l) = split::<V>(SILU_X0.0, SILU_X0.1);
    let (th, tl) = two_sum(x, -x0h);
    let at_root = th.abs().lt(c(0.25));
    if V::any(at_root) {
        // Q = t + e0 expm1(t), t = th + tl.
        let tl = tl - x0l;
        let (uh, ul) = expm1_pair(th);
        let (e0h, e0l) = split::<V>(SILU_E0.0, SILU_E0.1);
        let pe = e0h * uh;
        let (rh, r1) = fast_two_sum(th, pe);
        let tail = e0h.mul_add(uh, -pe)
            + e0h.mul_add(ul, e0l * uh)
            + (e0h * (uh + c(1.0))).mul_add(tl, tl);
        qh = V::select(at_root, rh, qh);
        ql = V::select(at_root, r1 + tail, ql);
    }
    let n = h * qh;
    let n_l = h.mul_add(qh, -n) + h.mul_add(ql, l * qh);
    let (q, r) = div_to_pair(V::select(p, nh, n), V::select(p, nl + prl, n_l), sh, sl);
    // The sign of Q (in ql where th = 0), also where e^x is 0.
    let q = V::select(p, q, q.copysign(qh + ql));
    let inf = x.ge(c(f64::INFINITY));
    let ninf = x.le(c(f64::NEG_INFINITY));
    let q = V::select(inf, c(1.0), V::select(ninf, c(0.0), q));
    let r = V::select(V::or(inf, ninf), c(0.0), r);
    (q, r, V::select(p, c(0.0), k))
}

/// float32 `silu'(x) = sigmoid(x) F` in float64, `e = e^-|x|`: `F = 1 + x e / (1 + e)` for
/// `x > 0`; for `x <= 0`, `F = Q / (1 + e)`, `Q = 1 + x + e^x`, and near the root (`|t| < 1/4`,
/// `t = x - x0`) `Q = t + e^x0 expm1(t) = t (1 + e^x0 P(t))` (`P` the Taylor polynomial of
/// `expm1(t) / t` of degree 8, within 2^-40), where `1 + x + e^x` cancels.
struct SiluDerivativeWide;
impl WideFn for SiluDerivativeWide {
    #[inline(always)]
    fn at<W: Vector<Elem = f64>>(&self, x: W) -> W {
        let e = exp_wide(-x.abs());
        let inv = c::<W>(1.0) / (c::<W>(1.0) + e);
        let pos = x.gt(c(0.0));
        let t = (x - c(SILU_X0.0)) - c(SILU_X0.1);
        let at_root = t.abs().lt(c(0.25));
        let q = (c::<W>(1.0) + x) + e;
        let q = if W::any(at_root) {
            let root = t * poly(t, &EXP_TAYLOR_9[1..]).mul_add(c(SILU_E0.0), c(1.0));
            W::select(at_root, root, q)
        } else {
            q
        };
        let d = W::select(pos, x.mul_add(e * inv, c(1.0)) * inv, ((e * inv) * inv) * q);
        let d = W::select(x.ge(c(f64::INFINITY)), c(1.0), d);
        W::select(x.le(c(f64::NEG_INFINITY)), c(0.0), d)
    }
}

scaled_derivative!(
    SiluDerivative,
    /// `g * silu'(x)`, rounded once (also where it is subnormal).
    SiluBackward,
    silu_derivative_parts,
    24,
    wide = SiluDerivativeWide
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
/// subnormals (`softplus(-100) = e^-100`). `+inf` for `z = +inf`, 0 for `-inf`. Returned as
/// `(k, h, l)`, the value `2^k (h + l)` (`k = 0` but in that tail), rounded by [`mul_pow2_pair`].
#[inline(always)]
fn softplus_pair<V: Vector>(z: V, zl: Option<V>) -> (V, V, V) {
    let (k, h, l, ek, dh, _) = one_plus_exp_pair(z);
    let (lh, ll) = log1p_pair(ek * h, ek * l);
    let pos = z.gt(c(0.0));
    let (s, t) = two_sum(V::select(pos, z, c(0.0)), lh);
    let (sl, tl) = match zl {
        // (No correction, no division: softplus with beta = 1, logsigmoid.)
        None => (t + ll, l),
        Some(zl) => {
            let zl = V::select(z.abs().lt(c(f64::INFINITY)), zl, c(0.0));
            // sigmoid(z) roughly, for the zl term: 1 / (1 + e), or e / (1 + e).
            let sig = V::select(pos, c(1.0), ek * h) / dh;
            (sig.mul_add(zl, t + ll), h.mul_add(zl, l))
        }
    };
    let digits = V::Elem::MANTISSA_DIGITS as f64;
    let tail = V::and(k.lt(c(-(digits + 4.0))), z.lt(c(0.0)));
    let inf = z.ge(c(f64::INFINITY));
    (
        V::select(tail, k, c(0.0)),
        V::select(inf, z, V::select(tail, h, s)),
        V::select(inf, c(0.0), V::select(tail, tl, sl)),
    )
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
/// order), divided by `beta` as a pair and rounded once. Stable for any x: `softplus(-100) =
/// e^-100`, not 0 (PyTorch's
/// `log1p(exp(x))` agrees there).
pub struct Softplus {
    pub beta: f64,
    pub threshold: f64,
}
impl<T: Real> Kernel<T, 1> for Softplus {
    const COST: usize = 18;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        if narrow::<V>() {
            return via_f64(self, [x]);
        }
        let (z, zl) = times_beta(x, self.beta);
        let (k, h, l) = softplus_pair(z, (self.beta != 1.0).then_some(zl));
        let (q, r) = if self.beta == 1.0 {
            (h, l)
        } else {
            div_to_pair(h, l, c(self.beta), c(0.0))
        };
        let y = V::select(z.gt(c(self.threshold)), x, mul_pow2_pair(q, r, c(1.0), k));
        V::select(x.is_nan(), x, y)
    }
}

/// `softplus(z) = max(z, 0) + log1p(e^-|z|)` in float64, to about 2^-36.5 relative
/// ([`exp_wide`], [`log1p_unit_wide`]): both terms are >= 0, so adding them loses nothing.
#[inline(always)]
fn softplus_wide<W: Vector<Elem = f64>>(z: W) -> W {
    W::select(z.gt(c(0.0)), z, c(0.0)) + log1p_unit_wide(exp_wide(-z.abs()))
}

/// float32: `softplus_wide(beta x) (1 / beta)` with `beta x` in float64 (its rounding shifts `e` by at
/// most 2^-43 relative), rounded once to float32: within 1/2 + 2^-12 ulp. `beta` and `threshold`
/// are rounded to float32 first, as the float32 kernels take their parameters.
impl Wide<1> for Softplus {
    #[inline(always)]
    fn eval64<W: Vector<Elem = f64>>(&self, [x]: [W; 1]) -> W {
        let (beta, threshold) = (self.beta as f32 as f64, self.threshold as f32 as f64);
        let z = c::<W>(beta) * x;
        // 1 / beta is a normal float64 for any float32 beta (one more rounding, 2^-53).
        let y = softplus_wide(z) * c(1.0 / beta);
        W::select(z.gt(c(threshold)), x, y)
    }
}

/// `softplus'(x) = sigmoid(beta x)`, and 1 where `beta x > threshold` (as PyTorch's
/// `softplus_backward`); rounded once ([`sigmoid_pair`]).
pub struct SoftplusDerivative {
    pub beta: f64,
    pub threshold: f64,
}
impl<T: Real> Kernel<T, 1> for SoftplusDerivative {
    const COST: usize = 12;
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
    const COST: usize = 12;
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
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        if narrow::<V>() {
            return via_f64(self, [x]);
        }
        let (k, h, l) = softplus_pair(-x, None);
        V::select(x.is_nan(), x, -mul_pow2_pair(h, l, c(1.0), k))
    }
}

/// float32: `-softplus_wide(-x)` in float64, rounded once to float32 (`-0` for `x = +inf`).
impl Wide<1> for Logsigmoid {
    #[inline(always)]
    fn eval64<W: Vector<Elem = f64>>(&self, [x]: [W; 1]) -> W {
        -softplus_wide(-x)
    }
}

/// `logsigmoid'(x) = sigmoid(-x)`, rounded once, accurate in both tails.
pub struct LogsigmoidDerivative;
impl<T: Real> Kernel<T, 1> for LogsigmoidDerivative {
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (k, q, r) = sigmoid_pair(-x, c(0.0));
        V::select(x.is_nan(), x, mul_pow2_pair(q, r, c(1.0), k))
    }
}

/// `g * sigmoid(-x)` (ATen's `log_sigmoid_backward` without its buffer argument), rounded once.
pub struct LogsigmoidBackward;
impl<T: Real> Kernel<T, 2> for LogsigmoidBackward {
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        if narrow::<V>() {
            return via_f64(&LogsigmoidBackwardWide, [g, x]);
        }
        let (k, q, r) = sigmoid_pair(-x, c(0.0));
        V::select(x.is_nan(), x, mul_pow2_pair(q, r, g, k))
    }
}

/// float32 `g sigmoid(-x)` in float64, `e = e^-|x|` ([`exp_wide`]): `(g or g e) / (1 + e)`,
/// rounded once to float32 (as glu's `a sigma(b)`). An infinite `g` gives NaN where `e`
/// underflows float64 (`x > 745`), as the other float32 backwards through float64.
struct LogsigmoidBackwardWide;
impl Wide<2> for LogsigmoidBackwardWide {
    #[inline(always)]
    fn eval64<W: Vector<Elem = f64>>(&self, [g, x]: [W; 2]) -> W {
        let e = exp_wide(-x.abs());
        super::glu::times_sigmoid_wide(g, -x, e, c::<W>(1.0) / (e + c(1.0)))
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

/// `g / (1 + |x|) / (1 + |x|)` for finite `g`, rounded once: two quotients of pairs by `d + dl =
/// 1 + |x|`, each corrected by its exact remainder, with `r = 1 / d` for both (no second
/// division). `g` enters before the square can underflow.
#[inline(always)]
fn softsign_far<V: Vector>(g: V, x: V, r: V) -> V {
    let (d, dl) = one_plus_abs(x);
    let q1 = g * r;
    let q1l = ((-q1).mul_add(d, g) - q1 * dl) * r;
    let q2 = q1 * r;
    let rem = (-q2).mul_add(d, q1) + (-q2).mul_add(dl, q1l);
    rem.mul_add(r, q2)
}

/// `|x|` above `2^(digits+8)`, where `r^2` is far down (near or in the subnormals).
#[inline(always)]
fn softsign_huge<V: Vector>(x: V) -> V::Mask {
    x.abs()
        .gt(c(2f64.powi(V::Elem::MANTISSA_DIGITS as i32 + 8)))
}

/// `softsign'(x) = 1 / (1 + |x|)^2`, rounded once: `r^2 (1 + 2e)` with `r = 1 / (1 + |x|)`
/// rounded, `e` its relative error and `r^2` as a pair (no overflow of the square; 0 at ±inf);
/// where `r^2` is far down, [`softsign_far`] (the pair's low part would underflow).
pub struct SoftsignDerivative;
impl<T: Real> Kernel<T, 1> for SoftsignDerivative {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (r, _, p, corr) = softsign_d_parts(x);
        let y = V::select(softsign_huge(x), softsign_far(c(1.0), x, r), p + corr);
        V::select(x.abs().ge(c(f64::INFINITY)), c(0.0), y)
    }
}

/// `g * softsign'(x)`, rounded once: `g p + g c` in one fused multiply-add (see
/// [`SoftsignDerivative`]); where `r^2` is far down (`|x|` above `2^(digits+8)`),
/// [`softsign_far`], and `(g r) r` for an infinite `g` there.
pub struct SoftsignBackward;
impl<T: Real> Kernel<T, 2> for SoftsignBackward {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        let (r, _, p, corr) = softsign_d_parts(x);
        let gc = g * corr;
        let gc = V::select(gc.abs().lt(c(f64::INFINITY)), gc, c(0.0));
        let near = g.mul_add(p, gc);
        let finite_g = g.abs().lt(c(f64::INFINITY));
        let far = V::select(finite_g, softsign_far(g, x, r), (g * r) * r);
        // softsign' > 0: the sign of g, also for a zero result (g = -0 and corr < 0).
        let y = V::select(softsign_huge(x), far, near).copysign(g);
        V::select(x.abs().ge(c(f64::INFINITY)), g * c(0.0), y)
    }
}

// (x - tanh x) / x^3 on z = x^2 in [0, 2.25], in powers of v = z - 1.125: Chebyshev interpolants
// (tools/activation_constants.py); max relative error 3.6e-9 (float32 table), 4.0e-17 (float64).
// The first three coefficients as hi + lo pairs, the rest rounded.
#[rustfmt::skip]
const TANHSHRINK_HEAD_F32: [f64; 6] = [0.23024970214677892, 2.0615004442303404e-18, -0.0629839731615021, -4.7089553391607804e-18, 0.017491032855200525, -8.029487536241171e-19];
#[rustfmt::skip]
const TANHSHRINK_F32: [f64; 8] = [-0.0048670623136994155, 0.0013547493733641496, -0.0003776785574852026, 0.00010513249330734005, -2.8242417726651394e-05, 7.861710335375903e-06, -2.996582021470642e-06, 8.341446114241576e-07];
#[rustfmt::skip]
const TANHSHRINK_HEAD_F64: [f64; 6] = [0.23024970214677892, 3.5821642868092415e-18, -0.06298396506169865, -3.384257589165692e-19, 0.017491030600495585, 8.345794075875178e-19];
#[rustfmt::skip]
const TANHSHRINK_F64: [f64; 19] = [-0.004867189682961827, 0.0013547848285630172, -0.00037712208023276035, 0.00010497758920731984, -2.9222118027494065e-05, 8.134425671326323e-06, -2.264342262203761e-06, 6.303117924337237e-07, -1.754569645125708e-07, 4.884720800196142e-08, -1.3597370293125902e-08, 3.7760798444302025e-09, -1.051129798435845e-09, 3.0109061916883766e-10, -8.381319645682426e-11, 1.833098906298015e-11, -5.102712239340557e-12, 3.0837366064761937e-12, -8.58405428681785e-13];

/// `P(z) = (x - tanh x) / x^3` at `z = x^2 = z + zl` (`z <= 2.25`) as a pair `(ph, pl)`: `P = e0 +
/// e1 v + e2 v^2 + v^3 Q(v)`, `v = z - 1.125` (an exact pair), whose first three terms are pairs
/// (only `v^3 Q`, at most 3% of `P`, is rounded).
#[inline(always)]
fn tanhshrink_p<V: Vector>(z: V, zl: V) -> (V, V) {
    let head = super::by_type::<V>(&TANHSHRINK_HEAD_F32, &TANHSHRINK_HEAD_F64);
    let tail = super::by_type::<V>(&TANHSHRINK_F32, &TANHSHRINK_F64);
    let (vh, vl) = two_sum(z, c(-1.125));
    let vl = vl + zl;
    let (v2h, v2l) = square_pair(vh, vl);
    let w = (v2h * vh) * poly(vh, tail);
    let (e0h, e0l) = split::<V>(head[0], head[1]);
    let (e1h, e1l) = split::<V>(head[2], head[3]);
    let (e2h, e2l) = split::<V>(head[4], head[5]);
    let m1 = e1h * vh;
    let m1l = e1h.mul_add(vh, -m1) + e1h.mul_add(vl, e1l * vh);
    let m2 = e2h * v2h;
    let m2l = e2h.mul_add(v2h, -m2) + e2h.mul_add(v2l, e2l * v2h);
    let (s0, s0l) = fast_two_sum(e0h, m1);
    let (s1, s1l) = fast_two_sum(s0, m2);
    let (ph, p1) = fast_two_sum(s1, w);
    (ph, p1 + (s1l + s0l) + (m1l + m2l) + e0l)
}

/// `(tiny, up, down)`: below `|x| = tiny` the products of [`Tanhshrink`]'s small branch are formed
/// on `|x| up` and scaled back by `down = up^-3` last, so that a result near or in the subnormals
/// is rounded about once (its correction terms would underflow otherwise).
fn tanhshrink_scale<T: Real>() -> (f64, f64, f64) {
    if T::MANTISSA_DIGITS == 24 {
        (2f64.powi(-20), 2f64.powi(40), 2f64.powi(-120))
    } else {
        (2f64.powi(-100), 2f64.powi(300), 2f64.powi(-900))
    }
}

/// `tanhshrink(x) = x - tanh(x)`, with the sign of x, rounded about once: for `|x| < 1.5`, where
/// the difference cancels, `|x| P(x^2) x^2` (`P` an interpolant of `(x - tanh x) / x^3`, as a pair
/// from [`tanhshrink_p`]), with `x^2` and `|x| P` as pairs; for tiny `|x|` the products are formed
/// on `|x|` scaled up by a power of two and scaled back last, so results near and in the
/// subnormals are rounded about once. Above, `(|x| - 1) + 2e / (1 + e)` with `e = e^-2|x|` (both
/// terms positive, the quotient of pairs rounded once and under a fifth of the sum).
pub struct Tanhshrink;
impl<T: Real> Kernel<T, 1> for Tanhshrink {
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let a = x.abs();
        // Each branch only where some lane of the vector takes it (NaN takes the second).
        let use_small = a.lt(c(1.5));
        let small = if V::any(use_small) {
            let (tiny_at, up, down) = tanhshrink_scale::<T>();
            let tiny = a.lt(c(tiny_at));
            // as = |x| 2^s exactly; x^2 2^2s = zs + zsl exactly (x^2 itself is ~0 for P there).
            let a_s = a * V::select(tiny, c(up), c(1.0));
            let zs = a_s * a_s;
            let zsl = a_s.mul_add(a_s, -zs);
            let z = V::select(tiny, c(0.0), zs);
            let zl = V::select(tiny, c(0.0), zsl);
            let (ph, pl) = tanhshrink_p(z, zl);
            let ap = a_s * ph;
            let apl = a_s.mul_add(ph, -ap) + a_s * pl;
            let small = ap.mul_add(zs, ap.mul_add(zsl, apl * zs));
            small * V::select(tiny, c(down), c(1.0))
        } else {
            c(0.0)
        };
        let large = if V::any(V::or(a.ge(c(1.5)), a.is_nan())) {
            // |x| >= 1.5: e = e^-2|x| = 2^k (h + l), 1 + e = dh + dl.
            let (_, h, l, ek, dh, dl) = one_plus_exp_pair(a + a);
            let two_ek = ek + ek;
            let q = div_pair(two_ek * h, two_ek * l, dh, dl);
            (a - c(1.0)) + q
        } else {
            c(0.0)
        };
        V::select(use_small, small, large).copysign(x)
    }
}

/// `tanh(x)^2` as an unevaluated pair `(h, l)` (for `|x|` at least `TANH_TINY`; NaN passes): for
/// `|x| <= 1`, `(|x| - s)^2` with `s = |x|^3 P(x^2)` from [`Tanhshrink`]'s interpolant, every part a
/// pair (`s <= 0.24 |x|`, so its one rounded term hardly reaches the result); above, `1 - 4e / (1 +
/// e)^2` with `e = e^-2|x|` (no cancellation: `4e / (1 + e)^2 < 0.42`), every part a pair.
#[inline(always)]
fn tanh_squared_pair<V: Vector>(x: V) -> (V, V) {
    let a = x.abs();
    let big = a.gt(c(1.0));
    // Each branch only where some lane of the vector takes it (NaN takes the first).
    let (sq, sr) = if V::any(V::or(a.le(c(1.0)), a.is_nan())) {
        let b = V::select(big, c(1.0), a);
        let z = b * b;
        let zl = b.mul_add(b, -z);
        let (ph, pl) = tanhshrink_p(z, zl);
        let bp = b * ph;
        let bpl = b.mul_add(ph, -bp) + b * pl;
        let sh = bp * z;
        let sl = bp.mul_add(z, -sh) + bp.mul_add(zl, bpl * z);
        let (th, tl) = fast_two_sum(b, -sh);
        square_pair(th, tl - sl)
    } else {
        (c(0.0), c(0.0))
    };
    let (u, ul) = if V::any(big) {
        // |x| > 1: e = e^-2|x| = 2^k (h + l) (0 where it no longer reaches 1).
        let (_, h, l, ek, eh1, el1) = one_plus_exp_pair(a + a);
        let (s2h, s2l) = square_pair(eh1, el1);
        let (q, r) = div_to_pair(c::<V>(4.0) * (ek * h), c::<V>(4.0) * (ek * l), s2h, s2l);
        let (u, ul) = fast_two_sum(c(1.0), -q);
        (u, ul - r)
    } else {
        (c(0.0), c(0.0))
    };
    (V::select(big, u, sq), V::select(big, ul, sr))
}

/// float32 `tanh(x)^2` in float64: `tanh |x| = (1 - e) / (1 + e)`, `e = e^-2|x|`, with `1 - e =
/// 2|x| P(-2|x|)` for `|x| < 1/8` (`P` the Taylor polynomial of `expm1(t) / t`, as silu's), where
/// it would cancel.
struct TanhSquaredWide;
impl WideFn for TanhSquaredWide {
    #[inline(always)]
    fn at<W: Vector<Elem = f64>>(&self, x: W) -> W {
        let a2 = x.abs() * c(2.0);
        let e = exp_wide(-a2);
        let small = a2 * poly(-a2, &EXP_TAYLOR_9[1..]);
        let t = W::select(a2.lt(c(0.25)), small, c::<W>(1.0) - e) / (c::<W>(1.0) + e);
        t * t
    }
}

/// `tanhshrink'(x) = tanh(x)^2`, rounded once: [`tanh_squared_pair`], and below `TANH_TINY`
/// `x^2 (1 - 2x^2 / 3)` in one fused multiply-add (the next term is under 2^-(2 digits)).
pub struct TanhshrinkDerivative;
impl<T: Real> Kernel<T, 1> for TanhshrinkDerivative {
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        if narrow::<V>() {
            return via_f64(&Wide1(TanhSquaredWide), [x]);
        }
        let (h, l) = tanh_squared_pair(x);
        let z = x * x;
        let tiny = x.mul_add(x, (z * z) * c(-2.0 / 3.0));
        V::select(x.abs().lt(c(V::Elem::TANH_TINY)), tiny, h + l)
    }
}

/// `g * tanh(x)^2`, rounded once: `g h + g l` in one fused multiply-add from the pair; below
/// `TANH_TINY` `(g x) x (1 - 2x^2 / 3)` with `g x` as an exact pair, so that `g` enters before a
/// tiny `x^2` can underflow.
pub struct TanhshrinkBackward;
impl<T: Real> Kernel<T, 2> for TanhshrinkBackward {
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        if narrow::<V>() {
            return via_f64(&Wide2(TanhSquaredWide), [g, x]);
        }
        let (h, l) = tanh_squared_pair(x);
        let gl = g * l;
        // An infinite g times l = 0 must not make NaN of g h.
        let gl = V::select(gl.abs().lt(c(f64::INFINITY)), gl, c(0.0));
        let y = g.mul_add(h, gl);
        let gx = g * x;
        let gxl = g.mul_add(x, -gx);
        let corr = (gx * x) * ((x * x) * c(-2.0 / 3.0));
        let inner = gxl.mul_add(x, corr);
        // (NaN or infinite only for an infinite g, where g x alone is the result.)
        let inner = V::select(inner.abs().lt(c(f64::INFINITY)), inner, c(0.0));
        let tiny = gx.mul_add(x, inner);
        // tanh^2 >= 0: the sign of g, also for a zero result.
        V::select(x.abs().lt(c(V::Elem::TANH_TINY)), tiny, y).copysign(g)
    }
}
