//! Gated linear unit: `glu(x) = a σ(b)`, with `a` and `b` the first and second halves of `x`
//! along one axis (Dauphin et al. 2017; `torch.nn.functional.glu`).
//!
//! The halves are two strided views of the same array, so the kernels are elementwise over the
//! output's shape ([`crate::strided::elementwise`]) with no copy.

use super::{c, narrow};
use crate::math::{
    MathConsts, exp_pair, exp_wide, fast_two_sum, mul_exp_pair, recip_pair, square_pair,
};
use crate::parallel::{GRAIN, SendPtr, for_ranges};
use crate::simd::{
    Job, Kernel, Mem, Real, Vector, Wide, dispatch, positive_nan, prefetch_ahead, via_f64,
};

/// `e = e^-|b| = 2^k (h + l)` (|b| clamped at `-EXP_MUL_LO`) and `1 + e = dh + dl`.
#[inline(always)]
fn parts<V: Vector>(b: V) -> ([V; 3], V, V) {
    let a = b.abs();
    let lo = c::<V>(-V::Elem::EXP_MUL_LO);
    let (k, h, l) = exp_pair(-V::select(a.gt(lo), lo, a));
    // 2^k, clamped where 2^k h no longer shows next to 1 (and 2^k is not a normal number).
    let ek = V::select(k.lt(c(-100.0)), c(-100.0), k).pow2i();
    let (dh, dl) = fast_two_sum(c(1.0), ek * h);
    ([k, h, l], dh, ek.mul_add(l, dl))
}

/// `v` where finite, else 0: a correction term must not turn an infinite result into NaN.
#[inline(always)]
fn finite_or_0<V: Vector>(v: V) -> V {
    V::select(v.abs().lt(c(f64::INFINITY)), v, c(0.0))
}

/// `a σ(b) = a / (1 + e)` for `b >= 0`, else `a e / (1 + e)`, `e = e^-|b|`, rounded once; the
/// product by `e` goes through [`mul_exp_pair`], so it keeps full precision where `e` or `σ(b)`
/// alone would be subnormal or 0 (`a` large); an infinite `a` with a finite `b` gives `±inf`.
#[inline(always)]
pub fn mul_sigmoid<V: Vector>(a: V, b: V) -> V {
    if narrow::<V>() {
        return via_f64(&MulSigmoidWide, [a, b]);
    }
    let (khl, dh, dl) = parts(b);
    let (zh, zl) = recip_pair(dh, dl);
    mul_sigmoid_with(a, b, khl, zh, zl)
}

/// [`mul_sigmoid`] from `e = 2^k (h + l)` and `1 / (1 + e) = zh + zl`.
#[inline(always)]
fn mul_sigmoid_with<V: Vector>(a: V, b: V, [k, h, l]: [V; 3], zh: V, zl: V) -> V {
    let pos = a.mul_add(zh, finite_or_0(a) * zl);
    V::select(
        b.ge(c(0.0)),
        pos,
        times_e(b, mul_exp_pair(k, h, l, a, zh, zl), a, zh),
    )
}

/// `(g σ(b), g a σ'(b))`, both halves of glu's gradient from one exponential: each as
/// [`GluBackwardA`] and [`GluBackwardB`] compute it (float32 through float64: one division).
#[inline(always)]
pub fn glu_grads<V: Vector>(g: V, a: V, b: V) -> (V, V) {
    if narrow::<V>() {
        let (gw, aw, bw) = (g.widen(), a.widen(), b.widen());
        let (da0, s0) = wide_grads(gw.0, aw.0, bw.0);
        let (da1, s1) = if V::F64::LANES < V::LANES {
            wide_grads(gw.1, aw.1, bw.1)
        } else {
            (da0, s0)
        };
        return (V::narrow(da0, da1), g * V::narrow(s0, s1));
    }
    // mul_sigmoid and mul_sigmoid_derivative, sharing e and 1 / (1 + e).
    let (khl, dh, dl) = parts(b);
    let (zh, zl) = recip_pair(dh, dl);
    let db = mul_sigmoid_derivative_with(a, b, khl, zh, zl);
    (mul_sigmoid_with(g, b, khl, zh, zl), g * db)
}

