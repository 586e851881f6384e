//! GELU, `x Phi(x)` (`Phi` the standard normal CDF), exact (`approximate="none"`) and in
//! PyTorch's tanh form (`approximate="tanh"`).
//!
//! The exact form is `x/2 erfc(s)` with `s = -x / sqrt(2)`. The rounding of `s` matters in the
//! negative tail (`erfc` there has relative slope `-2s`), so `s` is carried in two parts and the
//! factor `e^(-s^2)` is computed from `x^2` itself (split exactly into two parts); `e^(-x^2/2)`
//! is carried as `2^k m` and the power of two applied last ([`mul_pow2`]), so that subnormal
//! results are rounded once and a backward's gradient enters before the scaling. Both derivatives have
//! a root near `x = -0.752`; around it they are `t Q(t)`, `t = x - x0` exact and `Q` a Chebyshev
//! interpolant (tools/activation_constants.py), so they keep full relative accuracy there.

use super::smooth::{one_plus_exp_pair, sigmoid_pair};
use super::{
    WideFn, by_type, c, exp_split_pair, mul_pow2, mul_pow2_pair, narrow, poly, scaled_derivative,
    split, times_const,
};
use crate::math::{
    div_to_pair, erfc_pair_from, erfcx_pair, exp_wide, fast_two_sum, square_pair, two_prod,
    two_sum,
};
use crate::simd::{Kernel, Real, Vector, Wide, via_f64};

/// `1 / sqrt(2)`, `2 sqrt(2/pi)`, `2 sqrt(2/pi) 0.044715` and `1 / sqrt(2 pi)` as hi + lo.
const FRAC_1_SQRT2: (f64, f64) = (std::f64::consts::FRAC_1_SQRT_2, -4.833646656726457e-17);
const TWO_K: (f64, f64) = (1.5957691216057308, -9.96930880911092e-17);
const TWO_K_KAPPA: (f64, f64) = (0.07135481627260025, -6.175149918155315e-19);
const INV_SQRT_2PI: f64 = 0.3989422804014327;
const INV_SQRT_2PI_LO: f64 = -2.4923272022777433e-17;

/// `x` clamped to `[-1e3, 1e3]`: beyond, the results below no longer depend on x (or are
/// selected away), and the clamp keeps `x^2` and friends finite.
#[inline(always)]
fn clamp_1e3<V: Vector>(x: V) -> V {
    let x = V::select(x.lt(c(-1e3)), c(-1e3), x);
    V::select(x.gt(c(1e3)), c(1e3), x)
}

/// `e^(-x^2 / 2) = 2^k (h + l)` as `(k, h, l)`, from `x^2 = hi + lo` exactly:
/// `e^(-hi/2) (1 - lo/2)`.
#[inline(always)]
fn gauss<V: Vector>(x: V) -> (V, V, V) {
    let x = clamp_1e3(x);
    let (hi, lo) = two_prod(x, x);
    let (k, h, l) = exp_split_pair(hi * c(-0.5));
    (k, h, (-h).mul_add(lo * c(0.5), l))
}

/// The pieces of the exact form: `s + ds = -x / sqrt(2)`; where `s < 0.5`, `erfc(s + ds)` as a
/// pair `(eh, el)`; where `|s| >= 0.5`, `erfcx(|s + ds|)` as a pair `(th, tl)`, `e^(-x^2/2) =
/// 2^k (gh + gl)` and their product `(ph, pl)`, so that `erfc(|s + ds|) = 2^k (ph + pl)`. One
/// erfcx and one exponential serve both tails (`s >= 0.5`, `use_tail`, and `2 - erfc(-s)`).
struct ErfcParts<V: Vector> {
    use_tail: V::Mask,
    eh: V,
    el: V,
    th: V,
    tl: V,
    k: V,
    gh: V,
    gl: V,
    ph: V,
    pl: V,
}

