//! Vector math, written once for every [`Vector`] type: exp, expm1, tanh, log1p, erf, erfc.
//!
//! Range reduction: `x = k ln2 + r` with `k = round(x / ln2)` and `|r| <= ln2 / 2`; with `ln2`
//! rounded to the type, `x - k RN(ln2)` is exact under a fused multiply-add, and `k (ln2 -
//! RN(ln2))` is carried separately. `expm1(r) = r + r^2 P(r)` with `P` a near-minimax polynomial
//! whose error is under 2^-(digits+6). The result is kept as `2^k (1 + qh + ql)`
//! ([`exp_parts`]); sums and quotients built on it are pairs (error-free transformations), so
//! results are rounded about once. `2^k` is applied in two steps so that results that overflow
//! or fall into the subnormals are rounded once, at the end.
//!
//! Error bounds (measured by the test suite against mpmath, and over every float32 input by
//! `examples/exhaustive.rs`): exp, expm1 and tanh within 1 ulp; log1p within 2 ulp (float64) and
//! 2.5 ulp (float32); erf and erfc within 3 ulp.

use crate::simd::{Real, Vector};

/// Per-type constants of the vector math.
pub trait MathConsts {
    /// `1.5 * 2^(digits-1)`: adding and subtracting it rounds to an integer.
    const ROUND_MAGIC: f64;
    const LN2_HI: f64;
    const LN2_LO: f64;
    /// exp(x) is 0 below, inf above (after rounding).
    const EXP_LO: f64;
    const EXP_HI: f64;
    /// `M` in [`exp_nonpositive`]: `k + M` and `-M` are normal exponents for every `k` it sees.
    const EXP_SHIFT: f64;
    /// `a b e^x` is 0 below this for any finite `a`, `b` (see [`exp_mul`]).
    const EXP_MUL_LO: f64;
    /// expm1(x) rounds to -1 below this.
    const EXPM1_LO: f64;
    /// expm1(x) rounds to x for |x| below this.
    const EXPM1_TINY: f64;
    /// tanh(x) rounds to 1 above this, and `2 TANH_SAT / ln2` rounds to at most digits + 2.
    const TANH_SAT: f64;
    /// `ln2 - RN(ln2)`: with `ln2` rounded to the type, `x - k RN(ln2)` is exact under a fused
    /// multiply-add for every `|k|` [`exp_parts`] sees, and this is the rest.
    const LN2_R: f64;
    /// tanh(x) rounds to x below this (`x^2 / 3 < 2^-(digits+1)`).
    const TANH_TINY: f64;
    /// Coefficients of P in `expm1(r) = r + r^2 P(r)`, `|r| <= ln2/2`.
    const EXPM1_P: &'static [f64];
    /// 2/3, 2/5, 2/7, ...: `log(1 + f) = 2 atanh(s) = 2s + s z (2/3 + 2z/5 + ...)`, `z = s^2`.
    const LOG_P: &'static [f64];
}

impl MathConsts for f32 {
    const ROUND_MAGIC: f64 = 12582912.0; // 1.5 * 2^23
    const LN2_HI: f64 = 0.693145751953125; // 0x3f317200
    const LN2_LO: f64 = 1.428606765330187e-6; // 0x35bfbe8e
    const EXP_LO: f64 = -104.0;
    const EXP_HI: f64 = 89.0;
    const EXP_SHIFT: f64 = 64.0;
    const EXP_MUL_LO: f64 = -260.0;
    const EXPM1_LO: f64 = -18.0;
    const EXPM1_TINY: f64 = 9.313225746154785e-10; // 2^-30
    const TANH_SAT: f64 = 9.1; // 2 * 9.1 / ln2 rounds to 26 = digits + 2
    const LN2_R: f64 = -1.904654299957768e-09;
    const TANH_TINY: f64 = 2.44140625e-4; // 2^-12
    // Near-minimax on [-ln2/2, ln2/2] (Chebyshev interpolant, coefficients rounded to float32):
    // |r^2 (P(r) - P_exact(r))| < 2^-30 e^r.
    const EXPM1_P: &'static [f64] = &[
        0.5,
        0.1666666716337204,
        0.041666463017463684,
        0.00833331048488617,
        0.001393366721458733,
        0.00019891010015271604,
    ];
    const LOG_P: &'static [f64] = &[2.0 / 3.0, 2.0 / 5.0, 2.0 / 7.0, 2.0 / 9.0, 2.0 / 11.0];
}

impl MathConsts for f64 {
    const ROUND_MAGIC: f64 = 6755399441055744.0; // 1.5 * 2^52
    const LN2_HI: f64 = 0.6931471803691238; // 0x3fe62e42fee00000
    const LN2_LO: f64 = 1.9082149292705877e-10; // 0x3dea39ef35793c76
    const EXP_LO: f64 = -746.0;
    const EXP_HI: f64 = 710.0;
    const EXP_SHIFT: f64 = 600.0;
    const EXP_MUL_LO: f64 = -2000.0;
    const EXPM1_LO: f64 = -40.0;
    const EXPM1_TINY: f64 = 8.673617379884035e-19; // 2^-60
    const TANH_SAT: f64 = 19.1; // 2 * 19.1 / ln2 rounds to 55 = digits + 2
    const LN2_R: f64 = 2.3190468138462996e-17;
    const TANH_TINY: f64 = 7.450580596923828e-9; // 2^-27
    // Near-minimax on [-ln2/2, ln2/2]: |r^2 (P(r) - P_exact(r))| < 2^-61 e^r.
    const EXPM1_P: &'static [f64] = &[
        0.5,
        0.1666666666666667,
        0.04166666666666667,
        0.008333333333326124,
        0.0013888888888883742,
        0.00019841269874858612,
        2.4801587325574868e-05,
        2.7557255352032673e-06,
        2.7557273608709007e-07,
        2.51052370507603e-08,
        2.0914701283103285e-09,
    ];
    const LOG_P: &'static [f64] = &[
        2.0 / 3.0,
        2.0 / 5.0,
        2.0 / 7.0,
        2.0 / 9.0,
        2.0 / 11.0,
        2.0 / 13.0,
        2.0 / 15.0,
        2.0 / 17.0,
        2.0 / 19.0,
        2.0 / 21.0,
        2.0 / 23.0,
    ];
}

#[inline(always)]
fn c<V: Vector>(v: f64) -> V {
    V::splat(V::Elem::from_f64(v))
}

