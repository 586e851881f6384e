//! Softmax and log-softmax along one axis, and their backward (from the saved output).
//!
//! Arrays are C-contiguous of shape `(outer, len, inner)`, reduced over `len`:
//! - `inner == 1` (the last axis): a row of at most [`CHUNK`] elements is done by one task in
//!   three passes while it sits in cache: its maximum `m`, the sums, the output. Longer rows
//!   are split across threads by chunks, pass by pass; the chunks' sums are combined in order.
//! - `inner == 1` and rows of at most 128 (a classifier's logits): one row per SIMD lane, 16 rows
//!   transposed through a buffer at a time ([`short_rows`]; backward: [`short_rows_backward`],
//!   the columns path's [`strip`] on the transposed rows), so that the per-row work is vector
//!   work too.
//! - `inner > 1`: strips of columns run across SIMD lanes, each lane one column.
//!
//! Accuracy (each output within 1 ulp of the correctly rounded result): `x - m` is exact as a
//! pair (TwoSum), `e^(x - m)` is a pair from [`exp_pair`], and the sums are compensated: in
//! each of 64 virtual lanes (element `i` to lane `i % 64`) a running `(hi, lo)` pair in the
//! element type (TwoSum), flushed every [`BLOCK`] elements (columns: every 16 rows) lane by lane
//! into a compensated float64 sum; the 64 lanes' sums are then added by a pairwise tree. The
//! order of every operation is fixed by the element index alone, so results are bit-identical
//! for every SIMD level and thread count.
//! - softmax: `f = 1 / sum` as a pair, and `y = e^(x - m) f` rounded once ([`exp_mul_pair`]).
//!   float32 rows go through float64 instead: `e^(x - m)` by [`exp_wide`] (2^-37 relative,
//!   cached for the last pass when the row is one task's), plain float64 sums per lane, and
//!   `y = e f` in float64, rounded once to float32 (0.5 + 2^-12 ulp).
//! - log-softmax: `y = (x - m) - log(sum)` with `log(sum)` as a pair. The sum is kept as
//!   `count + rest` (`count`: the elements equal to `m`), so `log(sum) = log1p((count - 1) +
//!   rest)` is accurate where it is tiny: the maximum of a row whose other entries are far below
//!   gets `-rest`, not 0.
//! - backward: `sum(g y)` (from exact products) and `sum(g)` are compensated sums.
//!
//! NaN or `+inf` in a row gives a row of NaN, as does a row of `-inf` (as PyTorch).

use super::c;
use crate::math::two_sum;
use crate::math::{
    MathConsts, exp, exp_mul_pair, exp_pair, exp_wide, expm1_pair, log1p, mul_exp_pair,
};
use crate::parallel::{GRAIN, SendPtr, for_ranges, map_ranges};
use crate::simd::{
    Job, Kernel, Mem, Real, Vector, dispatch, load_n, map_bcast, one_nan, positive_nan, store_n,
};
use std::mem::MaybeUninit;

/// Row elements per chunk (a multiple of [`BLOCK`]).
pub const CHUNK: usize = 1 << 13;
/// Virtual lanes of the row sums (element `i` of a row goes to lane `i % VLANES`).
const VLANES: usize = 64;
/// Rows up to this long keep only as many virtual lanes (the others would stay +0); also the
/// widest vector's lanes, for the strips of columns.
const SHORT: usize = 16;
/// Elements per block of the row sums: each lane's running pair is flushed at its end.
const BLOCK: usize = 1024;
/// Columns per task when `inner > 1` (results do not depend on it).
const COLS: usize = 64;

/// Which function to compute. Forward ops read `x`; backward ops read `(grad_output, output)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Softmax,
    LogSoftmax,
    SoftmaxBackward,
    LogSoftmaxBackward,
}

impl Op {
    fn cost(self) -> usize {
        match self {
            Op::Softmax => 10,
            Op::LogSoftmax => 6,
            Op::LogSoftmaxBackward => 4,
            Op::SoftmaxBackward => 2,
        }
    }
    fn forward(self) -> bool {
        matches!(self, Op::Softmax | Op::LogSoftmax)
    }
}

/// `x - m` as `s + err` exactly, `err` set to 0 where it is NaN (`s` infinite or NaN).
#[inline(always)]
fn shifted<V: Vector>(x: V, m: V) -> (V, V) {
    let (s, err) = two_sum(x, -m);
    (s, V::select(err.is_nan(), c(0.0), err))
}

/// The terms `[count, hi, lo]` of `sum e^(x - m)` for `x <= m`: `count` is 1 where `x = m`,
/// otherwise `e^(x - m) = hi + lo` (to about 2^-(digits+4); 0 or a subnormal far below the sum's
/// precision where it underflows).
#[inline(always)]
fn exp_terms<V: Vector>(x: V, m: V) -> [V; 3] {
    exp_terms_parts(x, m).0
}

/// [`exp_terms`], and `e^(x - m) = 2^k (h + l)` (`h = l = 0` below `EXP_LO`).
#[inline(always)]
fn exp_terms_parts<V: Vector>(x: V, m: V) -> ([V; 3], [V; 3]) {
    let (s, err) = shifted(x, m);
    let lo = V::Elem::EXP_LO;
    let (k, h, l) = exp_pair(V::select(s.lt(c(lo)), c(lo), s));
    // e^(s + err) = e^s (1 + err) to within err^2.
    let l = h.mul_add(err, l);
    // Exactly 0 below EXP_LO (so that padding lanes add nothing at all).
    let under = s.lt(c(lo));
    let (h, l) = (V::select(under, c(0.0), h), V::select(under, c(0.0), l));
    let sh = V::Elem::EXP_SHIFT;
    let p = (k + c(sh)).pow2i() * c(2f64.powi(-(sh as i32)));
    let (eh, el) = (h * p, l * p);
    let top = s.ge(c(0.0));
    let terms = [
        V::select(top, c(1.0), c(0.0)),
        V::select(top, c(0.0), eh),
        V::select(top, c(0.0), el),
    ];
    (terms, [k, h, l])
}

/// `[k, h, l, f_hi, f_lo] -> 2^k (h + l) f` rounded once: [`SoftmaxOut`] from the exponential
/// cached by the sums ([`exp_terms_parts`]; `h = l = 0` gives 0, or NaN for an infinite `f`).
pub struct SoftmaxCached;
impl<T: Real> Kernel<T, 5> for SoftmaxCached {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [k, h, l, fh, fl]: [V; 5]) -> V {
        mul_exp_pair(k, h, l, c(1.0), fh, fl)
    }
}