#[inline(always)]
fn erfc_parts<V: Vector>(x: V) -> ErfcParts<V> {
    let (s, ds) = times_const(-x, FRAC_1_SQRT2);
    let use_tail = s.ge(c(0.5));
    let small = s.abs().lt(c(0.5));
    let (th, tl) = erfcx_pair(
        V::select(small, c(1.0), s.abs()),
        V::select(small, c(0.0), V::select(s.gt(c(0.0)), ds, -ds)),
    );
    let (k, gh, gl) = gauss(x);
    let (ph, pl) = mul_pairs(th, tl, gh, gl);
    let (_, eh, el) = erfc_pair_from(
        V::select(use_tail, c(0.0), s),
        V::select(use_tail, c(0.0), ds),
        (k, ph, pl),
    );
    ErfcParts {
        use_tail,
        eh,
        el,
        th,
        tl,
        k,
        gh,
        gl,
        ph,
        pl,
    }
}

/// `(ah + al)(bh + bl)` as a pair, to about 2^-(2 digits - 2) relative.
#[inline(always)]
fn mul_pairs<V: Vector>(ah: V, al: V, bh: V, bl: V) -> (V, V) {
    let (p, pl) = two_prod(ah, bh);
    (p, ah.mul_add(bl, al.mul_add(bh, pl)))
}

/// `gelu(x) = x Phi(x) = x/2 erfc(-x / sqrt(2))`, rounded once (up to the pairs' errors, about
/// 2^-(digits+5)): `x/2 (eh + el)`, or in the negative tail `x/2 2^k (gh + gl)(th + tl)`, with full
/// relative accuracy down to the subnormals. `gelu(-0) = -0`, `gelu(-inf) = -0` (PyTorch gives
/// NaN there), `gelu(inf) = inf`.
pub struct Gelu;
impl<T: Real> Kernel<T, 1> for Gelu {
    const COST: usize = 24;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        if narrow::<V>() {
            return via_f64(self, [x]);
        }
        let h = x * c(0.5);
        let p = erfc_parts(x);
        // gelu has the sign of x (the product's sign of zero follows el's otherwise).
        let near = h.mul_add(p.eh, h * p.el).copysign(x);
        let far = mul_pow2(h.mul_add(p.ph, h * p.pl), c(1.0), p.k).copysign(x);
        let far = V::select(x.le(c(f64::NEG_INFINITY)), c(-0.0), far);
        let near = V::select(x.ge(c(f64::INFINITY)), x, near);
        V::select(p.use_tail, far, near)
    }
}

// erfc(t) e^(t^2) on [0, 14.5] in w = 3 / (3 + t): u = w / 0.4142857142857143 - 1.4137931034482758
// (210/29 / (3 + t) - 41/29), degree 14, max relative error 4.26e-12 (tools/activation_constants.py
// `erfcx_wide`).
#[rustfmt::skip]
const ERFCX_WIDE: [f64; 15] = [0.24296652760707935, 0.35233214241472427, 0.2311716201941918, 0.11765331978937288, 0.044443156424746735, 0.011003441645828086, 0.0009453940652291265, -0.00041101102542126023, -0.00012776767840357614, 1.3869378254993532e-05, 1.0794641155258861e-05, -6.875337843703491e-07, -9.143662834407068e-07, 5.1794188618820296e-08, 6.264992978564842e-08];

/// `(Phi(x), e^(-x^2/2))` in float64 for float32 `x`, each within about 2^-36 relative:
/// `Phi(-|x|) = e^(-x^2/2) erfcx(t) / 2`, `t = |x| / sqrt(2)` clamped at 14.5 (beyond, `|x| >
/// 20.5`, float32 gelu rounds to `x` or to `-0`, and `g gelu'(x)` to `g` or to `-0` for every
/// finite `g`), `x^2` exact, `Phi(|x|) = 1 - Phi(-|x|)`. Nothing here cancels or underflows
/// where it matters.
#[inline(always)]
fn phi_wide<W: Vector<Elem = f64>>(x: W) -> (W, W) {
    let t = x.abs() * c(FRAC_1_SQRT2.0);
    let t = W::select(t.gt(c(14.5)), c(14.5), t);
    let u = c::<W>(210.0 / 29.0) / (c::<W>(3.0) + t) - c(41.0 / 29.0);
    let g = exp_wide((x * x) * c(-0.5));
    let lower = (g * poly(u, &ERFCX_WIDE)) * c(0.5);
    (W::select(x.ge(c(0.0)), c::<W>(1.0) - lower, lower), g)
}