/// `(g σ(b), a σ'(b))` in float64, `r = 1 / (1 + e)`: `(g or g e) r` and `a e r^2`.
#[inline(always)]
fn wide_grads<W: Vector<Elem = f64>>(g: W, a: W, b: W) -> (W, W) {
    let e = wide_e(b);
    let r = c::<W>(1.0) / (e + c(1.0));
    (times_sigmoid_wide(g, b, e, r), (a * e) * (r * r))
}

/// `g σ(b)` in float64 from `e = e^-|b|` and `r = 1 / (1 + e)`: `(g or g e) r`.
#[inline(always)]
pub(crate) fn times_sigmoid_wide<W: Vector<Elem = f64>>(g: W, b: W, e: W, r: W) -> W {
    W::select(b.ge(c(0.0)), g, g * e) * r
}

/// `a σ'(b) = a e / (1 + e)^2`, `e = e^-|b|`, rounded once, accurate in both tails.
#[inline(always)]
pub fn mul_sigmoid_derivative<V: Vector>(a: V, b: V) -> V {
    if narrow::<V>() {
        return via_f64(&MulSigmoidDerivativeWide, [a, b]);
    }
    let (khl, dh, dl) = parts(b);
    let (zh, zl) = recip_pair(dh, dl);
    mul_sigmoid_derivative_with(a, b, khl, zh, zl)
}

/// [`mul_sigmoid_derivative`] from `e = 2^k (h + l)` and `1 / (1 + e) = zh + zl`, with
/// `1 / (1 + e)^2` as the square of that pair (so glu_grads and the kernels agree bit for bit).
#[inline(always)]
fn mul_sigmoid_derivative_with<V: Vector>(a: V, b: V, [k, h, l]: [V; 3], zh: V, zl: V) -> V {
    let (qh, ql) = square_pair(zh, zl);
    times_e(b, mul_exp_pair(k, h, l, a, qh, ql), a, qh)
}

/// float32 through float64: `e = e^-|b|` ([`exp_wide`]), where it underflows (and `b` is finite)
/// the least subnormal instead, so that an infinite `a` still gives `±inf` (and a finite one 0).
#[inline(always)]
fn wide_e<W: Vector<Elem = f64>>(b: W) -> W {
    let e = exp_wide(-b.abs());
    let tiny = W::select(b.abs().lt(c(f64::INFINITY)), c(f64::from_bits(1)), c(0.0));
    W::select(e.lt(tiny), tiny, e)
}

/// `a σ(b)` in float64, as [`wide_grads`].
struct MulSigmoidWide;
impl Wide<2> for MulSigmoidWide {
    #[inline(always)]
    fn eval64<W: Vector<Elem = f64>>(&self, [a, b]: [W; 2]) -> W {
        wide_grads(a, c(0.0), b).0
    }
}

/// `a σ'(b)` in float64, as [`wide_grads`].
struct MulSigmoidDerivativeWide;
impl Wide<2> for MulSigmoidDerivativeWide {
    #[inline(always)]
    fn eval64<W: Vector<Elem = f64>>(&self, [a, b]: [W; 2]) -> W {
        wide_grads(c(0.0), a, b).1
    }
}

/// `v`, or `a * 0 * z` where `b` is infinite (`e = 0` exactly: NaN for an infinite `a`).
#[inline(always)]
fn times_e<V: Vector>(b: V, v: V, a: V, z: V) -> V {
    V::select(b.abs().lt(c(f64::INFINITY)), v, (a * c(0.0)) * z)
}

/// `[a, b] -> a σ(b)`.
pub struct Glu;
impl<T: Real> Kernel<T, 2> for Glu {
    const COST: usize = 24;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [a, b]: [V; 2]) -> V {
        mul_sigmoid(a, b)
    }
}