/// `[x, m, f_hi, f_lo] -> e^(x - m) f`, rounded once, with `x - m` exact and `f = 1 / sum` a
/// pair. `-inf` gives 0.
pub struct SoftmaxOut;
impl<T: Real> Kernel<T, 4> for SoftmaxOut {
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x, m, fh, fl]: [V; 4]) -> V {
        let (s, err) = shifted(x, m);
        // f e^(s + err) = (f + f err) e^s.
        exp_mul_pair(s, c(1.0), fh, fh.mul_add(err, fl))
    }
}

/// `[x, m, l_hi, l_lo] -> (x - m) - l`, with `x - m = s + err` exact and `l = log(sum)` a pair:
/// `s - l_hi = d + d_err` exactly, then `d + ((d_err + err) - l_lo)`. `-inf` gives `-inf`.
pub struct LogSoftmaxOut;
impl<T: Real> Kernel<T, 4> for LogSoftmaxOut {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x, m, hi, lo]: [V; 4]) -> V {
        let (s, err) = shifted(x, m);
        let (d, de) = two_sum(s, -hi);
        let de = V::select(de.is_nan(), c(0.0), de);
        d + ((de + err) - lo)
    }
}

/// `[g, y, dot_hi, dot_lo] -> y ((g - dot_hi) - dot_lo)`, ATen's `_softmax_backward_data` with
/// `dot = sum(g y)` a pair.
pub struct SoftmaxGrad;
impl<T: Real> Kernel<T, 4> for SoftmaxGrad {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, y, hi, lo]: [V; 4]) -> V {
        y * ((g - hi) - lo)
    }
}

/// `[g, y, sum_hi, sum_lo] -> g - e^y sum`, ATen's `_log_softmax_backward_data` with `sum =
/// sum(g)` a pair.
pub struct LogSoftmaxGrad;
impl<T: Real> Kernel<T, 4> for LogSoftmaxGrad {
    const COST: usize = 12;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, y, hi, lo]: [V; 4]) -> V {
        let e = -exp(y);
        e.mul_add(hi, e.mul_add(lo, g))
    }
}

/// A compensated float64 sum `hi + lo` (each term TwoSum-added into `hi`, the errors added
/// up in `lo`) and, forward, `count` (the elements equal to the maximum: integers, exact).
#[derive(Clone, Copy, Default, Debug)]
struct Sums {
    count: f64,
    hi: f64,
    lo: f64,
}

impl Sums {
    #[inline(always)]
    fn add(&mut self, v: f64) {
        let (s, e) = two_sum(self.hi, v);
        self.hi = s;
        self.lo += e;
    }
    #[inline(always)]
    fn merge(&mut self, o: Sums) {
        self.count += o.count;
        self.add(o.hi);
        self.lo += o.lo;
    }
    /// `(hi, lo)` with `hi = hi + lo` rounded; an infinite or NaN sum is `(sum, 0)`.
    #[inline(always)]
    fn parts(self) -> (f64, f64) {
        let s = self.hi + self.lo;
        if !s.is_finite() || !self.hi.is_finite() {
            return (s, 0.0);
        }
        (s, (self.hi - s) + self.lo)
    }
}

/// The sums of the [`VLANES`] virtual lanes, lane by lane (arrays, so that the compiler can
/// run the lanes across SIMD lanes: every operation is elementwise, so the results do not
/// depend on how).
struct LaneSums<const L: usize> {
    count: [f64; L],
    hi: [f64; L],
    lo: [f64; L],
}

impl<const L: usize> LaneSums<L> {
    fn new() -> Self {
        LaneSums {
            count: [0.0; L],
            hi: [0.0; L],
            lo: [0.0; L],
        }
    }
    fn get(&self, j: usize) -> Sums {
        Sums {
            count: self.count[j],
            hi: self.hi[j],
            lo: self.lo[j],
        }
    }
    /// The total of lanes `0..n` (the others hold zeros), by a pairwise tree: lane `j + w`
    /// into lane `j` for `w = L/2, .., 1`. Levels whose upper lanes are all past `n` would
    /// add exact zeros (the lanes start at +0 and a TwoSum never makes -0), so they are skipped.
    #[inline(always)]
    fn total(mut self, n: usize) -> Sums {
        let mut w = L / 2;
        while w >= 1 {
            if w < n {
                let (hi, hi_up) = self.hi.split_at_mut(w);
                let (lo, lo_up) = self.lo.split_at_mut(w);
                let (count, count_up) = self.count.split_at_mut(w);
                for j in 0..w {
                    let (s, e) = two_sum(hi[j], hi_up[j]);
                    hi[j] = s;
                    lo[j] = (lo[j] + lo_up[j]) + e;
                    count[j] += count_up[j];
                }
            }
            w /= 2;
        }
        self.get(0)
    }
}

/// Running sums of one vector of lanes: `count` (plain: its terms are integers) and
/// `(hi, lo)`, compensated.
#[derive(Clone, Copy)]
struct Lanes<V> {
    count: V,
    hi: V,
    lo: V,
}

impl<V: Vector> Lanes<V> {
    fn zero() -> Self {
        let z = V::splat(V::Elem::default());
        Lanes {
            count: z,
            hi: z,
            lo: z,
        }
    }
    #[inline(always)]
    fn add(&mut self, [n, h, l]: [V; 3]) {
        let (s, e) = two_sum(self.hi, h);
        self.count = self.count + n;
        self.hi = s;
        self.lo = self.lo + (e + l);
    }
    /// `add` for terms of one sign and no `lo` (float64 terms of a float32 result): plain sums,
    /// to 2^-49 relative over a block of 16 per lane.
    #[inline(always)]
    fn add_plain(&mut self, [n, h, _]: [V; 3]) {
        self.count = self.count + n;
        self.hi = self.hi + h;
    }
    /// Adds the lanes to lanes `j0..j0 + V::LANES` of `sums`, as float64 vectors, and zeroes
    /// `self`. (A strip of fewer columns than lanes adds its padding lanes too; nothing reads
    /// them.)
    #[inline(always)]
    fn flush<const L: usize>(&mut self, sums: &mut LaneSums<L>, j0: usize) {
        let w = V::F64::LANES;
        let (c, h, l) = (self.count.widen(), self.hi.widen(), self.lo.widen());
        let halves = [(c.0, h.0, l.0), (c.1, h.1, l.1)];
        for (q, (c, h, l)) in halves.into_iter().take(V::LANES / w).enumerate() {
            let at = j0 + q * w;
            assert!(at + w <= L);
            // Safety: lanes at..at + w of the arrays, in bounds (just checked).
            unsafe {
                let pc = sums.count.as_mut_ptr().add(at);
                let (ph, pl) = (sums.hi.as_mut_ptr().add(at), sums.lo.as_mut_ptr().add(at));
                (V::F64::load(pc) + c).store(pc);
                let (s, e) = two_sum(V::F64::load(ph), h);
                s.store(ph);
                (V::F64::load(pl) + (e + l)).store(pl);
            }
        }
        *self = Lanes::zero();
    }
}