/// float32: `x Phi(x)` in float64 ([`phi_wide`]), rounded once to float32.
impl Wide<1> for Gelu {
    #[inline(always)]
    fn eval64<W: Vector<Elem = f64>>(&self, [x]: [W; 1]) -> W {
        let y = x * tie_break(x, phi_wide(x).0);
        W::select(x.le(c(f64::NEG_INFINITY)), c(-0.0), y)
    }
}

/// `p` for `|x| >= 2^-30`, else `1/2 + 2^-40 sign(x)`, for a factor `p ~ 1/2 + x/sqrt(2 pi)`
/// of `x p`, evaluated in float64. For a subnormal float32 `x`, `x / 2` can be a float32
/// midpoint, and the true `x p` lies just beyond it in the direction of that sign, by far less
/// than float64 resolves: the nudge carries the direction to the final rounding. Elsewhere below
/// 2^-30 it moves `x p` by less than `x / 2` is from its float32 neighbours' midpoints.
#[inline(always)]
fn tie_break<W: Vector<Elem = f64>>(x: W, p: W) -> W {
    let nudged = c::<W>(0.5) + c::<W>(2f64.powi(-40)).copysign(x);
    W::select(x.abs().lt(c(2f64.powi(-30))), nudged, p)
}

// gelu'(x) / (x - x0) in t = x - x0 (tools/activation_constants.py): float32 on [x0 - 1, x0 + 1],
// float64 on [x0 - 1/4, x0 + 1/4] with its constant term as a pair (within 3e-17 relative).
const GELU_X0: (f64, f64) = (-0.7517915246935645, 1.4956759177009883e-17);
#[rustfmt::skip]
const GELU_Q_F32: [f64; 14] = [0.4314939923701102, 0.388284982989877, -0.018199681896466202, -0.11400823323118967, -0.014771433888835143, 0.01942167879126791, 0.004538695284996377, -0.0022395319022928415, -0.0007432857594747662, 0.00018632272333199762, 8.385083287832496e-05, -1.1191041572231258e-05, -5.99403706088219e-06, 4.1848017758693965e-07];
#[rustfmt::skip]
const GELU_Q_F64: [f64; 14] = [0.4314939923140469, 0.388284982990552, -0.01819967639867149, -0.1140082332972217, -0.014771522148141621, 0.01942167983818872, 0.00453922836926059, -0.0022395380680403495, -0.0007448263873892628, 0.00018633974472956073, 8.614887475855903e-05, -1.1214345457569661e-05, -7.624737760330687e-06, 4.3245394812467823e-07];
const GELU_Q_F64_LO: f64 = 2.756451748373117e-17;