/// The polynomial with these coefficients (constant term first) at `x`, by Horner's scheme,
/// except that from 7 coefficients on, the part above `c0 + c1 x` is evaluated by Estrin's:
/// pairs `c2 + c3 x`, `c4 + c5 x`, .. combined with `x^2`, then those with `x^4`, and so on.
/// The dependency chain is then about `log2(n) + 2` fused multiply-adds long instead of
/// `n - 1`; the long float64 polynomials (exp's, erfcx's) were bound by it. The last two steps
/// stay Horner's, so the rounding errors that reach the result unscaled are the same as in
/// Horner's scheme (a full Estrin scheme rounds `c0 + c1 x` once more: float32 tanh, through a
/// 6-term polynomial, went from 0.78 to 0.89 ULP).
#[inline(always)]
pub(crate) fn poly<V: Vector>(x: V, coeffs: &[f64]) -> V {
    poly_by(x, coeffs.len(), coeffs)
}

/// A polynomial's coefficients as vectors, `at(k)` that of `x^k`. Not a closure: a closure
/// compiles without its caller's target features, so where it is not inlined (a build without
/// LTO) each coefficient became a call and each SIMD intrinsic in it another (float64 gelu took
/// 131 ns/element instead of 5.5 on one thread).
pub(crate) trait Coefs<V> {
    fn at(&self, k: usize) -> V;
}

impl<V: Vector> Coefs<V> for &[f64] {
    #[inline(always)]
    fn at(&self, k: usize) -> V {
        c(self[k])
    }
}

/// [`poly`] with `n` coefficients given by `coef.at(k)` (vectors, e.g. chosen lane by lane).
#[inline(always)]
pub(crate) fn poly_by<V: Vector>(x: V, n: usize, coef: impl Coefs<V>) -> V {
    if !(7..=34).contains(&n) {
        let mut acc = coef.at(n - 1);
        for k in (0..n - 1).rev() {
            acc = acc.mul_add(x, coef.at(k));
        }
        return acc;
    }
    let mut t = [c::<V>(0.0); 16];
    let mut m = (n - 2).div_ceil(2);
    for (i, ti) in t.iter_mut().enumerate().take(m) {
        let k = 2 + 2 * i;
        *ti = if k + 1 < n {
            coef.at(k + 1).mul_add(x, coef.at(k))
        } else {
            coef.at(k)
        };
    }
    let mut p = x * x;
    while m > 1 {
        let half = m.div_ceil(2);
        for i in 0..half {
            t[i] = if 2 * i + 1 < m {
                t[2 * i + 1].mul_add(p, t[2 * i])
            } else {
                t[2 * i]
            };
        }
        m = half;
        if m > 1 {
            p = p * p;
        }
    }
    t[0].mul_add(x, coef.at(1)).mul_add(x, coef.at(0))
}

/// `min(max(x, lo), hi)`, NaN kept.
#[inline(always)]
fn clamp<V: Vector>(x: V, lo: f64, hi: f64) -> V {
    let x = V::select(x.lt(c(lo)), c(lo), x);
    V::select(x.gt(c(hi)), c(hi), x)
}

/// `v * 2^k` for integer-valued `k` whose halves lie in the normal exponent range.
#[inline(always)]
fn scale<V: Vector>(v: V, k: V) -> V {
    let magic = c::<V>(<V::Elem as MathConsts>::ROUND_MAGIC);
    let k1 = k.mul_add(c(0.5), magic) - magic;
    (v * k1.pow2i()) * (k - k1).pow2i()
}

/// e^x.
#[inline(always)]
pub fn exp<V: Vector>(x: V) -> V {
    let (k, h, l) = exp_pair(clamp(x, V::Elem::EXP_LO, V::Elem::EXP_HI));
    scale(h + l, k)
}

/// `1/n!` for n = 0..=9.
pub const EXP_TAYLOR_9: [f64; 10] = [
    1.0,
    1.0,
    0.5,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40320.0,
    1.0 / 362880.0,
];

/// e^x for `x <= 0` (or NaN) in float64, to about 2^-37 relative, for the float32 kernels
/// evaluated through float64 ([`crate::simd::via_f64`]): `2^k e^r`, `|r| <= ln2/2` (`r` within
/// 2^-50 absolute), `e^r` by its Taylor polynomial of degree 9 (remainder below 7e-12 relative).
/// `2^k` is applied as `2^(k + 64) 2^-64`, so results in the float64 subnormals are rounded once
/// and those below (`x < -745.2`) are 0, as the float64 reference functions have them (`x` is
/// clamped at -746, where `2^(k + 64)` is still normal).
#[inline(always)]
pub fn exp_wide<W: Vector<Elem = f64>>(x: W) -> W {
    let x = W::select(x.lt(c(-746.0)), c(-746.0), x);
    let magic = c::<W>(f64::ROUND_MAGIC);
    let k = x.mul_add(c(std::f64::consts::LOG2_E), magic) - magic;
    let r = k.mul_add(c(-std::f64::consts::LN_2), x);
    (poly(r, &EXP_TAYLOR_9) * (k + c(64.0)).pow2i()) * c(2f64.powi(-64))
}

/// log1p(t) / t on [0, 1]: the degree-14 Chebyshev interpolant as monomials in `t`, within
/// 2^-40.7 relative (tools/activation_constants.py `log1p_unit`).
#[rustfmt::skip]
const LOG1P_UNIT: [f64; 15] = [0.999999999999444, -0.4999999997492939, 0.3333333144208243, -0.24999943207098252, 0.1999909826782333, -0.16657944946065484, 0.14229846053874007, -0.12249774442965769, 0.1029723046589254, -0.08021112257135836, 0.05400414697999852, -0.029010997546993378, 0.011320424011110997, -0.002799228584141647, 0.00032552168604054284];

/// log1p(t) for `t` in [0, 1] (or NaN) in float64, to about 2^-40 relative: `t P(t)` with no
/// reduction and no division, for the float32 kernels evaluated through float64 (the general
/// [`log1p`] costs about three times as much).
#[inline(always)]
pub fn log1p_unit_wide<W: Vector<Elem = f64>>(t: W) -> W {
    t * poly(t, &LOG1P_UNIT)
}

/// e^x for `x <= 0` (or NaN), cheaper than [`exp`]: one clamp, and the scale `2^k` applied as
/// `2^(k + M)` then `2^-M` (a constant), so that subnormal results are still rounded once.
#[inline(always)]
pub fn exp_nonpositive<V: Vector>(x: V) -> V {
    exp_nonpositive_scaled(x, 0)
}

/// `2^s e^x` for `x <= 0` and small `s >= 0`, rounded once (as [`exp_nonpositive`]), so that a
/// power-of-two multiple of a subnormal `e^x` keeps its precision.
#[inline(always)]
pub fn exp_nonpositive_scaled<V: Vector>(x: V, s: i32) -> V {
    // Below EXP_LO - s, 2^s e^x rounds to 0 (s ln2 < s).
    let lo = V::Elem::EXP_LO - s as f64;
    let x = V::select(x.lt(c(lo)), c(lo), x);
    let (k, h, l) = exp_pair(x);
    let m = V::Elem::EXP_SHIFT;
    ((h + l) * (k + c(m)).pow2i()) * c(2f64.powi(s - m as i32))
}