/// The lowest finite T: a row maximum is at least this, so that a row with `-inf` entries and
/// finite ones gets `e = 0` for the `-inf`s (and a row of `-inf` gets `0 / 0`).
fn lowest<T: Real>() -> T {
    T::from_f64(if T::MANTISSA_DIGITS == 24 {
        -(f32::MAX as f64)
    } else {
        -f64::MAX
    })
}

/// `(hi, lo)` of `v + lo` in T: `hi = v` rounded, `lo = (v - hi) + lo` rounded.
#[inline(always)]
fn split<T: Real>(v: f64, lo: f64) -> [f64; 2] {
    let hi = T::from_f64(v).to_f64();
    let lo = if hi.is_finite() { (v - hi) + lo } else { 0.0 };
    [hi, T::from_f64(lo).to_f64()]
}

/// `log1p(th + tl)` as a pair `(l, d)`: float64's `ln_1p`, then one Newton step with
/// `expm1(l)` as a pair, so the pair is within about 2^-57 relative.
#[inline(always)]
fn log1p_pair(th: f64, tl: f64) -> (f64, f64) {
    let l = th.ln_1p();
    if !l.is_finite() {
        return (l, 0.0);
    }
    let (uh, ul) = expm1_pair(l);
    // th - uh is exact (Sterbenz) unless l is off by far more than an ulp.
    (l, ((th - uh) + (tl - ul)) / (1.0 + uh))
}

/// [`log1p_pair`] lane by lane, with [`log1p`] for `ln_1p` (the Newton step makes up for its
/// error), for `th + tl >= 0` (up to 127: the sums of [`short_rows`]), `-1` or NaN.
#[inline(always)]
fn log1p_pair_lanes<V: Vector>(th: V, tl: V) -> (V, V) {
    let l = log1p(th);
    let (uh, ul) = expm1_pair(l);
    let d = ((th - uh) + (tl - ul)) / (c::<V>(1.0) + uh);
    (l, V::select(l.abs().lt(c(f64::INFINITY)), d, c(0.0)))
}

/// The finishing kernel's two parameters from the sums (and the maximum `m`, forward):
/// softmax `f = 1 / sum`, log-softmax `log(sum)`, backward the sum, each as a pair in T.
#[inline(always)] // into the level's code: its `mul_add`s are then FMA instructions
fn params<T: Real>(op: Op, s: &Sums) -> [f64; 2] {
    match op {
        Op::Softmax => {
            let mut sum = *s;
            sum.add(s.count);
            let (h, l) = sum.parts();
            // 1 / (h + l) as r + r_lo: r_lo = (1 - r h - r l) / h.
            let r = 1.0 / h;
            let r_lo = (-r.mul_add(h, -1.0) - r * l) / h;
            split::<T>(r, if r_lo.is_finite() { r_lo } else { 0.0 })
        }
        Op::LogSoftmax => {
            let mut t = *s;
            t.add(s.count - 1.0); // exact: `count` counts
            let (th, tl) = t.parts();
            let (l, d) = log1p_pair(th, tl);
            split::<T>(l, d)
        }
        _ => {
            let (h, l) = s.parts();
            split::<T>(h, l)
        }
    }
}

/// Loads `V::LANES` elements at `p + at`, padding with `pad` past `n`.
#[inline(always)]
unsafe fn ld<V: Vector>(p: *const V::Elem, at: usize, n: usize, pad: V::Elem) -> V {
    if at < n {
        unsafe { load_n(p.add(at), n - at, pad) }
    } else {
        V::splat(pad)
    }
}

/// Stores the lanes of `v` that fall before `n`.
#[inline(always)]
unsafe fn st<V: Vector>(v: V, p: *mut V::Elem, at: usize, n: usize) {
    if at < n {
        unsafe { store_n(v, p.add(at), n - at) }
    }
}

/// The maximum of `n` elements at `x` (NaN ignored), at least [`lowest`]; two independent
/// running maxima.
#[inline(always)]
unsafe fn row_max<T: Real, V: Vector<Elem = T>>(x: *const T, n: usize) -> T {
    let ninf = T::from_f64(f64::NEG_INFINITY);
    let (mut m0, mut m1) = (V::splat(ninf), V::splat(ninf));
    let mut at = 0;
    while at < n {
        let (v0, v1) = unsafe { (ld::<V>(x, at, n, ninf), ld::<V>(x, at + V::LANES, n, ninf)) };
        m0 = V::select(v0.gt(m0), v0, m0);
        m1 = V::select(v1.gt(m1), v1, m1);
        at += 2 * V::LANES;
    }
    let m = V::select(m1.gt(m0), m1, m0);
    let mut buf = [ninf; 64];
    unsafe { m.store(buf.as_mut_ptr()) };
    buf[..V::LANES]
        .iter()
        .fold(lowest::<T>(), |a, &b| if b > a { b } else { a })
}

/// What the terms of the sums are: `e^(x - m)` (forward; `EXP_STORE`: and cached in `b`), `g y`
/// (softmax backward), `g` (log-softmax backward), or the `e^(x - m)` of [`wide_exps`] (`a` is
/// its buffer).
const EXP: usize = 0;
const DOT: usize = 1;
const SUM: usize = 2;
const CACHED: usize = 3;
const EXP_STORE: usize = 4;

fn kind(op: Op) -> usize {
    match op {
        Op::Softmax | Op::LogSoftmax => EXP,
        Op::SoftmaxBackward => DOT,
        Op::LogSoftmaxBackward => SUM,
    }
}

/// The terms `[count, hi, lo]` of element(s) `at` of the sums of `kind` (padded past `n` with
/// terms 0), `a` being x (forward), g or the cached exponentials, `b` the saved output.
#[inline(always)]
unsafe fn terms<V: Vector>(
    kind: usize,
    a: *const V::Elem,
    b: *const V::Elem,
    m: V,
    at: usize,
    n: usize,
) -> [V; 3] {
    let zero = V::Elem::default();
    let z = V::splat(zero);
    unsafe {
        match kind {
            EXP => exp_terms(ld::<V>(a, at, n, V::Elem::from_f64(f64::NEG_INFINITY)), m),
            EXP_STORE => {
                // `b` is the cache: k, h, l, each `n` rounded up to VLANES long.
                let x = ld::<V>(a, at, n, V::Elem::from_f64(f64::NEG_INFINITY));
                let (t, khl) = exp_terms_parts(x, m);
                let (cache, stride) = (b as *mut V::Elem, n.next_multiple_of(VLANES));
                for (j, v) in khl.into_iter().enumerate() {
                    v.store(cache.add(j * stride + at));
                }
                t
            }
            DOT => {
                // g y exactly, as a pair.
                let (g, y) = (ld::<V>(a, at, n, zero), ld::<V>(b, at, n, zero));
                let p = g * y;
                let pl = g.mul_add(y, -p);
                [z, p, V::select(pl.is_nan(), z, pl)]
            }
            SUM => [z, ld::<V>(a, at, n, zero), z],
            _ => {
                // The maxima are cached as -1 (their term is 1, counted).
                let e = ld::<V>(a, at, n, zero);
                let top = e.lt(z);
                [V::select(top, c(1.0), z), V::select(top, z, e), z]
            }
        }
    }
}