/// `gelu'(x) = Phi(x) + x phi(x)` (`phi` the normal density). Near its root `x0 = -0.7518`
/// (`|x - x0| < 1/4`): `t Q(t)`, `t = x - x0`. Elsewhere for `x > 0`: `erfc(s)/2 + x phi(x)`
/// (positive terms); for `x < x0 - 1`: `e^(-x^2/2) (erfcx(s)/2 + x / sqrt(2 pi))` (the terms
/// cancel by at most a factor `1 / (1 - 1/x^2)`), as `(q + r) 2^k` for the subnormals.
/// `gelu'(0) = 1/2`, `gelu'(inf) = 1`, `gelu'(-inf) = 0`.
#[inline(always)]
fn gelu_derivative_parts<V: Vector>(x: V) -> (V, V, V) {
    let p = erfc_parts(x);
    let (xh, xl) = times_const(x, (INV_SQRT_2PI, INV_SQRT_2PI_LO));
    // x > -0.71: Phi(x) + 2^k x/sqrt(2 pi) (gh + gl), k small unless that term is negligible.
    let (qh, ql) = mul_pairs(xh, xl, p.gh, p.gl);
    let (nh, nl) = two_sum(p.eh * c(0.5), mul_pow2(qh, c(1.0), p.k));
    let near_l = p.el.mul_add(c(0.5), mul_pow2(ql, c(1.0), p.k)) + nl;
    // x < -0.71: 2^k (gh + gl)(erfcx/2 + x/sqrt(2 pi)).
    let (fh, fl) = two_sum(p.th * c(0.5), xh);
    let (fh, fl) = fast_two_sum(fh, fl + p.tl.mul_add(c(0.5), xl));
    let (ffh, ffl) = mul_pairs(fh, fl, p.gh, p.gl);
    // gelu' < 0 where this is used (x < x0 - 1): the sign of a zero product follows x.
    let ffh = ffh.copysign(x);
    let (use_tail, k) = (p.use_tail, p.k);
    let y = V::select(use_tail, ffh, nh);
    let l = V::select(use_tail, ffl, near_l);
    let k = V::select(use_tail, k, c(0.0));
    // t = th + tl exactly (x - hi is exact near the root). Elsewhere the pairs keep the
    // cancellation of the two terms harmless.
    let (x0h, x0l) = split::<V>(GELU_X0.0, GELU_X0.1);
    let (th, tl) = (x - x0h, -x0l);
    let t = th + tl;
    let at_root = t.abs().lt(c(0.25));
    let (y, l, k) = if V::any(at_root) {
        // Q(t) = c0 + t Q1(t) as a pair (qh + ql), then t Q(t) = th qh + (th ql + tl qh) with
        // th qh exact: one rounding at the end.
        let q = by_type::<V>(&GELU_Q_F32, &GELU_Q_F64);
        let (c0h, c0l) = split::<V>(q[0], by_type::<V>(&[0.0], &[GELU_Q_F64_LO])[0]);
        let (m, ml) = two_prod(t, poly(t, &q[1..]));
        let (qh, ql) = fast_two_sum(c0h, m);
        let ql = ql + (ml + c0l);
        let (p, pl) = two_prod(th, qh);
        let (root, root_l) = fast_two_sum(p, pl + th.mul_add(ql, tl * qh));
        (
            V::select(at_root, root, y),
            V::select(at_root, root_l, l),
            V::select(at_root, c(0.0), k),
        )
    } else {
        (y, l, k)
    };
    let inf = V::or(x.le(c(f64::NEG_INFINITY)), x.ge(c(f64::INFINITY)));
    let y = V::select(x.le(c(f64::NEG_INFINITY)), c(0.0), y);
    let y = V::select(x.ge(c(f64::INFINITY)), c(1.0), y);
    (y, V::select(inf, c(0.0), l), k)
}

/// float32 `gelu'(x) = Phi(x) + x e^(-x^2/2) / sqrt(2 pi)` in float64 ([`phi_wide`]; the terms
/// cancel by at most a factor 4 outside the root's neighbourhood), and `t Q(t)` (float64's `Q`)
/// for `|t| < 1/4`, `t = x - x0` (rounded once: `x - x0_hi` is exact).
struct GeluDerivativeWide;
impl WideFn for GeluDerivativeWide {
    #[inline(always)]
    fn at<W: Vector<Elem = f64>>(&self, x: W) -> W {
        let (p, g) = phi_wide(x);
        let d = x.mul_add(g * c(INV_SQRT_2PI), p);
        let t = (x - c(GELU_X0.0)) - c(GELU_X0.1);
        let at_root = t.abs().lt(c(0.25));
        let d = if W::any(at_root) {
            W::select(at_root, t * poly(t, &GELU_Q_F64), d)
        } else {
            d
        };
        // Negative below the root (-0 where both terms have underflowed to 0).
        let d = W::select(x.lt(c(-1.0)), -d.abs(), d);
        let d = W::select(x.ge(c(f64::INFINITY)), c(1.0), d);
        W::select(x.le(c(f64::NEG_INFINITY)), c(0.0), d)
    }
}

