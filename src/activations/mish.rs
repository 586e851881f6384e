//! mish, `x tanh(softplus(x))` (Misra 2019), its derivative and backward, on the pair
//! machinery of [`super::smooth`].

use super::smooth::{div_to_pair, one_plus_exp_pair, scaled_exp, two_sum};
use super::{c, minus, mul_pow2, scaled_derivative, split};
use crate::math::{MathConsts, expm1_nonpositive, fast_two_sum};
use crate::simd::{Kernel, Real, Vector};

/// `mish(x) = x tanh(softplus(x))`, with `tanh(softplus(x)) = n / (n + 2)`, `n = e^x (e^x + 2)`:
/// for `x > 0`, with `f = e^-x`, `x (1 + 2f) / (1 + 2f (1 + f))`; for `x <= 0`, with `e = e^x`,
/// `x e (e + 2) / (e (e + 2) + 2)`. Numerators and denominators are pairs and the quotient a
/// pair multiplied by `x` in one fused multiply-add, so the result is rounded once; on the
/// negative side `e^x` is carried as `2^k (h + l)` and the power of two applied last (the tail
/// keeps its precision down to the subnormals). `mish(-0) = -0`, `mish(-inf) = -0`,
/// `mish(inf) = inf`.
pub struct Mish;
impl<T: Real> Kernel<T, 1> for Mish {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
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

/// The root of `mish'` and `e^x0`.
const MISH_X0: (f64, f64) = (-1.1924312145154952, -4.8484829848031044e-17);
const MISH_E0: f64 = 0.3034825352815289;

/// `mish'(x) = tanh(sp) + x sech^2(sp) sigmoid(x)` (`sp = softplus(x)`). For `x > 0`, with
/// `f = e^-x` and `D = 1 + 2f (1 + f)`: `((1 + 2f) D + 4x f^2 (1 + f)) / D^2` (all terms
/// positive). For `x <= 0`, with `e = e^x` (scaled): `e q / (e (e + 2) + 2)^2`,
/// `q = e^3 + 4e^2 + 6e + 4 + 4x (1 + e)`, which has the root `x0`; `q` is evaluated as
/// `q(x) - q(x0) = d B + 4t (1 + e0)` with `t = x - x0` (exact), `d = e - e0 = e0 expm1(t)` and
/// `B = (e + e0)(e + 4) + e0^2 + 6 + 4x`, which keeps full relative accuracy at the root.
/// `mish'(0) = 0.6`, `mish'(inf) = 1`, `mish'(-inf) = 0`.
#[inline(always)]
fn mish_derivative_parts<V: Vector>(x: V) -> (V, V) {
    let (k, m, e, _) = scaled_exp(x);
    let one = c::<V>(1.0);
    // x > 0: e is f = e^-x.
    let dd = (e + e).mul_add(e + one, one);
    let num = e.mul_add(c(2.0), one) * dd + x * ((c::<V>(4.0) * (e * e)) * (e + one));
    let pos = num / (dd * dd);
    // x <= 0: e is e^x (and m = 0 below EXP_MUL_LO, where x is clamped to keep q finite).
    let lo = V::Elem::EXP_MUL_LO;
    let xn = V::select(x.lt(c(lo)), c(lo), x);
    let t = minus(xn, split(MISH_X0.0, MISH_X0.1));
    let e0 = c::<V>(MISH_E0);
    let b = (e + e0).mul_add(e + c(4.0), c(MISH_E0 * MISH_E0 + 6.0)) + c::<V>(4.0) * xn;
    let q = (e0 * expm1_nonpositive(t)).mul_add(b, c::<V>(4.0 * (1.0 + MISH_E0)) * t);
    // Away from the root q directly has no cancellation: below x = -2 (where B < 0 and the
    // shifted form cancels a little) its terms 4 + 4x and e (4x + 6) are both negative, above
    // x = -0.9 all its terms but a small 4x e are positive.
    let four = c::<V>(4.0);
    let direct = four.mul_add(xn, four) + e * (four.mul_add(xn, c(6.0)) + e * (e + four));
    let q = V::select(V::or(xn.lt(c(-2.0)), xn.gt(c(-0.9))), direct, q);
    let n2 = e.mul_add(e + c(2.0), c(2.0));
    let neg = (m * q) / (n2 * n2);
    let neg = V::select(x.le(c(f64::NEG_INFINITY)), c(0.0), neg);
    let pos = V::select(x.ge(c(f64::INFINITY)), one, pos);
    let p = x.gt(c(0.0));
    (V::select(p, pos, neg), V::select(p, c(0.0), k))
}

scaled_derivative!(
    MishDerivative,
    /// `g * mish'(x)`, rounded once where it is subnormal.
    MishBackward,
    mish_derivative_parts,
    8
);