/// The sums of `op` over a row of `n` at `a`, `b`: element `i` goes to virtual lane `i % 64`
/// (64 running pairs in T, whatever the level), flushed lane by lane every [`BLOCK`] elements
/// into compensated float64 sums, which are then added by a pairwise tree
/// ([`LaneSums::total`]). Within a block, the vectors of lanes run in groups of four (in
/// registers), each over the whole block: the terms of each lane are still added in order.
#[inline(always)]
unsafe fn row_sums<T: Real, V: Vector<Elem = T>>(
    op: Op,
    a: *const T,
    b: *const T,
    m: T,
    n: usize,
) -> Sums {
    // The kind of terms as a constant, so that the `match` in `terms` leaves the loops.
    unsafe {
        match kind(op) {
            EXP => row_sums_of::<T, V, EXP>(a, b, m, n),
            DOT => row_sums_of::<T, V, DOT>(a, b, m, n),
            _ => row_sums_of::<T, V, SUM>(a, b, m, n),
        }
    }
}

#[inline(always)]
unsafe fn row_sums_of<T: Real, V: Vector<Elem = T>, const KIND: usize>(
    a: *const T,
    b: *const T,
    m: T,
    n: usize,
) -> Sums {
    // Up to SHORT elements, the lanes from SHORT on stay +0 and the tree's levels that would
    // add them are skipped: only the first SHORT lanes are kept (and cleared).
    if n <= SHORT {
        unsafe { row_sums_in::<T, V, KIND, SHORT>(a, b, m, n) }
    } else {
        unsafe { row_sums_in::<T, V, KIND, VLANES>(a, b, m, n) }
    }
}

#[inline(always)]
unsafe fn row_sums_in<T: Real, V: Vector<Elem = T>, const KIND: usize, const L: usize>(
    a: *const T,
    b: *const T,
    m: T,
    n: usize,
) -> Sums {
    // A short row (n < 64) leaves the vectors past its end out: they would only add padding
    // terms, which are +0, to sums that stay +0.
    let per = n.min(VLANES).div_ceil(V::LANES);
    let m = V::splat(m);
    let mut sums = LaneSums::<L>::new();
    let mut i0 = 0;
    while i0 < n {
        let end = (i0 + BLOCK).min(n);
        let mut j = 0;
        while j < per {
            if j + 4 <= per {
                unsafe { group::<V, 4, L>(KIND, a, b, m, n, i0, end, j, &mut sums) };
                j += 4;
            } else {
                unsafe { group::<V, 1, L>(KIND, a, b, m, n, i0, end, j, &mut sums) };
                j += 1;
            }
        }
        i0 = end;
    }
    sums.total(n)
}

/// The terms of vectors of lanes `j..j + G` of elements `i0..end` (a block), added up in
/// registers and flushed into `sums`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn group<V: Vector, const G: usize, const L: usize>(
    kind: usize,
    a: *const V::Elem,
    b: *const V::Elem,
    m: V,
    n: usize,
    i0: usize,
    end: usize,
    j: usize,
    sums: &mut LaneSums<L>,
) {
    let mut acc = [Lanes::<V>::zero(); G];
    let mut i = i0;
    while i < end {
        for (u, acc) in acc.iter_mut().enumerate() {
            let t = unsafe { terms(kind, a, b, m, i + (j + u) * V::LANES, n) };
            if kind == CACHED {
                acc.add_plain(t);
            } else {
                acc.add(t);
            }
        }
        i += VLANES;
    }
    for (u, acc) in acc.iter_mut().enumerate() {
        acc.flush(sums, (j + u) * V::LANES);
    }
}

/// The finishing kernel of `op` on one vector.
#[inline(always)]
fn finish<V: Vector>(op: Op, a: V, b: V, q: [V; 2]) -> V {
    match op {
        Op::Softmax => one_nan(&SoftmaxOut, [a, b, q[0], q[1]]),
        Op::LogSoftmax => one_nan(&LogSoftmaxOut, [a, b, q[0], q[1]]),
        Op::SoftmaxBackward => one_nan(&SoftmaxGrad, [a, b, q[0], q[1]]),
        Op::LogSoftmaxBackward => one_nan(&LogSoftmaxGrad, [a, b, q[0], q[1]]),
    }
}

/// The last pass over `n` contiguous elements: `b` is the maximum (forward, broadcast) or the
/// saved output; `mem` as [`map_bcast`]'s.
#[inline(always)]
unsafe fn row_finish<T: Real, V: Vector<Elem = T>>(
    op: Op,
    p: Ptrs<T>,
    n: usize,
    m: T,
    q: [f64; 2],
    mem: Mem,
) {
    let q: [T; 2] = q.map(T::from_f64);
    let (q0, q1) = (&q[0] as *const T, &q[1] as *const T);
    let (b, bb) = if op.forward() {
        (&m as *const T, true)
    } else {
        (p.b.0 as *const T, false)
    };
    macro_rules! go {
        ($k:expr) => {
            unsafe {
                map_bcast::<T, V, _, 4>(
                    &$k,
                    [p.a.0 as *const T, b, q0, q1],
                    [false, bb, true, true],
                    p.out.0,
                    n,
                    mem,
                )
            }
        };
    }
    match op {
        Op::Softmax => go!(SoftmaxOut),
        Op::LogSoftmax => go!(LogSoftmaxOut),
        Op::SoftmaxBackward => go!(SoftmaxGrad),
        Op::LogSoftmaxBackward => go!(LogSoftmaxGrad),
    }
}

/// Whether `op` on T runs through float64: float32 softmax on rows. (log-softmax does not
/// gain: it needs no exponential in its last pass, and its pair sums cost less than float64
/// exponentials.)
fn wide<T: Real>(op: Op) -> bool {
    T::MANTISSA_DIGITS == 24 && op == Op::Softmax
}

