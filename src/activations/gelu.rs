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

use super::{
    by_type, c, exp_split, exp_split_pair, minus, mul_pow2, poly, scaled_derivative, split,
};
use crate::math::two_sum;
use crate::math::{erfc_pair, erfcx_pair, fast_two_sum};
use crate::simd::{Kernel, Real, Vector};

/// `1 / sqrt(2)`, `2 sqrt(2/pi)`, `2 sqrt(2/pi) 0.044715` and `1 / sqrt(2 pi)` as hi + lo.
const FRAC_1_SQRT2: (f64, f64) = (0.7071067811865476, -4.833646656726457e-17);
const TWO_K: (f64, f64) = (1.5957691216057308, -9.96930880911092e-17);
const TWO_K_KAPPA: (f64, f64) = (0.07135481627260025, -6.175149918155315e-19);
const INV_SQRT_2PI: f64 = 0.3989422804014327;
const INV_SQRT_2PI_LO: f64 = -2.4923272022777433e-17;

/// `a * b` as `(p, pl)`, the rounded product and its exact error.
#[inline(always)]
fn two_prod<V: Vector>(a: V, b: V) -> (V, V) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

/// `c * x` for a constant `c = (hi, lo)`, as a rounded product and a correction.
#[inline(always)]
fn times_const<V: Vector>(x: V, (hi, lo): (f64, f64)) -> (V, V) {
    let (h, l) = split::<V>(hi, lo);
    let (p, pl) = two_prod(h, x);
    let pl = l.mul_add(x, pl);
    (p, V::select(p.abs().lt(c(f64::INFINITY)), pl, c(0.0)))
}

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
/// pair `(eh, el)`; where `s >= 0.5` (`use_tail`), `erfcx(s + ds)` as a pair `(th, tl)` and
/// `e^(-x^2/2) = 2^k (gh + gl)`, so that `erfc(s + ds) = 2^k (gh + gl)(th + tl)`.
struct ErfcParts<V: Vector> {
    use_tail: V::Mask,
    eh: V,
    el: V,
    th: V,
    tl: V,
    k: V,
    gh: V,
    gl: V,
}