/// `a * b * e^x`, rounded once: [`exp_mul_pair`] with `b` exact.
#[inline(always)]
pub fn exp_mul<V: Vector>(x: V, a: V, b: V) -> V {
    exp_mul_pair(x, a, b, c(0.0))
}

/// `a * (bh + bl) * e^x`, rounded once, without a subnormal `e^x` on the way. With `e^x = 2^k
/// (h + l)`, `k = k1 + 2 k2` and `k2 = ceil(k / 3)`, it computes `(((h + l) (bh + bl) 2^k1) a)
/// 2^k2 2^k2` with `(h + l) (bh + bl)` as a pair: one rounding, then scalings that only round
/// where the result is subnormal. For `x <= 0`, `2^k1 <= 1`, so nothing overflows for
/// `|a (bh + bl)| < MAX / 2`; above, only where the result overflows. `x` below `EXP_MUL_LO`
/// counts as `EXP_MUL_LO` (the result is then 0 for finite `a`, `b`), `x` above `-EXP_MUL_LO` as
/// `-EXP_MUL_LO` (the result is then infinite for nonzero `a`, `b`, and 0 for a zero one, also at
/// `x = +inf`); `x = -inf` gives `(a * 0) * bh`.
#[inline(always)]
pub fn exp_mul_pair<V: Vector>(x: V, a: V, bh: V, bl: V) -> V {
    exp_mul_with::<V, false>(x, a, bh, bl)
}

/// [`exp_mul_pair`] for large positive `x` too: where `e^x` scales up, a tiny (or subnormal) `a`
/// would be rounded before it is, so there `a` is taken as `a 2^64` and `e^x` as `e^x 2^-64`.
#[inline(always)]
pub fn exp_mul_pair_up<V: Vector>(x: V, a: V, bh: V, bl: V) -> V {
    exp_mul_with::<V, true>(x, a, bh, bl)
}

#[inline(always)]
fn exp_mul_with<V: Vector, const UP: bool>(x: V, a: V, bh: V, bl: V) -> V {
    let lo = V::Elem::EXP_MUL_LO;
    let (k, h, l) = exp_pair(clamp(x, lo, -lo));
    let up = V::and(k.gt(c(0.0)), a.abs().lt(c(2f64.powi(-64))));
    let (k, a) = if UP && V::any(up) {
        let k = V::select(up, k - c(64.0), k);
        (k, V::select(up, a * c(2f64.powi(64)), a))
    } else {
        (k, a)
    };
    let v = mul_exp_pair(k, h, l, a, bh, bl);
    V::select(x.le(c(f64::NEG_INFINITY)), (a * c(0.0)) * bh, v)
}

/// `a (bh + bl) 2^k (h + l)` for `(k, h, l)` from [`exp_pair`] of an `x` in `[EXP_MUL_LO,
/// -EXP_MUL_LO]`: the body of [`exp_mul_pair`], for callers that already have the exponential.
#[inline(always)]
pub fn mul_exp_pair<V: Vector>(k: V, h: V, l: V, a: V, bh: V, bl: V) -> V {
    let magic = c::<V>(V::Elem::ROUND_MAGIC);
    // ceil(k / 3) = round(k / 3 + 1 / 3) for integer k.
    let k2 = (k.mul_add(c(1.0 / 3.0), c(1.0 / 3.0)) + magic) - magic;
    let k1 = k - (k2 + k2);
    let (s1, s2) = (k1.pow2i(), k2.pow2i());
    let ph = h * bh;
    let pl = l.mul_add(bh, h.mul_add(bl, h.mul_add(bh, -ph)));
    // The correction term only where finite (an infinite a or b would make it NaN).
    let corr = (pl * s1) * a;
    let corr = V::select(corr.abs().lt(c(f64::INFINITY)), corr, c(0.0));
    let v = ((ph * s1).mul_add(a, corr) * s2) * s2;
    // A zero result has the sign of a b (the pair's two zero terms may differ in sign).
    v.copysign(a * bh)
}

/// `1 / (dh + dl)` as an unevaluated pair `(q, r)`, `q + r` within about 2^-(2 digits - 2)
/// relative, for a normalized pair.
#[inline(always)]
pub fn recip_pair<V: Vector>(dh: V, dl: V) -> (V, V) {
    let q = c::<V>(1.0) / dh;
    let rem = (-q).mul_add(dh, c(1.0)) + (-q) * dl;
    (q, rem * q)
}

/// log(1 + x), accurate near 0 (the sign of zero is kept): `1 + x = 2^e m` with `m` in
/// `[sqrt(1/2), sqrt(2))`, `log m = 2 atanh(s)` with `s = f / (2 + f)`, `f = m - 1`, evaluated
/// as fdlibm does (`f - (f^2/2 - s (f^2/2 + R(s^2)))`), plus the rounding error of `1 + x`
/// divided by `1 + x`. `x < -1` gives NaN, `-1` gives -inf.
#[inline(always)]
pub fn log1p<V: Vector>(x: V) -> V {
    let u = x + c(1.0);
    let (m, e) = u.frexp();
    let big = m.gt(c(std::f64::consts::SQRT_2));
    let (m, e) = (V::select(big, m * c(0.5), m), V::select(big, e + c(1.0), e));
    // The part of 1 + x that rounding lost, relative to u (exact numerators).
    let lost = V::select(e.ge(c(1.0)), c::<V>(1.0) - (u - x), x - (u - c(1.0)));
    let corr = lost / u;
    let f = m - c(1.0);
    let s = f / (f + c(2.0));
    let z = s * s;
    let r = z * poly(z, V::Elem::LOG_P);
    let hfsq = c::<V>(0.5) * f * f;
    let tail = e.mul_add(c(V::Elem::LN2_LO), corr);
    let res = e.mul_add(c(V::Elem::LN2_HI), f - (hfsq - s.mul_add(hfsq + r, tail)));
    let res = V::select(x.abs().lt(c(V::Elem::EXPM1_TINY)), x, res);
    let res = V::select(x.ge(c(f64::INFINITY)), x, res);
    let res = V::select(
        x.le(c(-1.0)),
        V::select(x.lt(c(-1.0)), c(f64::NAN), c(f64::NEG_INFINITY)),
        res,
    );
    V::select(x.is_nan(), x, res)
}

