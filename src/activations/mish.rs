//! mish, `x tanh(softplus(x))` (Misra 2019), its derivative and backward, on the pair
//! machinery of [`super::smooth`].

use super::smooth::one_plus_exp_pair;
use super::{WideFn, c, mul_pow2, narrow, poly, scaled_derivative, split};
use crate::math::{
    EXP_TAYLOR_9, MathConsts, div_to_pair, exp_wide, expm1_pair, fast_two_sum, square_pair, two_sum,
};
use crate::simd::{Kernel, Real, Vector, Wide, via_f64};

/// `mish(x) = x tanh(softplus(x))`, with `tanh(softplus(x)) = n / (n + 2)`, `n = e^x (e^x + 2)`:
/// for `x > 0`, with `f = e^-x`, `x (1 + 2f) / (1 + 2f (1 + f))`; for `x <= 0`, with `e = e^x`,
/// `x e (e + 2) / (e (e + 2) + 2)`. Numerators and denominators are pairs and the quotient a
/// pair multiplied by `x` in one fused multiply-add, so the result is rounded once; on the
/// negative side `e^x` is carried as `2^k (h + l)` and the power of two applied last (the tail
/// keeps its precision down to the subnormals). `mish(-0) = -0`, `mish(-inf) = -0`,
/// `mish(inf) = inf`.
pub struct Mish;
impl<T: Real> Kernel<T, 1> for Mish {
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        if narrow::<V>() {
            return via_f64(self, [x]);
        }
        let (k, h, l, ek, dh, dl) = one_plus_exp_pair(x);
        let (eh, el) = (ek * h, ek * l);
        let two = c::<V>(2.0);
        // x > 0: (1 + 2f) / (1 + 2f (1 + f)), f = eh + el.
        let (nh, nl) = two_sum(c(1.0), eh + eh);
        let nl = el.mul_add(two, nl);
        let ph = (eh + eh) * dh;
        let pl = (eh + eh).mul_add(dh, -ph) + two * eh.mul_add(dl, el * dh);
        let (ddh, ddl) = two_sum(c(1.0), ph);
        let (q, r) = div_to_pair(nh, nl, ddh, ddl + pl);
        let pos = x.mul_add(q, x * r);
        let pos = V::select(x.ge(c(f64::INFINITY)), x, pos);
        // x <= 0: (h + l) (e + 2) / (e (e + 2) + 2), then 2^k.
        let (ah, al) = fast_two_sum(two, eh);
        let al = al + el;
        let num = h * ah;
        let num_l = h.mul_add(ah, -num) + h.mul_add(al, l * ah);
        let p = eh * ah;
        let p_l = eh.mul_add(ah, -p) + eh.mul_add(al, el * ah);
        let (den, den_l) = fast_two_sum(two, p);
        let (q, r) = div_to_pair(num, num_l, den, den_l + p_l);
        let neg = mul_pow2(x.mul_add(q, x * r).copysign(x), c(1.0), k);
        let neg = V::select(x.le(c(f64::NEG_INFINITY)), c(-0.0), neg);
        V::select(x.gt(c(0.0)), pos, neg)
    }
}

/// float32: the same quotients in float64, `e = e^-|x|`: `x n / (n + 2e^2)` with `n = 1 + 2e`
/// for `x > 0`, `x n / (n + 2)` with `n = e (e + 2)` otherwise, rounded once to float32.
impl Wide<1> for Mish {
    #[inline(always)]
    fn eval64<W: Vector<Elem = f64>>(&self, [x]: [W; 1]) -> W {
        let e = exp_wide(-x.abs());
        let pos = x.gt(c(0.0));
        let n = W::select(pos, e.mul_add(c(2.0), c(1.0)), e * (e + c(2.0)));
        let y = x * (n / (n + W::select(pos, (e + e) * e, c(2.0))));
        W::select(x.le(c(f64::NEG_INFINITY)), c(-0.0), y)
    }
}

/// The root of `mish'`, `e^x0`, `4 (1 + e^x0)` and `e^2x0 + 6`, each as hi + lo.
const MISH_X0: (f64, f64) = (-1.1924312145154952, -4.8484829848031044e-17);
const MISH_E0: (f64, f64) = (0.3034825352815289, 1.981117434764409e-17);
const MISH_C: (f64, f64) = (5.213930141126116, 7.924469739057636e-17);
const MISH_C6: (f64, f64) = (6.092101649220904, 3.150954997471186e-16);