scaled_derivative!(
    GeluDerivative,
    /// `g * gelu'(x)`, rounded once (also where it is subnormal).
    GeluBackward,
    gelu_derivative_parts,
    30,
    wide = GeluDerivativeWide
);

/// `6 sqrt(2/pi) 0.044715` as hi + lo (`x z' = 2 sqrt(2/pi) x + this x^3`).
const SIX_K_KAPPA: (f64, f64) = (0.21406444881780073, 1.2025242832367862e-17);

/// `z = 2 sqrt(2/pi) (x + 0.044715 x^3)` and `w = x z' = 2 sqrt(2/pi) (x + 3 0.044715 x^3)`
/// as pairs `(z, zl, w, wl)`, for `x` clamped to `[-1e3, 1e3]` (beyond, every result below is
/// saturated, and the clamp keeps `x^3` finite): both terms of each have the sign of x, and each
/// is carried in two parts, so `z + zl` and `w + wl` are accurate to about `ulp^2` relative.
#[inline(always)]
fn tanh_arg<V: Vector>(x: V) -> (V, V, V, V) {
    let x = clamp_1e3(x);
    let (x2, x2l) = two_prod(x, x);
    let (x3, x3l) = two_prod(x2, x);
    let x3l = x2l.mul_add(x, x3l);
    let (p1, p1l) = times_const(x, TWO_K);
    let (p2, p2l) = times_const(x3, TWO_K_KAPPA);
    let p2l = c::<V>(TWO_K_KAPPA.0).mul_add(x3l, p2l);
    let (p3, p3l) = times_const(x3, SIX_K_KAPPA);
    let p3l = c::<V>(SIX_K_KAPPA.0).mul_add(x3l, p3l);
    let (z, zl) = two_sum(p1, p2);
    let (w, wl) = two_sum(p1, p3);
    (z, zl + (p1l + p2l), w, wl + (p1l + p3l))
}

/// PyTorch's tanh approximation `x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, evaluated
/// as `x sigmoid(z)` (`1 + tanh(z/2) = 2 sigmoid(z)`), rounded once: `z` is carried in two
/// parts, `sigmoid(z)` as a pair `2^k (q + r)` ([`sigmoid_pair`]), multiplied by `x` in one
/// fused multiply-add and scaled last ([`mul_pow2_pair`]), so the negative tail keeps full
/// relative accuracy down to the subnormals (the literal formula gives 0 or loses it to
/// `1 + tanh`). `gelu_tanh(-0) = -0`, `gelu_tanh(-inf) = -0`, `gelu_tanh(inf) = inf`.
pub struct GeluTanh;
impl<T: Real> Kernel<T, 1> for GeluTanh {
    const COST: usize = 18;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        if narrow::<V>() {
            return via_f64(self, [x]);
        }
        let (z, zl, _, _) = tanh_arg(x);
        let (k, q, r) = sigmoid_pair(z, zl);
        let y = mul_pow2_pair(q, r, x, k);
        V::select(x.le(c(f64::NEG_INFINITY)), c(-0.0), y)
    }
}

/// `(sigmoid(z), sigmoid(-z))` in float64 within about 2^-36 relative: `1 / (1 + e)` and
/// `e / (1 + e)`, `e = e^-|z|` ([`exp_wide`]).
#[inline(always)]
fn sigmoids_wide<W: Vector<Elem = f64>>(z: W) -> (W, W) {
    let e = exp_wide(-z.abs());
    let inv = c::<W>(1.0) / (c::<W>(1.0) + e);
    let pos = z.ge(c(0.0));
    (W::select(pos, inv, e * inv), W::select(pos, e * inv, inv))
}