/// `e^(x - m)` in float64 ([`exp_wide`], about 2^-37 relative), with the maxima marked `-1`
/// (their term is 1, counted apart). NaN stays NaN; `-inf` gives 0.
#[inline(always)]
fn wide_exp<W: Vector<Elem = f64>>(x: W, m: W) -> W {
    let s = x - m;
    W::select(s.ge(c(0.0)), c(-1.0), exp_wide(s))
}

/// [`wide_exp`] of the `n` elements at `a` (widened: exact) into `e`, which has room for `n`
/// rounded up to `V::LANES` (the padding gets 0).
#[inline(always)]
unsafe fn wide_exps<V: Vector>(a: *const V::Elem, m: V::Elem, n: usize, e: *mut f64) {
    let w = V::F64::LANES;
    let mw = V::F64::splat(m.to_f64());
    let ninf = V::Elem::from_f64(f64::NEG_INFINITY);
    let mut at = 0;
    while at < n {
        let (lo, hi) = unsafe { ld::<V>(a, at, n, ninf) }.widen();
        unsafe {
            wide_exp(lo, mw).store(e.add(at));
            if w < V::LANES {
                wide_exp(hi, mw).store(e.add(at + w));
            }
        }
        at += V::LANES;
    }
}

/// `1 / sum` from the sums of [`wide_exps`].
#[inline(always)]
fn wide_param(s: &Sums) -> f64 {
    let mut sum = *s;
    sum.add(s.count);
    1.0 / sum.parts().0
}

/// The last pass of float32 softmax through float64, over `n` elements: `e q` with `e` from
/// `cache` (the buffer of [`wide_exps`]) or recomputed, rounded once to float32.
#[inline(always)]
unsafe fn wide_finish<V: Vector>(
    p: Ptrs<V::Elem>,
    n: usize,
    m: V::Elem,
    q: f64,
    cache: Option<*const f64>,
) {
    let w = V::F64::LANES;
    let (mw, qw) = (V::F64::splat(m.to_f64()), V::F64::splat(q));
    let (x, out) = (p.a.0 as *const V::Elem, p.out.0);
    let mut at = 0;
    while at < n {
        let (el, eh) = unsafe {
            match cache {
                Some(e) => {
                    let el = V::F64::load(e.add(at));
                    (
                        el,
                        if w < V::LANES {
                            V::F64::load(e.add(at + w))
                        } else {
                            el
                        },
                    )
                }
                None => {
                    let (lo, hi) = ld::<V>(x, at, n, V::Elem::default()).widen();
                    (wide_exp(lo, mw), wide_exp(hi, mw))
                }
            }
        };
        let y = V::narrow(el.abs() * qw, eh.abs() * qw);
        unsafe { st(positive_nan(y), out, at, n) };
        at += V::LANES;
    }
}

/// Rows up to this long take [`short_rows`] (forward).
const SHORT_ROW: usize = 128;
/// Backward rows up to this long may take [`short_rows_backward`] ([`short_backward`]).
const SHORT_ROW_BACKWARD: usize = 64;
/// Whether backward rows of `len` take [`short_rows_backward`]: where it measured faster on the
/// AVX2 machine (arrays of 1e6 elements, 2 threads), float32 rows of up to 64 but those of 8 and
/// 16 (whole vectors within the 16 lanes the per-row path keeps for a short row: its fastest
/// case), and float64 rows of up to 6. (Never a matter of the level: the two paths add in
/// different orders.)
fn short_backward<T: Real>(len: usize) -> bool {
    if T::MANTISSA_DIGITS == 24 {
        len <= SHORT_ROW_BACKWARD && len != 8 && len != 16
    } else {
        len <= 6
    }
}
/// The first `n` elements of `buf`, set to zero; the rest stays uninitialized and unused (a block
/// of short rows takes `len * SHORT_BLOCK` of buffers sized for the longest: zeroing them whole
/// cost a call of one element about 0.2-0.4 us).
fn zeroed<T: Copy + Default>(buf: &mut [MaybeUninit<T>], n: usize) -> &mut [T] {
    let b = &mut buf[..n];
    for v in b.iter_mut() {
        v.write(T::default());
    }
    // Every element of b is initialized.
    unsafe { &mut *(b as *mut [MaybeUninit<T>] as *mut [T]) }
}

/// Rows per block of [`short_rows`] and [`short_rows_backward`].
const SHORT_BLOCK: usize = 16;

/// The lane-wise maximum (NaN ignored, at least `lo`) of `len` vectors [`SHORT_BLOCK`] elements
/// apart from `b`: the maxima of the rows of [`short_rows`]' buffer.
#[inline(always)]
unsafe fn lane_max<W: Vector>(b: *const W::Elem, len: usize, lo: W) -> W {
    let mut m = lo;
    for j in 0..len {
        let v = unsafe { W::load(b.add(j * SHORT_BLOCK)) };
        m = W::select(v.gt(m), v, m);
    }
    m
}