#[inline(always)]
fn erfc_parts<V: Vector>(x: V) -> ErfcParts<V> {
    let (s, ds) = times_const(-x, FRAC_1_SQRT2);
    let use_tail = s.ge(c(0.5));
    let (_, eh, el) = erfc_pair(
        V::select(use_tail, c(0.0), s),
        V::select(use_tail, c(0.0), ds),
    );
    let (th, tl) = erfcx_pair(
        V::select(use_tail, s, c(1.0)),
        V::select(use_tail, ds, c(0.0)),
    );
    let (k, gh, gl) = gauss(x);
    ErfcParts {
        use_tail,
        eh,
        el,
        th,
        tl,
        k,
        gh,
        gl,
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
    const COST: usize = 8;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let h = x * c(0.5);
        let p = erfc_parts(x);
        // gelu has the sign of x (the product's sign of zero follows el's otherwise).
        let near = h.mul_add(p.eh, h * p.el).copysign(x);
        let (ph, pl) = mul_pairs(p.th, p.tl, p.gh, p.gl);
        let far = mul_pow2(h.mul_add(ph, h * pl), c(1.0), p.k).copysign(x);
        let far = V::select(x.le(c(f64::NEG_INFINITY)), c(-0.0), far);
        let near = V::select(x.ge(c(f64::INFINITY)), x, near);
        V::select(p.use_tail, far, near)
    }
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
/// (`|x - x0| < 1`): `t Q(t)`, `t = x - x0`. Elsewhere for `x > 0`: `erfc(s)/2 + x phi(x)`
/// (positive terms); for `x < x0 - 1`: `e^(-x^2/2) (erfcx(s)/2 + x / sqrt(2 pi))` (the terms
/// cancel by at most a factor `1 / (1 - 1/x^2)`), as `y 2^k` for the subnormals.
/// `gelu'(0) = 1/2`, `gelu'(inf) = 1`, `gelu'(-inf) = 0`.
#[inline(always)]
fn gelu_derivative_parts<V: Vector>(x: V) -> (V, V) {
    let p = erfc_parts(x);
    let (xh, xl) = times_const(x, (INV_SQRT_2PI, INV_SQRT_2PI_LO));
    // x > -0.71: Phi(x) + 2^k x/sqrt(2 pi) (gh + gl), k small unless that term is negligible.
    let (qh, ql) = mul_pairs(xh, xl, p.gh, p.gl);
    let (nh, nl) = two_sum(p.eh * c(0.5), mul_pow2(qh, c(1.0), p.k));
    let near = nh + (p.el.mul_add(c(0.5), mul_pow2(ql, c(1.0), p.k)) + nl);
    // x < -0.71: 2^k (gh + gl)(erfcx/2 + x/sqrt(2 pi)).
    let (fh, fl) = two_sum(p.th * c(0.5), xh);
    let (fh, fl) = fast_two_sum(fh, fl + p.tl.mul_add(c(0.5), xl));
    let (ffh, ffl) = mul_pairs(fh, fl, p.gh, p.gl);
    // gelu' < 0 where this is used (x < x0 - 1): the sign of a zero product follows x.
    let far = (ffh + ffl).copysign(x);
    let (use_tail, k) = (p.use_tail, p.k);
    // t = th + tl exactly (x - hi is exact near the root). Q(t) = c0 + t Q1(t) as a pair
    // (qh + ql), then t Q(t) = th qh + (th ql + tl qh) with th qh exact: one rounding at the end.
    let (x0h, x0l) = split::<V>(GELU_X0.0, GELU_X0.1);
    let (th, tl) = (x - x0h, -x0l);
    let t = th + tl;
    let q = by_type::<V>(&GELU_Q_F32, &GELU_Q_F64);
    let (c0h, c0l) = split::<V>(q[0], by_type::<V>(&[0.0], &[GELU_Q_F64_LO])[0]);
    let (m, ml) = two_prod(t, poly(t, &q[1..]));
    let (qh, ql) = fast_two_sum(c0h, m);
    let ql = ql + (ml + c0l);
    let (p, pl) = two_prod(th, qh);
    let root = p + (pl + th.mul_add(ql, tl * qh));
    let y = V::select(use_tail, far, near);
    let k = V::select(use_tail, k, c(0.0));
    // Elsewhere the pairs keep the cancellation of the two terms harmless.
    let at_root = t.abs().lt(c(0.25));
    let y = V::select(at_root, root, y);
    let k = V::select(at_root, c(0.0), k);
    let y = V::select(x.le(c(f64::NEG_INFINITY)), c(0.0), y);
    (V::select(x.ge(c(f64::INFINITY)), c(1.0), y), k)
}

scaled_derivative!(
    GeluDerivative,
    /// `g * gelu'(x)`, rounded once where it is subnormal.
    GeluBackward,
    gelu_derivative_parts,
    10
);

/// `z = 2 sqrt(2/pi) (x + 0.044715 x^3)` as `(z, zl)`: both terms have the sign of x, and each
/// is carried in two parts, so `z + zl` is accurate to about `ulp(z)^2`; `zl` is 0 where `|z|`
/// is huge (the sigmoid is saturated there) or not finite.
#[inline(always)]
fn tanh_arg<V: Vector>(x: V) -> (V, V) {
    let (x2, x2l) = two_prod(x, x);
    let (x3, x3l) = two_prod(x2, x);
    let x3l = x2l.mul_add(x, x3l);
    let (p1, p1l) = times_const(x, TWO_K);
    let (p2, p2l) = times_const(x3, TWO_K_KAPPA);
    let p2l = c::<V>(TWO_K_KAPPA.0).mul_add(x3l, p2l);
    let z = p1 + p2;
    let b = z - p1;
    let zl = ((p1 - (z - b)) + (p2 - b)) + (p1l + p2l);
    (z, V::select(z.abs().lt(c(1e4)), zl, c(0.0)))
}

/// `(k, m, e, d)`: `e = e^-|z| = 2^k m` and `d = 1 + e`.
#[inline(always)]
fn sigmoid_parts<V: Vector>(z: V) -> (V, V, V, V) {
    let (k, m) = exp_split(-z.abs());
    let e = mul_pow2(m, c(1.0), k);
    (k, m, e, e + c(1.0))
}

/// PyTorch's tanh approximation `x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, evaluated
/// as `x sigmoid(z)` (`1 + tanh(z/2) = 2 sigmoid(z)`), with `z` carried in two parts: the
/// negative tail keeps full relative accuracy (the literal formula gives 0 or loses it to
/// `1 + tanh`). `gelu_tanh(-inf) = -0`.
pub struct GeluTanh;
impl<T: Real> Kernel<T, 1> for GeluTanh {
    const COST: usize = 6;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        let (z, zl) = tanh_arg(x);
        let (k, m, e, d) = sigmoid_parts(z);
        // sigmoid(z + zl) = sigmoid(z) (1 + sigmoid(-z) zl)
        let pos = (x / d) * (e / d).mul_add(zl, c(1.0));
        let neg = mul_pow2(
            ((x * m) / d) * (c::<V>(1.0) / d).mul_add(zl, c(1.0)),
            c(1.0),
            k,
        );
        let neg = V::select(x.le(c(f64::NEG_INFINITY)), c(-0.0), neg);
        V::select(z.ge(c(0.0)), pos, neg)
    }
}