/// `z = 2 sqrt(2/pi) (x + 0.044715 x^3)` and `x z'` in float64 (finite for float32 `x`).
#[inline(always)]
fn tanh_arg_wide<W: Vector<Elem = f64>>(x: W) -> (W, W) {
    let x2 = x * x;
    (
        x * x2.mul_add(c(TWO_K_KAPPA.0), c(TWO_K.0)),
        x * x2.mul_add(c(SIX_K_KAPPA.0), c(TWO_K.0)),
    )
}

/// float32: `x sigmoid(z)` in float64, rounded once to float32 (`z` rounded in float64 moves
/// the result by `|z| 2^-53` relative at most).
impl Wide<1> for GeluTanh {
    #[inline(always)]
    fn eval64<W: Vector<Elem = f64>>(&self, [x]: [W; 1]) -> W {
        let y = x * tie_break(x, sigmoids_wide(tanh_arg_wide(x).0).0);
        W::select(x.le(c(f64::NEG_INFINITY)), c(-0.0), y)
    }
}

// The root of gelu_tanh' and (gelu_tanh'(x) / sigmoid(z)) / (x - x0) on [x0 - 1/8, x0 + 1/8] in
// t = x - x0, the constant term as hi + lo (tools/activation_constants.py: relative error 5e-11
// and 7e-19).
const GELU_TANH_X0: (f64, f64) = (-0.7524614220710163, 3.635560509207687e-17);
const GELU_TANH_C0_F32: (f64, f64) = (1.904599123721941, 8.259276938958576e-17);
#[rustfmt::skip]
const GELU_TANH_Q_F32: [f64; 5] = [-0.8163184971425217, 0.061605251512191844, 0.00232103418629393, 0.010185778382936543, -0.0017323620783230096];
const GELU_TANH_C0_F64: (f64, f64) = (1.9045991238220834, -1.0640577287780251e-16);
#[rustfmt::skip]
const GELU_TANH_Q_F64: [f64; 11] = [-0.8163184971863922, 0.06160513613987117, 0.0023210847331222467, 0.0102054769981113, -0.0017409966963175233, -0.0008417388297446634, 0.00036960745331599687, 7.215262418115915e-05, -6.82560625550771e-05, -1.3317720193200671e-05, 9.751933823735346e-06];