/// `(ah + al) (bh + bl)` as a pair (not renormalized), to about 2^-(2 digits - 2) relative.
#[inline(always)]
fn mul_pair<V: Vector>(ah: V, al: V, bh: V, bl: V) -> (V, V) {
    let p = ah * bh;
    (p, ah.mul_add(bh, -p) + ah.mul_add(bl, al * bh))
}

/// `mish'(x) = tanh(sp) + x sech^2(sp) sigmoid(x)` (`sp = softplus(x)`), rounded once: every
/// part below is a pair. For `x > 0`, with `f = e^-x` and `D = 1 + 2f (1 + f)`:
/// `((1 + 2f) D + 4x f^2 (1 + f)) / D^2` (all terms positive). For `x <= 0`, with `e = e^x`
/// (scaled): `e q / (e (e + 2) + 2)^2`, `q = e^3 + 4e^2 + 6e + 4 + 4x (1 + e)`, which has the
/// root `x0`; `q` is evaluated as `q(x) - q(x0) = d B + 4t (1 + e0)` with `t = x - x0` (exact as
/// a pair), `d = e - e0 = e0 expm1(t)` and `B = (e + e0)(e + 4) + e0^2 + 6 + 4x`: at the root
/// both terms have the sign of `t` (B > 0 above x = -1.98), and below, where they differ, they
/// cancel by less than a factor 1.4. `mish'(0) = 0.6`, `mish'(inf) = 1`, `mish'(-inf) = 0`.
#[inline(always)]
fn mish_derivative_parts<V: Vector>(x: V) -> (V, V, V) {
    let (k, h, l, ek, dh, dl) = one_plus_exp_pair(x);
    let (eh, el) = (ek * h, ek * l);
    let one = c::<V>(1.0);
    let (two, four) = (c::<V>(2.0), c::<V>(4.0));
    // x > 0: e is f = e^-x, dh + dl = 1 + f; x is clamped where f = 0 (4x stays finite).
    let (fg, fgl) = mul_pair(eh, el, dh, dl);
    let (ddh, ddl) = fast_two_sum(one, fg + fg);
    let ddl = fgl.mul_add(two, ddl);
    let (oh, ol) = fast_two_sum(one, eh + eh);
    let (n1, n1l) = mul_pair(oh, el.mul_add(two, ol), ddh, ddl);
    let (ff, ffl) = mul_pair(eh, el, fg, fgl);
    let x4 = four * V::select(x.gt(c(1e4)), c(1e4), x);
    let n2 = x4 * ff;
    let n2l = x4.mul_add(ff, -n2) + x4 * ffl;
    let (nh, nl) = fast_two_sum(n1, n2);
    let (sh, sl) = square_pair(ddh, ddl);
    let (pos, pos_l) = div_to_pair(nh, nl + n1l + n2l, sh, sl);
    let inf = x.ge(c(f64::INFINITY));
    let (pos, pos_l) = (V::select(inf, one, pos), V::select(inf, c(0.0), pos_l));
    // x <= 0: e is e^x (0 below 2^-100, and the 2^k of h + l is applied last); n2 = e (e + 2) + 2.
    let (ah, al) = fast_two_sum(two, eh);
    let (p, pl) = mul_pair(eh, el, ah, al + el);
    let (den, den_l) = fast_two_sum(two, p);
    let (sh, sl) = square_pair(den, den_l + pl);
    // q = d B + C t; x is clamped at EXP_MUL_LO (below, e^x 2^k is 0), t at EXPM1_LO for expm1.
    let lo = V::Elem::EXP_MUL_LO;
    let xn = V::select(x.lt(c(lo)), c(lo), x);
    let (x0h, x0l) = split::<V>(MISH_X0.0, MISH_X0.1);
    let (th, tl) = two_sum(xn, -x0h);
    let tl = tl - x0l;
    let lo = V::Elem::EXPM1_LO;
    let (uh, ul) = expm1_pair(V::select(th.lt(c(lo)), c(lo), th));
    let (e0h, e0l) = split::<V>(MISH_E0.0, MISH_E0.1);
    let (d, dl) = mul_pair(e0h, e0l, uh, ul);
    let dl = (e0h * (uh + one)).mul_add(tl, dl); // + e0 e^t tl
    let (s, s_l) = two_sum(eh, e0h);
    let (a4, a4l) = fast_two_sum(four, eh);
    let (pb, pbl) = mul_pair(s, s_l + (el + e0l), a4, a4l + el);
    let (c6h, c6l) = split::<V>(MISH_C6.0, MISH_C6.1);
    let (r, rl) = two_sum(four * xn, c6h);
    let (bh, bl) = two_sum(pb, r);
    let (db, dbl) = mul_pair(d, dl, bh, bl + (pbl + (rl + c6l)));
    let (ch, cl) = split::<V>(MISH_C.0, MISH_C.1);
    let (ct, ctl) = mul_pair(ch, cl, th, tl);
    let (qh, ql) = two_sum(db, ct);
    let (qh, ql) = fast_two_sum(qh, ql + (dbl + ctl));
    let (n, n_l) = mul_pair(h, l, qh, ql);
    let (neg, neg_l) = div_to_pair(n, n_l, sh, sl);
    let neg = neg.copysign(qh); // also where e^x 2^k is 0
    let ninf = x.le(c(f64::NEG_INFINITY));
    let (neg, neg_l) = (V::select(ninf, c(0.0), neg), V::select(ninf, c(0.0), neg_l));
    let p = x.gt(c(0.0));
    (
        V::select(p, pos, neg),
        V::select(p, pos_l, neg_l),
        V::select(p, c(0.0), k),
    )
}