/// The gradient for the first half: `[g, b] -> g σ(b)`.
pub struct GluBackwardA;
impl<T: Real> Kernel<T, 2> for GluBackwardA {
    const COST: usize = 24;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, b]: [V; 2]) -> V {
        mul_sigmoid(g, b)
    }
}

/// The gradient for the second half: `[g, a, b] -> g a σ'(b)`, with `σ'(b) = σ(b) σ(-b)`
/// computed as `e / (1 + e)^2`, `e = e^-|b|` (accurate in both tails, where `σ (1 - σ)` from a
/// rounded σ gives 0): `a σ'(b)` rounded once, then the product by `g`.
pub struct GluBackwardB;
impl<T: Real> Kernel<T, 3> for GluBackwardB {
    const COST: usize = 24;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, a, b]: [V; 3]) -> V {
        // a σ'(b) first (at most |a| / 4, so g a may overflow where the result does not)
        g * mul_sigmoid_derivative(a, b)
    }
}

/// glu's gradient for C-contiguous arrays, both halves in one pass: `x` of shape `(outer, 2,
/// m)` (the halves a, b), `g` of shape `(outer, m)`, `out` of x's shape (it may be `x`).
///
/// # Safety
/// The pointers are valid for those shapes; `out` does not overlap `g`, nor `x` unless it is `x`.
pub unsafe fn glu_backward_contiguous<T: Real>(
    g: *const T,
    x: *const T,
    out: *mut T,
    outer: usize,
    m: usize,
) {
    // Items are pieces of at most PIECE columns of one row.
    const PIECE: usize = 1 << 12;
    if outer * m == 0 {
        return;
    }
    let per = m.div_ceil(PIECE);
    let w = PIECE.min(m);
    let (g, x, out) = (SendPtr(g as *mut T), SendPtr(x as *mut T), SendPtr(out));
    let prefetch = Mem::for_output(outer * 2 * m * size_of::<T>(), false) != Mem::Cached;
    for_ranges(outer * per, (GRAIN / w).max(1), w * 8, |i0, i1| {
        dispatch(GluGrads {
            g,
            x,
            out,
            m,
            per,
            piece: PIECE,
            items: (i0, i1),
            prefetch,
        })
    });
}

struct GluGrads<T> {
    g: SendPtr<T>,
    x: SendPtr<T>,
    out: SendPtr<T>,
    m: usize,
    per: usize,
    piece: usize,
    items: (usize, usize),
    /// Past the caches: prefetch the operands (see [`Mem`]).
    prefetch: bool,
}

impl<T: Real> Job<T> for GluGrads<T> {
    type Output = ();
    #[inline(always)]
    fn run<V: Vector<Elem = T>>(self) {
        let (m, l) = (self.m, V::LANES);
        for i in self.items.0..self.items.1 {
            let (r, j0) = (i / self.per, (i % self.per) * self.piece);
            let n = self.piece.min(m - j0);
            unsafe {
                let a = self.x.0.add(r * 2 * m + j0) as *const T;
                let g = self.g.0.add(r * m + j0) as *const T;
                let oa = self.out.0.add(r * 2 * m + j0);
                let mut at = 0;
                while at + l <= n {
                    if self.prefetch {
                        for p in [g.add(at), a.add(at), a.add(m + at)] {
                            prefetch_ahead::<V>(p, l);
                        }
                    }
                    let (ga, gb) = glu_grads(
                        V::load(g.add(at)),
                        V::load(a.add(at)),
                        V::load(a.add(m + at)),
                    );
                    positive_nan(ga).store(oa.add(at));
                    positive_nan(gb).store(oa.add(m + at));
                    at += l;
                }
                if at < n {
                    let k = n - at;
                    let z = T::default();
                    let (vg, va) = (
                        V::load_partial(g.add(at), k, z),
                        V::load_partial(a.add(at), k, z),
                    );
                    let (ga, gb) = glu_grads(vg, va, V::load_partial(a.add(m + at), k, z));
                    positive_nan(ga).store_partial(oa.add(at), k);
                    positive_nan(gb).store_partial(oa.add(m + at), k);
                }
            }
        }
    }
}