/// Monomial coefficients (constant term first) of erfc(x) e^(x^2) in `u = (2x - a - b)/(b - a)`
/// on [0.5, 1.5], [1.5, 3], [3, 5.5] and [5.5, 9]: Chebyshev interpolants of degree 19, from
/// mpmath (tools/activation_constants.py `erfcx_tables`), within 2e-18 relative with the first
/// three coefficients as pairs (`ERFC_G_LO`).
#[rustfmt::skip]
const ERFC_G: [[f64; 20]; 4] = [
    [0.427583576155807, -0.13660600739194928, 0.03859289034297711, -0.009903371117665843, 0.0023482685134556683, -0.0005206834090754475, 0.00010890847460885324, -2.163331856130053e-05, 4.102614842095931e-06, -7.460049374256611e-07, 1.305302513322031e-07, -2.2042929508324577e-08, 3.601842924742637e-09, -5.707387440975057e-10, 8.78797021257931e-11, -1.3167846443529922e-11, 1.915163774386962e-12, -2.7310706746973177e-13, 4.1833783443901666e-14, -5.680162132986565e-15],
    [0.23108725873039188, -0.06636487710656187, 0.017995852918522275, -0.004641494381623145, 0.0011450727488397977, -0.0002714121303982912, 6.203181705923726e-05, -1.3711609160972556e-05, 2.9386391538705836e-06, -6.119614595876264e-07, 1.2405993201102888e-07, -2.452313392118715e-08, 4.733442131241577e-09, -8.933009822571711e-10, 1.650800160233186e-10, -2.987899137209373e-11, 5.25058612640922e-12, -9.155372836608336e-13, 1.81932180101889e-13, -3.0478317456635865e-14],
    [0.12934527478598792, -0.036180414268269165, 0.00989354105292619, -0.002648306967000196, 0.0006947635665036567, -0.00017881927555332474, 4.519689043676755e-05, -1.122761075924692e-05, 2.7433647321112305e-06, -6.597814070032796e-07, 1.5628394010834877e-07, -3.648206008906842e-08, 8.396649008661062e-09, -1.9066057604150515e-09, 4.2793620769740974e-10, -9.468469406655452e-11, 2.014137988177826e-11, -4.355661898475579e-12, 1.1911777403872282e-12, -2.502894527323672e-13],
    [0.0770991803512599, -0.018271841003926998, 0.004292257088409644, -0.0009996675102194078, 0.00023087789867281232, -5.288736425379678e-05, 1.2018376906260318e-05, -2.7098274411060394e-06, 6.063358968423784e-07, -1.346577221173561e-07, 2.968679408848386e-08, -6.497898950685245e-09, 1.4122238472494134e-09, -3.048263462196246e-10, 6.543727222725351e-11, -1.393531111032468e-11, 2.8755355183436133e-12, -6.048945323852592e-13, 1.606820007428188e-13, -3.327190158712776e-14],
];
#[rustfmt::skip]
const ERFC_G_LO: [[f64; 3]; 4] = [
    [5.234296355473702e-18, -2.431804639508667e-18, 3.810995903744089e-19],
    [-5.757206304823484e-18, 3.796200196754957e-18, -9.848238769424025e-19],
    [-1.301675024169359e-17, -2.7232262291698656e-19, 7.074866235995503e-19],
    [2.215436580813196e-18, -1.511258683887124e-18, -1.359592118640624e-20],
];
/// erf(x) / x = sum of these times (x^2)^n, for |x| < 1 (Taylor; 2/sqrt(pi) (-1)^n / (n! (2n+1))).
const ERF_TAYLOR: [f64; 20] = [
    std::f64::consts::FRAC_2_SQRT_PI,
    -0.37612638903183754,
    0.11283791670955126,
    -0.026866170645131252,
    0.005223977625442188,
    -0.0008548327023450853,
    0.00012055332981789664,
    -1.492565035840625e-05,
    1.6462114365889248e-06,
    -1.6365844691234924e-07,
    1.4807192815879218e-08,
    -1.2290555301717928e-09,
    9.422759064650411e-11,
    -6.7113668551641105e-12,
    4.4632242632864775e-13,
    -2.7835162072109215e-14,
    1.6342614095367152e-15,
    -9.063970842808673e-17,
    4.763348040515068e-18,
    -2.3784598852774293e-19,
];
/// erfc(x) e^(x^2) x sqrt(pi) = sum of these times (1 / (2x^2))^n for x >= 9 (asymptotic).
const ERFC_ASYMPTOTIC: [f64; 17] = [
    1.0,
    -1.0,
    3.0,
    -15.0,
    105.0,
    -945.0,
    10395.0,
    -135135.0,
    2027025.0,
    -34459425.0,
    654729075.0,
    -13749310575.0,
    316234143225.0,
    -7905853580625.0,
    213458046676875.0,
    -6190283353629375.0,
    1.9189878396251062e+17,
];

/// `2 / sqrt(pi)` and `sqrt(pi)` as float64 pairs.
const TWO_OVER_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;
const TWO_OVER_SQRT_PI_PAIR: (f64, f64) = (TWO_OVER_SQRT_PI, 1.533545961316588e-17);
const SQRT_PI: (f64, f64) = (1.772453850905516, -7.666586499825799e-17);

/// A constant `hi + lo` (given as two f64) as two values of the element type, `hi` rounded to it
/// and the rest in `lo`.
#[inline(always)]
pub fn split<V: Vector>(hi: f64, lo: f64) -> (V, V) {
    let h = V::Elem::from_f64(hi);
    (V::splat(h), c((hi - h.to_f64()) + lo))
}

/// `(p, e)` with `p = fl(a b)`, `p + e = a b` exactly.
#[inline(always)]
pub fn two_prod<V: Vector>(a: V, b: V) -> (V, V) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

/// `(s, e)` with `s = fl(a + b)`, `s + e = a + b` exactly, in any order (Knuth's TwoSum).
#[inline(always)]
pub fn two_sum<V: Vector>(a: V, b: V) -> (V, V) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// `erf(x + dx)` for `|x| < 0.75`, `|dx| <= ulp(x)`, as a normalized pair: `x c0 + x t`,
/// `t = x^2 P(x^2)` (Taylor), with `x c0` exact as a pair, so the only roundings are in `t`,
/// which is at most a tenth of the sum.
#[inline(always)]
fn erf_small_pair<V: Vector>(x: V, dx: V) -> (V, V) {
    let x2 = x * x;
    // float32 stops at x^21 (the rest is below 2^-37 of erf for |x| < 0.75).
    let terms = if V::Elem::MANTISSA_DIGITS == 24 {
        11
    } else {
        ERF_TAYLOR.len()
    };
    let t = x2 * poly(x2, &ERF_TAYLOR[1..terms]);
    let (c0h, c0l) = split::<V>(TWO_OVER_SQRT_PI_PAIR.0, TWO_OVER_SQRT_PI_PAIR.1);
    let (ph, pl) = two_prod(x, c0h);
    // erf'(x) = c0 e^(-x^2) ~ c0 (1 - x^2 + x^4/2), for the first-order term in dx.
    let d = c::<V>(ERF_TAYLOR[0]) * (x2 * c(0.5) - c(1.0)).mul_add(x2, c(1.0));
    let pl = x.mul_add(c0l, pl) + d.mul_add(dx, x * t);
    fast_two_sum(ph, pl)
}