/// Softmax or log-softmax of the rows `r0..r1` of `len <= SHORT_ROW` elements at `p`, with one
/// row per lane ([`SHORT_BLOCK`] rows at a time, transposed through a buffer), so that the
/// per-row work (the maximum `m`, the sum, `1 / sum` or `log(sum)`) is vector work too. The sum
/// is kept as `count` (the elements equal to `m`) and `rest` (the others).
/// - float32, in float64 lanes: `e = e^(x - m)` by [`exp_wide`] (2^-37 relative), plain sums (at
///   most 128 terms), then softmax `y = e / (count + rest)`, log-softmax `y = (x - m) -
///   log1p((count - 1) + rest)` (both terms <= 0: no cancellation), rounded once to float32.
/// - float64: the terms of the long rows ([`exp_terms_parts`], the exponentials kept for the
///   softmax's last pass), compensated sums ([`Lanes::add`]),
///   `1 / sum` as a pair and `log(sum)` as a pair ([`log1p_pair_lanes`]), and the long rows'
///   last pass ([`SoftmaxCached`], [`LogSoftmaxOut`]).
///
/// NaN or `+inf` in a row gives a row of NaN, as does a row of `-inf`, as on the other paths.
#[inline(always)]
unsafe fn short_rows<V: Vector>(op: Op, p: Ptrs<V::Elem>, r0: usize, r1: usize, len: usize) {
    let wl = V::F64::LANES;
    let lo = V::F64::splat(lowest::<V::Elem>().to_f64());
    // Element j of row i of the block at [j * SHORT_BLOCK + i]: x, then e (softmax), then y.
    let mut store = [MaybeUninit::<f64>::uninit(); SHORT_ROW * SHORT_BLOCK];
    let buf = zeroed(&mut store, len * SHORT_BLOCK);
    // float64 softmax: e^(x - m) = 2^k (h + l), k, h and l each laid out as the buffer.
    let n = SHORT_ROW * SHORT_BLOCK;
    let mut exps = [MaybeUninit::<f64>::uninit(); 3 * SHORT_ROW * SHORT_BLOCK];
    let mut r = r0;
    while r < r1 {
        let rows = SHORT_BLOCK.min(r1 - r);
        for i in 0..rows {
            let x = unsafe { (p.a.0 as *const V::Elem).add((r + i) * len) };
            for j in 0..len {
                buf[j * SHORT_BLOCK + i] = unsafe { *x.add(j) }.to_f64();
            }
        }
        // Lanes past `rows` hold what the buffer had: computed, never stored.
        let mut g = 0;
        while g < rows && V::Elem::MANTISSA_DIGITS == 53 {
            // float64: V is the float64 vector, the buffer its elements.
            let b = unsafe { buf.as_mut_ptr().add(g) } as *mut V::Elem;
            let m = unsafe { lane_max(b, len, V::splat(lowest::<V::Elem>())) };
            let mut sum = Lanes::<V>::zero();
            for j in 0..len {
                let (terms, khl) = exp_terms_parts(unsafe { V::load(b.add(j * SHORT_BLOCK)) }, m);
                sum.add(terms);
                if op == Op::Softmax {
                    // Kept for the last pass, as the long rows do.
                    let (e, i) = (exps.as_mut_ptr() as *mut V::Elem, j * SHORT_BLOCK + g);
                    for (q, v) in khl.into_iter().enumerate() {
                        unsafe { v.store(e.add(q * n + i)) };
                    }
                }
            }
            let one = c::<V>(1.0);
            let (t, te) = two_sum(
                sum.hi,
                if op == Op::Softmax {
                    sum.count
                } else {
                    sum.count - one
                },
            );
            let (h, l) = two_sum(t, sum.lo + te);
            let (q0, q1) = if op == Op::Softmax {
                // 1 / (h + l) as r + r_lo: r_lo = (1 - r h - r l) / h.
                let r = one / h;
                let r_lo = (-r.mul_add(h, -one) - r * l) / h;
                (r, V::select(r_lo.abs().lt(c(f64::INFINITY)), r_lo, c(0.0)))
            } else {
                log1p_pair_lanes(h, l)
            };
            for j in 0..len {
                let at = unsafe { b.add(j * SHORT_BLOCK) };
                let x = unsafe { V::load(at) };
                let y = if op == Op::Softmax {
                    let (e, i) = (exps.as_ptr() as *const V::Elem, j * SHORT_BLOCK + g);
                    let (k, h, l) = unsafe {
                        (
                            V::load(e.add(i)),
                            V::load(e.add(n + i)),
                            V::load(e.add(2 * n + i)),
                        )
                    };
                    one_nan(&SoftmaxCached, [k, h, l, q0, q1])
                } else {
                    one_nan(&LogSoftmaxOut, [x, m, q0, q1])
                };
                unsafe { y.store(at) };
            }
            g += V::LANES;
        }
        while g < rows {
            let b = unsafe { buf.as_mut_ptr().add(g) };
            let m = unsafe { lane_max(b, len, lo) };
            let (mut count, mut rest) = (c::<V::F64>(0.0), c::<V::F64>(0.0));
            for j in 0..len {
                let s = unsafe { V::F64::load(b.add(j * SHORT_BLOCK)) } - m;
                let top = s.ge(c(0.0));
                let e = V::F64::select(top, c(0.0), exp_wide(s));
                count = count + V::F64::select(top, c(1.0), c(0.0));
                rest = rest + e;
                if op == Op::Softmax {
                    unsafe { V::F64::select(top, c(1.0), e).store(b.add(j * SHORT_BLOCK)) };
                }
            }
            if op == Op::Softmax {
                let q = c::<V::F64>(1.0) / (count + rest);
                for j in 0..len {
                    let e = unsafe { V::F64::load(b.add(j * SHORT_BLOCK)) };
                    unsafe { positive_nan(e * q).store(b.add(j * SHORT_BLOCK)) };
                }
            } else {
                let l = log1p((count - c(1.0)) + rest);
                for j in 0..len {
                    let x = unsafe { V::F64::load(b.add(j * SHORT_BLOCK)) };
                    unsafe { positive_nan((x - m) - l).store(b.add(j * SHORT_BLOCK)) };
                }
            }
            g += wl;
        }
        for i in 0..rows {
            let y = unsafe { p.out.0.add((r + i) * len) };
            for j in 0..len {
                unsafe { *y.add(j) = V::Elem::from_f64(buf[j * SHORT_BLOCK + i]) };
            }
        }
        r += rows;
    }
}

/// The backward ops over the rows `r0..r1` of `len <= SHORT_ROW_BACKWARD` elements at `p`: the columns
/// path, one row per lane ([`strip`] over [`SHORT_BLOCK`] rows at a time, `grad_output` and the
/// saved output transposed into buffers and the result transposed back). The per-row path
/// spends most of a short row on its fixed costs (the 64 virtual lanes' flush and tree, the
/// scalar parameters of each row).
#[inline(always)]
unsafe fn short_rows_backward<T: Real, V: Vector<Elem = T>>(
    op: Op,
    p: Ptrs<T>,
    r0: usize,
    r1: usize,
    len: usize,
) {
    // Element j of row i of the block at [j * SHORT_BLOCK + i].
    let mut store = [[MaybeUninit::<T>::uninit(); SHORT_ROW_BACKWARD * SHORT_BLOCK]; 3];
    let [g, y, o] = store.each_mut().map(|b| zeroed(b, len * SHORT_BLOCK));
    let q = Ptrs {
        a: SendPtr(g.as_mut_ptr()),
        b: SendPtr(y.as_mut_ptr()),
        out: SendPtr(o.as_mut_ptr()),
    };
    let mut r = r0;
    while r < r1 {
        let rows = SHORT_BLOCK.min(r1 - r);
        for i in 0..rows {
            let (a, b) = unsafe { (p.a.0.add((r + i) * len), p.b.0.add((r + i) * len)) };
            for j in 0..len {
                unsafe {
                    (g[j * SHORT_BLOCK + i], y[j * SHORT_BLOCK + i]) = (*a.add(j), *b.add(j))
                };
            }
        }
        let mut at = 0;
        while at < rows {
            unsafe { strip::<T, V>(op, q.at(at), len, SHORT_BLOCK, V::LANES.min(rows - at)) };
            at += V::LANES;
        }
        for i in 0..rows {
            let out = unsafe { p.out.0.add((r + i) * len) };
            for j in 0..len {
                unsafe { *out.add(j) = o[j * SHORT_BLOCK + i] };
            }
        }
        r += rows;
    }
}