/// float32 `mish'(x)` in float64, `e = e^-|x|`: for `x > 0`, `((1 + 2e) d + 4x e^2 (1 + e)) /
/// d^2` with `d = 1 + 2e (1 + e)`; for `x <= 0`, `e q / (e (e + 2) + 2)^2` with `q = e^3 + 4e^2 +
/// 6e + 4 + 4x (1 + e)`, which has the root `x0`: for `|t| < 1/4`, `t = x - x0`, `q = t (e0 P(t)
/// B + 4 (1 + e0))`, `B = (e + e0)(e + 4) + e0^2 + 6 + 4x` (`P` as in silu's: `expm1(t) / t`).
struct MishDerivativeWide;
impl WideFn for MishDerivativeWide {
    #[inline(always)]
    fn at<W: Vector<Elem = f64>>(&self, x: W) -> W {
        let e = exp_wide(-x.abs());
        let one = c::<W>(1.0);
        // x > 0
        let d = (e + e).mul_add(one + e, one);
        let pos_n = e.mul_add(c(2.0), one) * d + ((x * c(4.0)) * (e * e)) * (one + e);
        // x <= 0
        let n2 = e.mul_add(e + c(2.0), c(2.0));
        let four_x = x * c(4.0);
        let direct = e.mul_add(e.mul_add(e + c(4.0), c(6.0)), c(4.0)) + four_x.mul_add(e, four_x);
        let t = (x - c(MISH_X0.0)) - c(MISH_X0.1);
        let at_root = t.abs().lt(c(0.25));
        let q = if W::any(at_root) {
            let b = (e + c(MISH_E0.0)).mul_add(e + c(4.0), four_x + c(MISH_C6.0));
            let p = poly(t, &EXP_TAYLOR_9[1..]) * c(MISH_E0.0);
            let root = t * p.mul_add(b, c(MISH_C.0));
            W::select(at_root, root, direct)
        } else {
            direct
        };
        let pos = x.gt(c(0.0));
        let num = W::select(pos, pos_n, e * q);
        let den = W::select(pos, d, n2);
        let r = num / (den * den);
        let r = W::select(x.ge(c(f64::INFINITY)), one, r);
        W::select(x.le(c(f64::NEG_INFINITY)), c(0.0), r)
    }
}

scaled_derivative!(
    MishDerivative,
    /// `g * mish'(x)`, rounded once (also where it is subnormal).
    MishBackward,
    mish_derivative_parts,
    24,
    wide = MishDerivativeWide
);