/// `erfc(a + da)` for `a >= 0.5` (NaN passes), `|da| <= ulp(a)`, as `2^k (h + l)`: `e^-(a+da)^2`
/// from the exact square of `a` as a pair, times [`erfcx_pair`]; `a` is clamped where `erfc`
/// underflows.
#[inline(always)]
fn erfc_tail_pair<V: Vector>(a: V, da: V) -> (V, V, V) {
    let lim = (-V::Elem::EXP_LO).sqrt();
    let da = V::select(a.gt(c(lim)), c(0.0), da);
    let a = V::select(a.gt(c(lim)), c(lim), a);
    let (gh, gl) = erfcx_pair(a, da);
    let (sq, sql) = two_prod(a, a);
    let (k, eh, el) = exp_pair(-sq);
    // e^-(sq + sql + 2 a da) = e^-sq (1 - sql - 2 a da) to well below the rounding.
    let el = (-eh).mul_add((a + a).mul_add(da, sql), el);
    let (ph, pl) = two_prod(eh, gh);
    let pl = eh.mul_add(gl, el.mul_add(gh, pl));
    (k, ph, pl)
}

/// `erfc(x + dx)`, `|dx| <= ulp(x)`, as `2^k (h + l)` (`k = 0` for `x < 0.5`): `1 - erf` for
/// `|x| < 0.5`, the tail for `x >= 0.5`, `2 - erfc(-x)` for `x <= -0.5`, each sum formed from
/// pairs so that the result rounds once.
#[inline(always)]
pub fn erfc_pair<V: Vector>(x: V, dx: V) -> (V, V, V) {
    let small = x.abs().lt(c(0.5));
    let pos = x.gt(c(0.0));
    let tail = erfc_tail_pair(V::select(small, c(1.0), x.abs()), V::select(pos, dx, -dx));
    erfc_pair_from(x, dx, tail)
}

/// [`erfc_pair`] from the caller's tail `erfc(|x + dx|) = 2^tk (th + tl)` (used where
/// `|x| >= 0.5`; any finite value elsewhere), for callers that have its factors anyway.
#[inline(always)]
pub fn erfc_pair_from<V: Vector>(x: V, dx: V, (tk, th, tl): (V, V, V)) -> (V, V, V) {
    let a = x.abs();
    let small = a.lt(c(0.5));
    let (sh, sl) = if V::any(small) {
        let (eh, el) = erf_small_pair(V::select(small, x, c(0.0)), dx);
        let (s, e) = fast_two_sum(c(1.0), -eh);
        fast_two_sum(s, e - el)
    } else {
        (c(0.0), c(0.0))
    };
    let pos = x.gt(c(0.0));
    // erfc(-x) <= erfc(0.5) here; 2^k scales it exactly or to a negligible subnormal (k is
    // clamped where the term is negligible, so that [`scale`]'s two factors stay normal).
    let nk = V::select(tk.lt(c(-200.0)), c(-200.0), tk);
    let (n, ne) = fast_two_sum(c(2.0), -scale(th, nk));
    let (nh, nl) = fast_two_sum(n, ne - scale(tl, nk));
    let h = V::select(small, sh, V::select(pos, th, nh));
    let l = V::select(small, sl, V::select(pos, tl, nl));
    let k = V::select(V::and(pos, a.ge(c(0.5))), tk, c(0.0));
    (k, h, l)
}

/// The error function, rounded about once: `x P(x^2)` (Taylor, `x c0` as an exact pair) for
/// `|x| < 0.75`, else `1 - erfc(|x|)` with `erfc` as a pair and the sign of x.
#[inline(always)]
pub fn erf<V: Vector>(x: V) -> V {
    let a = x.abs();
    let small = a.lt(c(0.75));
    let (eh, el) = erf_small_pair(V::select(small, x, c(0.0)), c(0.0));
    let (k, th, tl) = erfc_tail_pair(V::select(small, c(1.0), a), c(0.0));
    let (s, e) = fast_two_sum(c(1.0), -scale(th, k));
    let big = (s + (e - scale(tl, k))).copysign(x);
    V::select(small, (eh + el).copysign(x), big) // odd: erf(-0) = -0
}

/// The complementary error function `1 - erf(x)`, rounded about once, with full relative
/// accuracy in the right tail down to the subnormals (see [`erfc_pair`]).
#[inline(always)]
pub fn erfc<V: Vector>(x: V) -> V {
    let (k, h, l) = erfc_pair(x, c(0.0));
    scale(h + l, k)
}

// ------------------------------------------------------------------ double-word evaluation
//
// A budget of 1 ulp leaves no room for the three or four roundings of a plain `e / (1 + e)`.
// The functions below carry `e^x` as `2^k (1 + qh + ql)` and each sum and quotient as an
// unevaluated pair `hi + lo` (error-free transformations), so that a result is rounded once, at
// the end. What remains is the polynomial's error, about 2^-(digits+4) relative.

/// `(s, t)` with `s = fl(a + b)` and `s + t = a + b` exactly, provided the exponent of `a` is at
/// least that of `b`, or `a = 0` (Dekker's Fast2Sum).
#[inline(always)]
pub fn fast_two_sum<V: Vector>(a: V, b: V) -> (V, V) {
    let s = a + b;
    (s, b - (s - a))
}

/// `(k, qh, ql)` with `e^x = 2^k (1 + qh + ql)` to about 2^-(digits+4) relative, `k`
/// integer-valued, `qh + ql` a normalized pair for `expm1(r)`, `|r| <= ln2/2`. For `x` in
/// `[EXP_LO, EXP_HI]` (callers clamp).
///
/// With `ln2` rounded to the type, `rh = x - k RN(ln2)` is exact under one fused multiply-add
/// (Sterbenz: `k RN(ln2)` is within a factor 2 of `x`, and the difference needs no more bits
/// than the type has); `rl = -k (ln2 - RN(ln2))` is the rest, below 2^-21 (float32).
#[inline(always)]
pub fn exp_parts<V: Vector>(x: V) -> (V, V, V) {
    let magic = c::<V>(V::Elem::ROUND_MAGIC);
    let k = x.mul_add(c(std::f64::consts::LOG2_E), magic) - magic;
    let rh = k.mul_add(c(-std::f64::consts::LN_2), x);
    let rl = k * c(-V::Elem::LN2_R);
    let r = rh + rl;
    // expm1(rh + rl) = rh + (rl + r^2 P(r)); the rounding of r only reaches the quadratic term.
    let s = (r * r).mul_add(poly(r, V::Elem::EXPM1_P), rl);
    // |s| <= |rh| when k = 0 (then rl = 0); otherwise both are tiny when the order fails.
    let (qh, ql) = fast_two_sum(rh, s);
    (k, qh, ql)
}