/// The derivative of the tanh form, `sigmoid(z) F` with `F = 1 + w sigmoid(-z)`, `w = x z'`,
/// as a quotient of pairs (the pair `(q, r)` of [`div_to_pair`], and `k`), `e = e^-|z| = 2^k (h + l)`:
/// for `z >= 0`, `(1 + e (1 + w)) / (1 + e)^2` (positive terms); for `z < 0`,
/// `e (1 + e + w) / (1 + e)^2` (`1 + e` and `w` cancel by at most a factor 4 outside the root's
/// neighbourhood), with `2^k` applied last, so subnormal results are rounded once. `F` has a
/// root `x0 = -0.7525`: for `|t| < 1/8`, `t = x - x0` (exact in two parts), `e F / (1 + e)` with
/// `F = t Q(t)`, `t c0` exact as a pair. 1/2 at 0, 1 at inf, 0 at -inf.
#[inline(always)]
fn gelu_tanh_derivative_parts<V: Vector>(x: V) -> (V, V, V) {
    let (z, zl, w, wl) = tanh_arg(x);
    let (k, h, l, ek, dh, dl) = one_plus_exp_pair(z);
    // z + zl: e (1 + zl sign(z)) to first order (e' = -e sign(z)).
    let zl = V::select(z.ge(c(0.0)), -zl, zl);
    let dl = (ek * h).mul_add(zl, dl);
    let l = h.mul_add(zl, l);
    let (sh, sl) = square_pair(dh, dl);
    let pos = z.ge(c(0.0));
    // z >= 0: 1 + e (1 + w).
    let (ow, owl) = two_sum(c(1.0), w);
    let (eh, el) = (ek * h, ek * l);
    let (p, pl) = two_prod(eh, ow);
    let pl = pl + eh.mul_add(owl + wl, el * ow);
    let (ph, pl2) = two_sum(c(1.0), p);
    let (pos_h, pos_l) = (ph, pl2 + pl);
    // z < 0: (h + l)(1 + e + w) (2^k apart).
    let (nh, nl) = two_sum(dh, w);
    let nl = nl + (dl + wl);
    // Near the root: F = t Q(t) = t c0 + t (t Q1(t)) as a pair.
    let (x0h, x0l) = split::<V>(GELU_TANH_X0.0, GELU_TANH_X0.1);
    let (th, tl) = (x - x0h, -x0l);
    let t = th + tl;
    let at_root = t.abs().lt(c(0.125));
    let (fh, fl) = if V::any(at_root) {
        let (c0, q1) = if V::Elem::MANTISSA_DIGITS == 24 {
            (GELU_TANH_C0_F32, &GELU_TANH_Q_F32[..])
        } else {
            (GELU_TANH_C0_F64, &GELU_TANH_Q_F64[..])
        };
        let (c0h, c0l) = split::<V>(c0.0, c0.1);
        let r = t.mul_add(poly(t, q1), c0l);
        let (fh, fl) = two_prod(th, c0h);
        let fl = fl + th.mul_add(r, tl * c0h);
        (V::select(at_root, fh, nh), V::select(at_root, fl, nl))
    } else {
        (nh, nl)
    };
    let (mh, ml) = two_prod(h, fh);
    let ml = ml + h.mul_add(fl, l * fh);
    let (num_h, num_l) = (V::select(pos, pos_h, mh), V::select(pos, pos_l, ml));
    let (den_h, den_l) = (V::select(at_root, dh, sh), V::select(at_root, dl, sl));
    let (q, r) = div_to_pair(num_h, num_l, den_h, den_l);
    // z < 0: the sign of F, also where e^z has underflowed to 0.
    let q = V::select(pos, q, q.copysign(fh + fl));
    let q = V::select(x.le(c(f64::NEG_INFINITY)), c(0.0), q);
    let q = V::select(x.ge(c(f64::INFINITY)), c(1.0), q);
    let r = V::select(x.abs().ge(c(f64::INFINITY)), c(0.0), r);
    (q, r, V::select(pos, c(0.0), k))
}

/// float32 `gelu_tanh'(x) = sigmoid(z) F`, `F = 1 + x z' sigmoid(-z)`, in float64, with `F = t
/// (c0 + t Q(t))` (float64's) for `|t| < 1/8`, `t = x - x0`, where the terms of `F` cancel.
struct GeluTanhDerivativeWide;
impl WideFn for GeluTanhDerivativeWide {
    #[inline(always)]
    fn at<W: Vector<Elem = f64>>(&self, x: W) -> W {
        let (z, w) = tanh_arg_wide(x);
        let (sp, sn) = sigmoids_wide(z);
        let t = (x - c(GELU_TANH_X0.0)) - c(GELU_TANH_X0.1);
        let at_root = t.abs().lt(c(0.125));
        let f = w.mul_add(sn, c(1.0));
        let f = if W::any(at_root) {
            let root = t * t.mul_add(poly(t, &GELU_TANH_Q_F64), c(GELU_TANH_C0_F64.0));
            W::select(at_root, root, f)
        } else {
            f
        };
        let d = W::select(x.ge(c(f64::INFINITY)), c(1.0), sp * f);
        W::select(x.le(c(f64::NEG_INFINITY)), c(0.0), d)
    }
}

scaled_derivative!(
    /// `gelu_tanh'(x)`, rounded once.
    GeluTanhDerivative,
    /// `g * gelu_tanh'(x)` (ATen's `gelu_backward(grad_output, x, "tanh")`), rounded once: `g`
    /// multiplies the derivative's pair before its power of two is applied.
    GeluTanhBackward,
    gelu_tanh_derivative_parts,
    24,
    wide = GeluTanhDerivativeWide
);