/// A strip of `nv <= V::LANES` columns (stride `inner`) over `len` rows, one column per lane:
/// maximum, sums (flushed every 16 rows), output.
#[inline(always)]
unsafe fn strip<T: Real, V: Vector<Elem = T>>(
    op: Op,
    p: Ptrs<T>,
    len: usize,
    inner: usize,
    nv: usize,
) {
    let (a, b, out) = (p.a.0 as *const T, p.b.0 as *const T, p.out.0);
    let zero = T::default();
    let row = |k: usize| k * inner;
    unsafe {
        let m = if op.forward() {
            let ninf = T::from_f64(f64::NEG_INFINITY);
            let mut m = V::splat(ninf);
            for k in 0..len {
                let v = ld::<V>(a.add(row(k)), 0, nv, ninf);
                m = V::select(v.gt(m), v, m);
            }
            let lo = V::splat(lowest::<T>());
            V::select(m.lt(lo), lo, m)
        } else {
            V::splat(zero)
        };
        // (nv <= 16 lanes)
        let mut sums = LaneSums::<SHORT>::new();
        let mut acc = Lanes::<V>::zero();
        for k in 0..len {
            acc.add(terms(kind(op), a.add(row(k)), b.add(row(k)), m, 0, nv));
            if k % 16 == 15 || k + 1 == len {
                acc.flush(&mut sums, 0);
            }
        }
        let (mut q0, mut q1) = ([zero; 64], [zero; 64]);
        for (l, (h, lo)) in q0.iter_mut().zip(&mut q1).take(nv).enumerate() {
            let q = params::<T>(op, &sums.get(l));
            (*h, *lo) = (T::from_f64(q[0]), T::from_f64(q[1]));
        }
        let q = [V::load(q0.as_ptr()), V::load(q1.as_ptr())];
        for k in 0..len {
            let bk = if op.forward() {
                m
            } else {
                ld::<V>(b.add(row(k)), 0, nv, zero)
            };
            let v = finish(op, ld::<V>(a.add(row(k)), 0, nv, zero), bk, q);
            st(v, out.add(row(k)), 0, nv);
        }
    }
}

/// Pointers of one call: `a` is x (forward) or grad_output, `b` the saved output (backward).
#[derive(Clone, Copy)]
struct Ptrs<T> {
    a: SendPtr<T>,
    b: SendPtr<T>,
    out: SendPtr<T>,
}

impl<T> Ptrs<T> {
    fn at(self, off: usize) -> Ptrs<T> {
        unsafe {
            Ptrs {
                a: SendPtr(self.a.0.add(off)),
                b: SendPtr(self.b.0.add(off)),
                out: SendPtr(self.out.0.add(off)),
            }
        }
    }
}

/// The work of one task; chunks `c0..c1` are of one row of `len` at `p`.
#[derive(Clone, Copy)]
enum Task {
    /// Whole rows `r0..r1` of `len` (at most a chunk) elements.
    Rows(usize, usize, usize),
    /// The maxima of chunks `c0..c1`.
    Max(usize, usize, usize),
    /// The sums of chunks `c0..c1`, with the row maximum.
    Sums(usize, usize, usize, f64),
    /// The last pass over chunks `c0..c1`, with the row maximum and parameters.
    Finish(usize, usize, usize, f64, [f64; 2]),
    /// Column blocks `i0..i1` (item `i`: outer index `i / blocks`, columns from `(i % blocks) *
    /// COLS`), each over `len` rows of `inner`.
    Cols(usize, usize, usize, usize),
}

/// A task's results: the chunks' maxima or sums.
#[derive(Clone, Copy)]
enum Out {
    Max(f64),
    Sums(Sums),
}

struct SoftmaxJob<T> {
    op: Op,
    p: Ptrs<T>,
    task: Task,
    /// How the last pass over rows meets memory ([`row_finish`]'s).
    mem: Mem,
}

impl<T: Real> Job<T> for SoftmaxJob<T> {
    type Output = Vec<Out>;
    #[inline(always)]
    fn run<V: Vector<Elem = T>>(self) -> Vec<Out> {
        let (op, p) = (self.op, self.p);
        // A chunk of a row of `len` at `p`, and its length. (Plain loops below, not closures:
        // those might not be inlined into the SIMD level's code.)
        let chunk = |ch: usize, len: usize| (p.at(ch * CHUNK), CHUNK.min(len - ch * CHUNK));
        let mut res = Vec::new();
        unsafe {
            match self.task {
                Task::Rows(r0, r1, len) if len <= SHORT_ROW && op.forward() => {
                    short_rows::<V>(op, p, r0, r1, len);
                }
                Task::Rows(r0, r1, len) if !op.forward() && short_backward::<T>(len) => {
                    short_rows_backward::<T, V>(op, p, r0, r1, len);
                }
                Task::Rows(r0, r1, len) if wide::<T>(op) => {
                    let mut e = vec![0.0; len.next_multiple_of(V::LANES)];
                    for r in r0..r1 {
                        let pr = p.at(r * len);
                        let a = pr.a.0 as *const T;
                        let m = row_max::<T, V>(a, len);
                        wide_exps::<V>(a, m, len, e.as_mut_ptr());
                        let s =
                            row_sums_of::<f64, V::F64, CACHED>(e.as_ptr(), e.as_ptr(), 0.0, len);
                        wide_finish::<V>(pr, len, m, wide_param(&s), Some(e.as_ptr()));
                    }
                }
                Task::Rows(r0, r1, len) if op == Op::Softmax => {
                    // float64: the sums cache e^(x - m), the last pass reads it.
                    let stride = len.next_multiple_of(VLANES);
                    let mut e = vec![T::default(); 3 * stride];
                    let ep = e.as_mut_ptr();
                    for r in r0..r1 {
                        let pr = p.at(r * len);
                        let a = pr.a.0 as *const T;
                        let m = row_max::<T, V>(a, len);
                        let s = row_sums_of::<T, V, EXP_STORE>(a, ep, m, len);
                        let [fh, fl] = params::<T>(op, &s).map(T::from_f64);
                        let ks = [ep, ep.add(stride), ep.add(2 * stride)].map(|q| q as *const T);
                        map_bcast::<T, V, _, 5>(
                            &SoftmaxCached,
                            [ks[0], ks[1], ks[2], &fh, &fl],
                            [false, false, false, true, true],
                            pr.out.0,
                            len,
                            Mem::Cached,
                        );
                    }
                }
                Task::Rows(r0, r1, len) => {
                    for r in r0..r1 {
                        let pr = p.at(r * len);
                        let (a, b) = (pr.a.0 as *const T, pr.b.0 as *const T);
                        let m = if op.forward() {
                            row_max::<T, V>(a, len)
                        } else {
                            T::default()
                        };
                        let s = row_sums::<T, V>(op, a, b, m, len);
                        row_finish::<T, V>(op, pr, len, m, params::<T>(op, &s), self.mem);
                    }
                }
                Task::Max(c0, c1, len) => {
                    for ch in c0..c1 {
                        let (q, n) = chunk(ch, len);
                        res.push(Out::Max(row_max::<T, V>(q.a.0, n).to_f64()));
                    }
                }
                Task::Sums(c0, c1, len, m) if wide::<T>(op) => {
                    let mut e = vec![0.0; CHUNK];
                    for ch in c0..c1 {
                        let (q, n) = chunk(ch, len);
                        wide_exps::<V>(q.a.0, T::from_f64(m), n, e.as_mut_ptr());
                        let s = row_sums_of::<f64, V::F64, CACHED>(e.as_ptr(), e.as_ptr(), 0.0, n);
                        res.push(Out::Sums(s));
                    }
                }
                Task::Sums(c0, c1, len, m) => {
                    for ch in c0..c1 {
                        let (q, n) = chunk(ch, len);
                        let s = row_sums::<T, V>(op, q.a.0, q.b.0, T::from_f64(m), n);
                        res.push(Out::Sums(s));
                    }
                }
                Task::Finish(c0, c1, len, m, t) if wide::<T>(op) => {
                    for ch in c0..c1 {
                        let (q, n) = chunk(ch, len);
                        wide_finish::<V>(q, n, T::from_f64(m), t[0], None);
                    }
                }
                Task::Finish(c0, c1, len, m, t) => {
                    for ch in c0..c1 {
                        let (q, n) = chunk(ch, len);
                        row_finish::<T, V>(op, q, n, T::from_f64(m), t, self.mem);
                    }
                }
                Task::Cols(i0, i1, len, inner) => {
                    let blocks = inner.div_ceil(COLS);
                    for i in i0..i1 {
                        let (o, j0) = (i / blocks, (i % blocks) * COLS);
                        let w = COLS.min(inner - j0);
                        let mut at = 0;
                        while at < w {
                            let pc = p.at(o * len * inner + j0 + at);
                            strip::<T, V>(op, pc, len, inner, V::LANES.min(w - at));
                            at += V::LANES;
                        }
                    }
                }
            }
        }
        res
    }
}