/// `(k, h, l)` with `e^x = 2^k (h + l)`, `h` in `[0.7, 1.42]`, for `x` as in [`exp_parts`].
#[inline(always)]
pub fn exp_pair<V: Vector>(x: V) -> (V, V, V) {
    let (k, qh, ql) = exp_parts(x);
    let (h, l) = fast_two_sum(c(1.0), qh);
    (k, h, l + ql)
}

/// `(nh + nl) / (dh + dl)` for normalized pairs, rounded once up to about 2^-(2 digits - 2)
/// relative: the first quotient is corrected by its remainder, which the fused multiply-adds
/// compute exactly or nearly so.
#[inline(always)]
pub fn div_pair<V: Vector>(nh: V, nl: V, dh: V, dl: V) -> V {
    let (q, inv, rem) = div_parts(nh, nl, dh, dl);
    rem.mul_add(inv, q)
}

/// [`div_pair`] unrounded: the quotient as a pair `(q, r)`.
#[inline(always)]
pub fn div_to_pair<V: Vector>(nh: V, nl: V, dh: V, dl: V) -> (V, V) {
    let (q, inv, rem) = div_parts(nh, nl, dh, dl);
    (q, rem * inv)
}

#[inline(always)]
fn div_parts<V: Vector>(nh: V, nl: V, dh: V, dl: V) -> (V, V, V) {
    let inv = c::<V>(1.0) / dh;
    let q = nh * inv;
    (q, inv, (-q).mul_add(dh, nh) + (-q).mul_add(dl, nl))
}

/// `(hi, lo)` = `(h + l)^2` for a normalized pair, to about 2^-(2 digits - 1) relative.
#[inline(always)]
pub fn square_pair<V: Vector>(h: V, l: V) -> (V, V) {
    let hh = h * h;
    (hh, h.mul_add(l + l, h.mul_add(h, -hh)))
}

/// `e = e^-a = 2^k (h + l)` and `1 + e`, as pairs.
pub struct OnePlusExp<V> {
    pub h: V,
    pub l: V,
    /// `1 + e = dh + dl`, normalized.
    pub dh: V,
    pub dl: V,
    /// `2^(k + EXP_SHIFT)`, for [`scale_down`].
    pub pk: V,
}

/// [`OnePlusExp`] for `a >= 0`, or NaN; callers clamp `a` to at most `4 - EXP_LO`.
#[inline(always)]
pub fn one_plus_exp_neg<V: Vector>(a: V) -> OnePlusExp<V> {
    let (k, h, l) = exp_pair(-a);
    let m = V::Elem::EXP_SHIFT;
    let pk = (k + c(m)).pow2i();
    // 2^k, or a subnormal or 0 where 2^k h is far below the precision of 1 + e anyway.
    let ek = pk * c(2f64.powi(-(m as i32)));
    // exponent(1) >= exponent(ek h), as ek h < 2.
    let (dh, dl) = fast_two_sum(c(1.0), ek * h);
    let dl = ek.mul_add(l, dl);
    OnePlusExp { h, l, dh, dl, pk }
}

/// `v 2^k` with `pk = 2^(k + EXP_SHIFT)` from [`one_plus_exp_neg`], rounded once where the result
/// is subnormal.
#[inline(always)]
pub fn scale_down<V: Vector>(v: V, pk: V) -> V {
    (v * pk) * c(2f64.powi(-(V::Elem::EXP_SHIFT as i32)))
}

/// tanh(x), within 1 ulp: `(1 - e) / (1 + e)` with `e = e^-2|x|`, numerator and denominator as
/// pairs, so the quotient is rounded once; `x` itself below TANH_TINY (sign of zero kept), and
/// |x| clamped at TANH_SAT, where tanh rounds to 1.
#[inline(always)]
pub fn tanh<V: Vector>(x: V) -> V {
    let a = x.abs();
    let a = V::select(a.gt(c(V::Elem::TANH_SAT)), c(V::Elem::TANH_SAT), a);
    let e = one_plus_exp_neg(a + a);
    // 1 - e = 2 - (1 + e); exact (Sterbenz) as 1 + e is in [1, 2].
    let nh = c::<V>(2.0) - e.dh;
    // The pair needs renormalizing where 1 - e is small.
    let (nh, nl) = fast_two_sum(nh, -e.dl);
    let t = div_pair(nh, nl, e.dh, e.dl).copysign(x);
    V::select(a.lt(c(V::Elem::TANH_TINY)), x, t)
}

