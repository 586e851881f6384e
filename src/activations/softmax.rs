//! Softmax and log-softmax along one axis, and their backward (from the saved output).
//!
//! Arrays are C-contiguous of shape `(outer, len, inner)`, reduced over `len`:
//! - `inner == 1` (the last axis): a row of at most [`CHUNK`] elements is done by one task in
//!   three passes while it sits in cache: its maximum `m`, the sums, the output. Longer rows
//!   are split across threads by chunks, pass by pass; the chunks' sums are combined in order.
//! - `inner > 1`: strips of columns run across SIMD lanes, each lane one column.
//!
//! Accuracy (each output within 1 ulp of the correctly rounded result): `x - m` is exact as a
//! pair (TwoSum), `e^(x - m)` is a pair from [`exp_pair`], and the sums are compensated: in
//! each of 64 virtual lanes (element `i` to lane `i % 64`) a running `(hi, lo)` pair in the
//! element type (TwoSum), flushed every [`BLOCK`] elements (columns: every 16 rows) lane by lane
//! into a compensated float64 sum. The order of every operation is fixed by the element index
//! alone, so results are bit-identical for every SIMD level and thread count.
//! - softmax: `f = 1 / sum` as a pair, and `y = e^(x - m) f` rounded once ([`exp_mul_pair`]).
//! - log-softmax: `y = (x - m) - log(sum)` with `log(sum)` as a pair. The sum is kept as
//!   `count + rest` (`count`: the elements equal to `m`), so `log(sum) = log1p((count - 1) +
//!   rest)` is accurate where it is tiny: the maximum of a row whose other entries are far below
//!   gets `-rest`, not 0.
//! - backward: `sum(g y)` (from exact products) and `sum(g)` are compensated sums.
//!
//! NaN or `+inf` in a row gives a row of NaN, as does a row of `-inf` (as PyTorch).

use super::c;
use crate::math::two_sum;
use crate::math::{MathConsts, exp, exp_mul_pair, exp_pair, expm1_pair};
use crate::parallel::{GRAIN, SendPtr, for_ranges, map_ranges};
use crate::simd::{Job, Kernel, Real, Vector, dispatch, map_bcast};
use std::mem::MaybeUninit;

/// Row elements per chunk (a multiple of [`BLOCK`]).
pub const CHUNK: usize = 1 << 13;
/// Virtual lanes of the row sums (element `i` of a row goes to lane `i % VLANES`).
const VLANES: usize = 64;
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
    let (s, err) = shifted(x, m);
    let lo = V::Elem::EXP_LO;
    let (k, h, l) = exp_pair(V::select(s.lt(c(lo)), c(lo), s));
    let sh = V::Elem::EXP_SHIFT;
    let p = (k + c(sh)).pow2i() * c(2f64.powi(-(sh as i32)));
    // e^(s + err) = e^s (1 + err) to within err^2.
    let (eh, el) = (h * p, h.mul_add(err, l) * p);
    // Exactly 0 below EXP_LO (so that padding lanes add nothing at all).
    let under = s.lt(c(lo));
    let (eh, el) = (V::select(under, c(0.0), eh), V::select(under, c(0.0), el));
    let top = s.ge(c(0.0));
    [
        V::select(top, c(1.0), c(0.0)),
        V::select(top, c(0.0), eh),
        V::select(top, c(0.0), el),
    ]
}

/// `[x, m, f_hi, f_lo] -> e^(x - m) f`, rounded once, with `x - m` exact and `f = 1 / sum` a
/// pair. `-inf` gives 0.
pub struct SoftmaxOut;
impl<T: Real> Kernel<T, 4> for SoftmaxOut {
    const COST: usize = 4;
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
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, y, hi, lo]: [V; 4]) -> V {
        let e = -exp(y);
        e.mul_add(hi, e.mul_add(lo, g))
    }
}

/// A compensated float64 sum (TwoSum, errors added up in `lo`).
#[derive(Clone, Copy, Default, Debug)]
struct Acc {
    hi: f64,
    lo: f64,
}

impl Acc {
    #[inline(always)]
    fn add(&mut self, v: f64) {
        let (s, e) = two_sum(self.hi, v);
        self.hi = s;
        self.lo += e;
    }
    fn merge(&mut self, o: Acc) {
        self.add(o.hi);
        self.add(o.lo);
    }
    /// `(hi, lo)` with `hi = hi + lo` rounded; an infinite or NaN sum is `(sum, 0)`.
    fn parts(self) -> (f64, f64) {
        let s = self.hi + self.lo;
        if !s.is_finite() || !self.hi.is_finite() {
            return (self.hi + self.lo, 0.0);
        }
        (s, (self.hi - s) + self.lo)
    }
}

/// A row's (chunk's, column's) sums: forward `count` (elements equal to the maximum) and
/// `rest`; backward `rest` only.
#[derive(Clone, Copy, Default, Debug)]
struct Sums {
    count: Acc,
    rest: Acc,
}