/// Computes `op` over a C-contiguous array of shape `(outer, len, inner)` along its middle axis:
/// softmax / log_softmax of `a` (x), or their backward from `a` (grad_output) and `b` (the saved
/// output; ignored by the forward ops). Bit-identical for any thread count and SIMD level.
///
/// # Safety
/// `a`, `b` (backward) and `out` are valid for `outer * len * inner` elements; `out` may equal
/// `a` or `b` but must not otherwise overlap them.
pub unsafe fn softmax_raw<T: Real>(
    op: Op,
    a: *const T,
    b: *const T,
    out: *mut T,
    outer: usize,
    len: usize,
    inner: usize,
) {
    if outer * len * inner == 0 {
        return;
    }
    let p = Ptrs {
        a: SendPtr(a as *mut T),
        b: SendPtr(b as *mut T),
        out: SendPtr(out),
    };
    // Past the caches, the last pass prefetches (the next rows, by then) and writes by streaming
    // stores where the output is not an input.
    let in_place = std::ptr::eq(out, a) || (!op.forward() && std::ptr::eq(out, b));
    let mem = Mem::for_output(outer * len * inner * size_of::<T>(), !in_place);
    let job = |p: Ptrs<T>, task: Task| dispatch(SoftmaxJob { op, p, task, mem });
    let cost = op.cost();
    if inner > 1 {
        let items = outer * inner.div_ceil(COLS);
        let per = COLS.min(inner) * len;
        for_ranges(items, (GRAIN / per).max(1), per * cost, |i0, i1| {
            job(p, Task::Cols(i0, i1, len, inner));
        });
    } else if len <= CHUNK {
        for_ranges(outer, (GRAIN / len).max(1), len * cost, |r0, r1| {
            job(p, Task::Rows(r0, r1, len));
        });
    } else {
        let chunks = len.div_ceil(CHUNK);
        for r in 0..outer {
            let pr = p.at(r * len);
            let mut m = 0.0;
            if op.forward() {
                m = lowest::<T>().to_f64();
                for o in
                    map_ranges(chunks, 1, CHUNK, |c0, c1| job(pr, Task::Max(c0, c1, len))).concat()
                {
                    if let Out::Max(v) = o
                        && v > m
                    {
                        m = v;
                    }
                }
            }
            let mut s = Sums::default();
            let per = map_ranges(chunks, 1, CHUNK * cost, |c0, c1| {
                job(pr, Task::Sums(c0, c1, len, m))
            });
            for o in per.concat() {
                if let Out::Sums(v) = o {
                    s.merge(v);
                }
            }
            let t = if wide::<T>(op) {
                [wide_param(&s), 0.0]
            } else {
                params::<T>(op, &s)
            };
            for_ranges(chunks, 1, CHUNK * cost, |c0, c1| {
                job(pr, Task::Finish(c0, c1, len, m, t));
            });
        }
    }
}

/// Safe form of [`softmax_raw`] for the forward ops: `x.len() == out.len() == outer * len *
/// inner` with `outer = x.len() / (len * inner)`.
pub fn softmax_forward<T: Real>(op: Op, x: &[T], len: usize, inner: usize, out: &mut [T]) {
    assert!(
        matches!(op, Op::Softmax | Op::LogSoftmax),
        "softmax_forward: a forward op"
    );
    assert_eq!(x.len(), out.len(), "softmax_forward: length mismatch");
    let outer = x.len() / (len * inner).max(1);
    assert_eq!(outer * len * inner, x.len(), "softmax_forward: bad shape");
    unsafe {
        softmax_raw(
            op,
            x.as_ptr(),
            x.as_ptr(),
            out.as_mut_ptr(),
            outer,
            len,
            inner,
        )
    }
}

/// Safe form of [`softmax_raw`] for the backward ops, from `g` and the saved output `y`.
pub fn softmax_backward<T: Real>(
    op: Op,
    g: &[T],
    y: &[T],
    len: usize,
    inner: usize,
    out: &mut [T],
) {
    assert!(
        matches!(op, Op::SoftmaxBackward | Op::LogSoftmaxBackward),
        "softmax_backward: a backward op"
    );
    assert!(
        g.len() == y.len() && y.len() == out.len(),
        "softmax_backward: length mismatch"
    );
    let outer = y.len() / (len * inner).max(1);
    assert_eq!(outer * len * inner, y.len(), "softmax_backward: bad shape");
    unsafe {
        softmax_raw(
            op,
            g.as_ptr(),
            y.as_ptr(),
            out.as_mut_ptr(),
            outer,
            len,
            inner,
        )
    }
}