/// The vector math as kernels, for tests and for users who want them on slices.
pub mod kernels {
    use crate::simd::{Kernel, Real, Vector};
    macro_rules! math_kernel {
        ($($(#[$doc:meta])* $name:ident => $f:ident),* $(,)?) => {$(
            $(#[$doc])*
            pub struct $name;
            impl<T: Real> Kernel<T, 1> for $name {
                const COST: usize = 4;
                #[inline(always)]
                fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
                    super::$f(x)
                }
            }
        )*};
    }
    math_kernel! {
        /// e^x
        Exp => exp,
        /// e^x - 1
        Expm1 => expm1,
        /// log(1 + x)
        Log1p => log1p,
        /// tanh(x)
        Tanh => tanh,
        /// erf(x)
        Erf => erf,
        /// erfc(x)
        Erfc => erfc,
    }
}

/// `expm1(x) = uh + ul`, a normalized pair, for `x` in `[EXPM1_LO, (digits + 2) ln2]` (or
/// NaN): there `2^k - 1` and `2^k qh` are exact, and Fast2Sum adds them exactly (the exponent of
/// `2^k - 1` is at least that of `2^k qh`, or `k = 0`).
#[inline(always)]
pub fn expm1_pair<V: Vector>(x: V) -> (V, V) {
    let (k, qh, ql) = exp_parts(x);
    let p = k.pow2i();
    let (uh, t) = fast_two_sum(p - c(1.0), p * qh);
    (uh, p.mul_add(ql, t))
}

/// `log1p(h + l) = rh + rl` (an unevaluated pair, `|rl|` within a few ulp of `rh`) for `h + l`
/// in `[sqrt(1/2) - 1, 1]`, `|l| <= ulp(h)`, to about 2^-(digits+3) relative. `1 + h + l = 2^E
/// (1 + fh + fl)`, with `E = 0`, `fh = h` up to `h = sqrt 2 - 1`, and above `E = 1`, `fh + fl =
/// (h - 1 + l) / 2` (`fh` its rounded sum, `fl` the exact rest); then, as in [`log1p`],
/// `log1p(fh) = fh - c`, `c = fh^2/2 - s (fh^2/2 + R(s^2))`, `s = fh / (2 + fh)`, with `fh^2/2`
/// and `c` as pairs (only the small product `s (...)`, under 6% of the result, carries a rounding
/// error), plus `E ln2` (as hi + lo) and `fl / (1 + fh)` (to third order in `fh`).
#[inline(always)]
pub fn log1p_pair<V: Vector>(h: V, l: V) -> (V, V) {
    let big = h.gt(c(std::f64::consts::SQRT_2 - 1.0));
    let e = V::select(big, c(1.0), c(0.0));
    let (d, dl) = fast_two_sum(c(-1.0), h);
    let half = c::<V>(0.5);
    let fh = V::select(big, d * half, h);
    let fl = V::select(big, (dl + l) * half, l);
    let s = fh / (fh + c(2.0));
    let z = s * s;
    let r = z * poly(z, V::Elem::LOG_P);
    let hf = half * fh;
    let q = hf * fh;
    let ql = hf.mul_add(fh, -q);
    let t = s * (q + r);
    let (ch, cl) = fast_two_sum(q, -t);
    let (a, al) = fast_two_sum(e * c(V::Elem::LN2_HI), fh);
    let (b, bl) = fast_two_sum(a, -ch);
    let corr = fl * fh.mul_add(fh - c(1.0), c(1.0));
    (b, e.mul_add(c(V::Elem::LN2_LO), al + bl - (cl + ql)) + corr)
}

/// e^x - 1, within 1 ulp, accurate near 0 (the sign of zero is kept).
#[inline(always)]
pub fn expm1<V: Vector>(x: V) -> V {
    let big = (V::Elem::MANTISSA_DIGITS as f64 + 2.0) * std::f64::consts::LN_2;
    let (uh, ul) = expm1_pair(clamp(x, V::Elem::EXPM1_LO, big));
    // Large x: the -1 no longer matters.
    let (k, h, l) = exp_pair(clamp(x, 0.0, V::Elem::EXP_HI));
    let large = scale(h + l, k);
    let res = V::select(x.gt(c(big)), large, uh + ul);
    V::select(x.abs().lt(c(V::Elem::EXPM1_TINY)), x, res)
}

/// The scaled complementary error function `erfcx(a + da) = erfc(a + da) e^((a + da)^2)` for
/// `a >= 0.5` (NaN passes), `|da| <= ulp(a)`, as a pair `h + l` accurate to about 2^-(digits+5)
/// (the interpolants themselves are within 2e-18 relative). Clamped at 1e15,
/// where it is `1/(a sqrt(pi))` to working precision (callers select larger `a` away). One of
/// four Chebyshev interpolants (coefficients chosen lane by lane) in `u = (a - mid) / half`,
/// its last three Horner steps in pairs, the rounding of `u` and `da` entering through
/// `erfcx'(a) = 2 a erfcx(a) - 2/sqrt(pi)`; from 9 on, the asymptotic series over
/// `(a + da) sqrt(pi)` as a pair quotient.
#[inline(always)]
pub fn erfcx_pair<V: Vector>(a: V, da: V) -> (V, V) {
    let da = V::select(a.gt(c(1e15)), c(0.0), da);
    let a = V::select(a.gt(c(1e15)), c(1e15), a);
    // The interval's number, 0 to 3.
    let mut i = c::<V>(0.0);
    for edge in [1.5, 3.0, 5.5] {
        i = i + V::select(a.ge(c(edge)), c(1.0), c(0.0));
    }
    let i = V::index4(i);
    let (mid, half) = (
        V::lookup4(i, [1.0, 2.25, 4.25, 7.25]),
        V::lookup4(i, [0.5, 0.75, 1.25, 1.75]),
    );
    // a - mid is exact (Sterbenz) on each interval; u's rounding error is ul / half.
    let d = a - mid;
    let u = d / half;
    let ul = (-u).mul_add(half, d);
    // float32 drops the terms above u^15 (at most 2^-31 of the value, in [3, 5.5]).
    let top = if V::Elem::MANTISSA_DIGITS == 24 {
        15
    } else {
        19
    };
    let mut g = poly_by(u, top - 2, ByInterval { i, skip: 3 });
    let mut gl = c::<V>(0.0);
    for k in (0..3).rev() {
        let (m, ml) = two_prod(u, g);
        let ml = u.mul_add(gl, ml);
        let (ch, cl) = (V::lookup4(i, coef(k)), V::lookup4(i, coef_lo::<V::Elem>(k)));
        let (s, sl) = two_sum(ch, m);
        g = s;
        gl = sl + (ml + cl);
    }
    let slope = (a + a).mul_add(g, c(-TWO_OVER_SQRT_PI));
    let (g, gl) = fast_two_sum(g, slope.mul_add(ul + da, gl));
    let big = a.ge(c(9.0));
    if !V::any(big) {
        return (g, gl);
    }
    // a >= 9: S(w) / ((a + da) sqrt(pi)), S = 1 + w P(w), w = 1 / (2 a^2).
    let w = c::<V>(0.5) / (a * a);
    // float32 stops at w^7 (the next term is below 2^-37 of S).
    let terms = if V::Elem::MANTISSA_DIGITS == 24 {
        8
    } else {
        ERFC_ASYMPTOTIC.len()
    };
    let (sh, sl) = fast_two_sum(c(1.0), w * poly(w, &ERFC_ASYMPTOTIC[1..terms]));
    let (pih, pil) = split::<V>(SQRT_PI.0, SQRT_PI.1);
    let (dh, dl) = two_prod(a, pih);
    let dl = a.mul_add(pil, da.mul_add(pih, dl));
    let qh = sh / dh;
    let ql = ((-qh).mul_add(dh, sh) + (-qh).mul_add(dl, sl)) / dh;
    (V::select(big, qh, g), V::select(big, ql, gl))
}

/// Coefficients `skip` and up of the [`erfcx_pair`] interpolant of interval `i` (lane by lane).
struct ByInterval<V> {
    i: V,
    skip: usize,
}

impl<V: Vector> Coefs<V> for ByInterval<V> {
    #[inline(always)]
    fn at(&self, k: usize) -> V {
        V::lookup4(self.i, coef(k + self.skip))
    }
}

/// Coefficient `k` of the four [`erfcx_pair`] interpolants.
#[inline(always)]
fn coef(k: usize) -> [f64; 4] {
    [ERFC_G[0][k], ERFC_G[1][k], ERFC_G[2][k], ERFC_G[3][k]]
}

/// The rest of coefficient `k < 3` below its rounding to `T`: its float64 rounding error and
/// `ERFC_G_LO`.
#[inline(always)]
fn coef_lo<T: Real>(k: usize) -> [f64; 4] {
    [0, 1, 2, 3].map(
        #[inline(always)]
        |i| (ERFC_G[i][k] - T::from_f64(ERFC_G[i][k]).to_f64()) + ERFC_G_LO[i][k],
    )
}

/// [`erfcx_pair`] rounded: `erfcx(a)` for `a >= 0.5`.
#[inline(always)]
pub fn erfcx_tail<V: Vector>(a: V) -> V {
    let (h, l) = erfcx_pair(a, c(0.0));
    h + l
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps<T: Real>(got: T, want: f64) -> f64 {
        let got = got.to_f64();
        if got == want || (got.is_nan() && want.is_nan()) {
            return 0.0;
        }
        let r = T::from_f64(want).to_f64();
        if !r.is_finite() || !got.is_finite() {
            return if got == r { 0.0 } else { f64::INFINITY };
        }
        let e = r.abs().max(f64::MIN_POSITIVE).log2().floor() as i32;
        let min_exp = if T::MANTISSA_DIGITS == 24 {
            -126
        } else {
            -1022
        };
        let ulp = 2f64.powi(e.max(min_exp)) * 2f64.powi(1 - T::MANTISSA_DIGITS as i32);
        (got - want).abs() / ulp
    }

    fn sweep<T: Real + MathConsts>(
        f: fn(T) -> T,
        want: fn(f64) -> f64,
        lo: f64,
        hi: f64,
        budget: f64,
    ) {
        let n = 20001;
        let mut worst = (0.0, 0.0);
        for i in 0..n {
            let x = T::from_f64(lo + (hi - lo) * i as f64 / (n - 1) as f64);
            let e = ulps(f(x), want(x.to_f64()));
            if e > worst.0 {
                worst = (e, x.to_f64());
            }
        }
        assert!(
            worst.0 <= budget,
            "{} ulp at x = {:e} ({})",
            worst.0,
            worst.1,
            T::NAME
        );
    }

    #[test]
    fn exp_expm1_tanh_f64() {
        sweep::<f64>(exp, f64::exp, -746.0, 710.0, 1.0);
        sweep::<f64>(exp, f64::exp, -1.0, 1.0, 1.0);
        sweep::<f64>(exp_nonpositive, f64::exp, -746.0, 0.0, 1.0);
        sweep::<f64>(expm1, f64::exp_m1, -1.0, 1.0, 2.0);
        sweep::<f64>(expm1, f64::exp_m1, -50.0, 710.0, 2.0);
        sweep::<f64>(tanh, f64::tanh, -25.0, 25.0, 2.0);
        sweep::<f64>(tanh, f64::tanh, -1e-3, 1e-3, 2.0);
        sweep::<f64>(log1p, f64::ln_1p, -0.999, 3.0, 2.0);
        sweep::<f64>(log1p, f64::ln_1p, -1e-6, 1e-6, 2.0);
        sweep::<f64>(log1p, f64::ln_1p, 1.0, 1e300, 2.0);
    }

    #[test]
    fn exp_expm1_tanh_f32() {
        let exp64 = |x: f64| x.exp();
        sweep::<f32>(exp, exp64, -104.0, 89.0, 1.0);
        sweep::<f32>(exp_nonpositive, exp64, -110.0, 0.0, 1.0);
        sweep::<f32>(expm1, f64::exp_m1, -20.0, 89.0, 1.0);
        sweep::<f32>(expm1, f64::exp_m1, -1e-3, 1e-3, 1.0);
        sweep::<f32>(tanh, f64::tanh, -12.0, 12.0, 1.0);
        sweep::<f32>(log1p, f64::ln_1p, -0.999, 3.0, 2.5);
        sweep::<f32>(log1p, f64::ln_1p, -1e-4, 1e-4, 2.5);
        sweep::<f32>(log1p, f64::ln_1p, 1.0, 3e38, 2.5);
    }

    /// log1p through the dispatched vector loop at every level this CPU runs (this exercises
    /// each level's `frexp`): bit-identical to the scalar level, and within budget.
    #[test]
    fn log1p_at_every_level() {
        use crate::simd::{Kernel, Level, set_level};
        struct L;
        impl<T: Real> Kernel<T, 1> for L {
            fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
                log1p(x)
            }
        }
        let xs: Vec<f64> = (0..5000)
            .map(|i| -0.9999 + 10f64.powf(-8.0 + i as f64 * 0.0032))
            .chain([
                -1.0,
                -2.0,
                0.0,
                -0.0,
                1e-300,
                f64::INFINITY,
                f64::NAN,
                f64::MAX,
            ])
            .collect();
        let xs32: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
        let before = crate::level();
        let mut outs = Vec::new();
        for &level in Level::all().iter().filter(|&&l| l <= Level::detect()) {
            set_level(level);
            let (mut y, mut y32) = (vec![0.0; xs.len()], vec![0.0f32; xs.len()]);
            crate::apply(&L, &xs, &mut y);
            crate::apply(&L, &xs32, &mut y32);
            outs.push((y, y32));
        }
        set_level(before);
        for (y, y32) in &outs {
            for i in 0..xs.len() {
                assert_eq!(y[i].to_bits(), outs[0].0[i].to_bits(), "f64 x = {}", xs[i]);
                assert_eq!(
                    y32[i].to_bits(),
                    outs[0].1[i].to_bits(),
                    "f32 x = {}",
                    xs32[i]
                );
                assert!(
                    ulps(y[i], xs[i].ln_1p()) <= 2.0,
                    "f64 x = {}: {}",
                    xs[i],
                    y[i]
                );
                assert!(
                    ulps(y32[i], (xs32[i] as f64).ln_1p()) <= 2.5,
                    "f32 x = {}: {}",
                    xs32[i],
                    y32[i]
                );
            }
        }
    }

    #[test]
    fn special_values() {
        for &x in &[
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            0.0,
            -0.0,
            1e-310,
            -1e-310,
        ] {
            for (got, want) in [
                (exp(x), x.exp()),
                (expm1(x), x.exp_m1()),
                (tanh(x), x.tanh()),
                (log1p(x), x.ln_1p()),
            ] {
                assert!(
                    (got.is_nan() && want.is_nan())
                        || (got == want && got.is_sign_negative() == want.is_sign_negative()),
                    "x = {x}: got {got}, want {want}"
                );
            }
        }
    }
}