impl Sums {
    fn merge(&mut self, o: Sums) {
        self.count.merge(o.count);
        self.rest.merge(o.rest);
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
    /// Adds the first `n` lanes to `sums[..n]` (lane by lane, in order) and zeroes `self`.
    #[inline(always)]
    fn flush(&mut self, sums: &mut [Sums]) {
        let mut buf = [[V::Elem::default(); 64]; 3];
        unsafe {
            self.count.store(buf[0].as_mut_ptr());
            self.hi.store(buf[1].as_mut_ptr());
            self.lo.store(buf[2].as_mut_ptr());
        }
        for (j, s) in sums.iter_mut().enumerate() {
            s.count.add(buf[0][j].to_f64());
            s.rest.add(buf[1][j].to_f64());
            s.rest.add(buf[2][j].to_f64());
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
fn split<T: Real>(v: f64, lo: f64) -> [f64; 2] {
    let hi = T::from_f64(v).to_f64();
    let lo = if hi.is_finite() { (v - hi) + lo } else { 0.0 };
    [hi, T::from_f64(lo).to_f64()]
}

/// `log1p(th + tl)` as a pair `(l, d)`: float64's `ln_1p`, then one Newton step with
/// `expm1(l)` as a pair, so the pair is within about 2^-57 relative.
fn log1p_pair(th: f64, tl: f64) -> (f64, f64) {
    let l = th.ln_1p();
    if !l.is_finite() {
        return (l, 0.0);
    }
    let (uh, ul) = expm1_pair(l);
    // th - uh is exact (Sterbenz) unless l is off by far more than an ulp.
    (l, ((th - uh) + (tl - ul)) / (1.0 + uh))
}

/// The finishing kernel's two parameters from the sums (and the maximum `m`, forward):
/// softmax `f = 1 / sum`, log-softmax `log(sum)`, backward the sum, each as a pair in T.
fn params<T: Real>(op: Op, s: &Sums) -> [f64; 2] {
    match op {
        Op::Softmax => {
            let mut sum = s.rest;
            sum.add(s.count.hi);
            let (h, l) = sum.parts();
            // 1 / (h + l) as r + r_lo: r_lo = (1 - r h - r l) / h.
            let r = 1.0 / h;
            let r_lo = (-r.mul_add(h, -1.0) - r * l) / h;
            split::<T>(r, if r_lo.is_finite() { r_lo } else { 0.0 })
        }
        Op::LogSoftmax => {
            let mut t = s.rest;
            t.add(s.count.hi - 1.0); // exact: `count` counts
            let (th, tl) = t.parts();
            let (l, d) = log1p_pair(th, tl);
            split::<T>(l, d)
        }
        _ => {
            let (h, l) = s.rest.parts();
            split::<T>(h, l)
        }
    }
}

/// Loads `V::LANES` elements at `p + at`, padding with `pad` past `n`.
#[inline(always)]
unsafe fn ld<V: Vector>(p: *const V::Elem, at: usize, n: usize, pad: V::Elem) -> V {
    unsafe {
        if at + V::LANES <= n {
            V::load(p.add(at))
        } else {
            let mut buf = [pad; 64];
            if at < n {
                std::ptr::copy_nonoverlapping(p.add(at), buf.as_mut_ptr(), n - at);
            }
            V::load(buf.as_ptr())
        }
    }
}

/// Stores the lanes of `v` that fall before `n`.
#[inline(always)]
unsafe fn st<V: Vector>(v: V, p: *mut V::Elem, at: usize, n: usize) {
    unsafe {
        if at + V::LANES <= n {
            v.store(p.add(at))
        } else if at < n {
            let mut buf = [V::Elem::default(); 64];
            v.store(buf.as_mut_ptr());
            std::ptr::copy_nonoverlapping(buf.as_ptr(), p.add(at), n - at);
        }
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

/// The terms `[count, hi, lo]` of element(s) `at` of the sums of `op` (padded past `n` with
/// terms 0), `a` being x (forward) or g, `b` the saved output.
#[inline(always)]
unsafe fn terms<V: Vector>(
    op: Op,
    a: *const V::Elem,
    b: *const V::Elem,
    m: V,
    at: usize,
    n: usize,
) -> [V; 3] {
    let zero = V::Elem::default();
    let z = V::splat(zero);
    unsafe {
        match op {
            Op::Softmax | Op::LogSoftmax => {
                exp_terms(ld::<V>(a, at, n, V::Elem::from_f64(f64::NEG_INFINITY)), m)
            }
            Op::SoftmaxBackward => {
                // g y exactly, as a pair.
                let (g, y) = (ld::<V>(a, at, n, zero), ld::<V>(b, at, n, zero));
                let p = g * y;
                let pl = g.mul_add(y, -p);
                [z, p, V::select(pl.is_nan(), z, pl)]
            }
            Op::LogSoftmaxBackward => [z, ld::<V>(a, at, n, zero), z],
        }
    }
}

/// The sums of `op` over a row of `n` at `a`, `b`: element `i` goes to virtual lane `i % 64`
/// (64 running pairs in T, whatever the level), flushed lane by lane every [`BLOCK`] elements
/// into compensated float64 sums, which are then added in lane order.
#[inline(always)]
unsafe fn row_sums<T: Real, V: Vector<Elem = T>>(
    op: Op,
    a: *const T,
    b: *const T,
    m: T,
    n: usize,
) -> Sums {
    // A short row (n < 64) leaves the vectors past its end out: they would only add padding
    // terms, which are +0, to sums that stay +0. Only the vectors in use are initialized (a
    // full array is 12 KB at avx512).
    let per = n.min(VLANES).div_ceil(V::LANES);
    let m = V::splat(m);
    let mut sums = [Sums::default(); VLANES];
    let mut acc = [MaybeUninit::<Lanes<V>>::uninit(); VLANES];
    for a in &mut acc[..per] {
        a.write(Lanes::zero());
    }
    // Safety: the first `per` are initialized just above.
    let acc = unsafe { &mut *(&mut acc[..per] as *mut [MaybeUninit<Lanes<V>>] as *mut [Lanes<V>]) };
    let mut i = 0;
    while i < n {
        let end = (i + BLOCK).min(n);
        while i < end {
            for (j, acc) in acc.iter_mut().enumerate() {
                acc.add(unsafe { terms(op, a, b, m, i + j * V::LANES, n) });
            }
            i += VLANES;
        }
        for (j, acc) in acc.iter_mut().enumerate() {
            acc.flush(&mut sums[j * V::LANES..(j + 1) * V::LANES]);
        }
    }
    let mut total = Sums::default();
    for (j, s) in sums.iter().enumerate() {
        // Lanes from n on hold (+0, +0): adding them to finite totals (never -0: they start
        // at +0) changes nothing, so a short row stops here. Infinite ones still take them,
        // as a long row's would.
        if j >= n && total.count.hi.is_finite() && total.rest.hi.is_finite() {
            break;
        }
        total.merge(*s);
    }
    total
}

/// The finishing kernel of `op` on one vector.
#[inline(always)]
fn finish<V: Vector>(op: Op, a: V, b: V, q: [V; 2]) -> V {
    match op {
        Op::Softmax => SoftmaxOut.eval([a, b, q[0], q[1]]),
        Op::LogSoftmax => LogSoftmaxOut.eval([a, b, q[0], q[1]]),
        Op::SoftmaxBackward => SoftmaxGrad.eval([a, b, q[0], q[1]]),
        Op::LogSoftmaxBackward => LogSoftmaxGrad.eval([a, b, q[0], q[1]]),
    }
}

/// The last pass over `n` contiguous elements: `b` is the maximum (forward, broadcast) or the
/// saved output.
#[inline(always)]
unsafe fn row_finish<T: Real, V: Vector<Elem = T>>(
    op: Op,
    p: Ptrs<T>,
    n: usize,
    m: T,
    q: [f64; 2],
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
        let mut sums = [Sums::default(); 64];
        let mut acc = Lanes::<V>::zero();
        for k in 0..len {
            acc.add(terms(op, a.add(row(k)), b.add(row(k)), m, 0, nv));
            if k % 16 == 15 || k + 1 == len {
                acc.flush(&mut sums[..nv]);
            }
        }
        let mut qb = [[zero; 64]; 2];
        for l in 0..nv {
            let q = params::<T>(op, &sums[l]);
            qb[0][l] = T::from_f64(q[0]);
            qb[1][l] = T::from_f64(q[1]);
        }
        let q = [V::load(qb[0].as_ptr()), V::load(qb[1].as_ptr())];
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
                        row_finish::<T, V>(op, pr, len, m, params::<T>(op, &s));
                    }
                }
                Task::Max(c0, c1, len) => {
                    for ch in c0..c1 {
                        let (q, n) = chunk(ch, len);
                        res.push(Out::Max(row_max::<T, V>(q.a.0, n).to_f64()));
                    }
                }
                Task::Sums(c0, c1, len, m) => {
                    for ch in c0..c1 {
                        let (q, n) = chunk(ch, len);
                        let s = row_sums::<T, V>(op, q.a.0, q.b.0, T::from_f64(m), n);
                        res.push(Out::Sums(s));
                    }
                }
                Task::Finish(c0, c1, len, m, t) => {
                    for ch in c0..c1 {
                        let (q, n) = chunk(ch, len);
                        row_finish::<T, V>(op, q, n, T::from_f64(m), t);
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
    let job = |p: Ptrs<T>, task: Task| dispatch(SoftmaxJob { op, p, task });
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
            let t = params::<T>(op, &s);
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