// (gelu_tanh'(x) / sigmoid(z)) / (x - x0) on [x0 - 0.75, x0 + 0.75], u = (x - x0) / 0.75.
const GELU_TANH_X0: (f64, f64) = (-0.7524614220710163, 3.635560509207687e-17);
#[rustfmt::skip]
const GELU_TANH_Q_F32: [f64; 10] = [1.9045991227185253, -0.6122388722008023, 0.03465294439471207, 0.000979173126530742, 0.0032286283632499474, -0.0004128687944038885, -0.00014851951834789608, 4.8546576620918025e-05, 5.6509316598803105e-06, -4.190981708247644e-06];
#[rustfmt::skip]
const GELU_TANH_Q_F64: [f64; 20] = [1.9045991238220834, -0.6122388728897941, 0.03465288907867833, 0.0009792076217858788, 0.0032290767064272374, -0.00041314667696187304, -0.0001498114304239732, 4.933664039254433e-05, 7.223638008461826e-06, -5.1250542408052965e-06, -7.573569342319692e-07, 4.140972430764117e-07, 8.919131659174053e-08, -2.676076305423598e-08, -8.325723072587478e-09, 1.4651962667421035e-09, 6.207795031360391e-10, -7.41243858077006e-11, -3.233717106631136e-11, 3.231694889173876e-12];

/// The derivative of the tanh form: `sigmoid(z) F`, `F = 1 + x sigmoid(-z) z'`,
/// `z' = 2 sqrt(2/pi) (1 + 3 0.044715 x^2)`. `F` has a root `x0 = -0.7525`; for
/// `|x - x0| < 0.75` it is `t Q(t / 0.75)`, `t = x - x0` exact. `sigmoid(z)` is scaled in the
/// negative tail (where `F` is large) as `y 2^k`, so subnormal results are rounded once.
/// 1/2 at 0, 1 at inf, 0 at -inf.
#[inline(always)]
fn gelu_tanh_derivative_parts<V: Vector>(x: V) -> (V, V) {
    let (z, zl) = tanh_arg(x);
    let (k, m, e, d) = sigmoid_parts(z);
    let pos = z.ge(c(0.0));
    // sigmoid(-z), and sigmoid(z) without its 2^k, corrected by zl to first order.
    let sn = V::select(pos, e, c(1.0)) / d;
    let s_scaled = V::select(pos, c(1.0), m) / d;
    let s_scaled = s_scaled.mul_add(sn * zl, s_scaled);
    let xc = clamp_1e3(x);
    let dz = (c::<V>(3.0 * TWO_K_KAPPA.0) * xc).mul_add(xc, c(TWO_K.0));
    let f = (xc * sn).mul_add(dz, c(1.0));
    let t = minus(x, split(GELU_TANH_X0.0, GELU_TANH_X0.1));
    let fr = t * poly(
        t * c(1.0 / 0.75),
        by_type::<V>(&GELU_TANH_Q_F32, &GELU_TANH_Q_F64),
    );
    let f = V::select(t.abs().lt(c(0.75)), fr, f);
    let y = s_scaled * f;
    let y = V::select(x.le(c(f64::NEG_INFINITY)), c(0.0), y);
    let y = V::select(x.ge(c(f64::INFINITY)), c(1.0), y);
    (y, V::select(pos, c(0.0), k))
}

scaled_derivative!(
    GeluTanhDerivative,
    /// `g * gelu_tanh'(x)`, rounded once where it is subnormal.
    GeluTanhBackward,
    gelu_tanh_derivative_parts,
    8
);
