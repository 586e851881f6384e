//! Softmax and log-softmax along one axis, and their backward (from the saved output).
//!
//! Arrays are C-contiguous of shape `(outer, len, inner)`, reduced over `len`:
//! - `inner == 1` (the last axis): each row is cut into chunks of [`CHUNK`] elements. A chunk is
//!   read twice while it sits in cache: its maximum, then `e = exp(x - max)` summed (and, for
//!   softmax, stored). A last pass scales (softmax) or shifts (log-softmax) the row. Rows longer
//!   than a chunk are split across threads by chunks, whose sums are combined in order.
//! - `inner > 1`: strips of columns run across SIMD lanes, each lane one column.
//!
//! `x - max` is rounded, and `exp` turns its rounding error into a relative error as large as
//! `|x - max| eps` (64 ulp at `x - max = -100` in float32): the error is recovered exactly
//! (TwoSum) and put back as `e (1 + err)`. Rows are summed in 64 virtual lanes (element `i` to
//! lane `i % 64`) over blocks of 1024 elements, each block's lanes added pairwise in float64
//! into a compensated float64 sum; columns in one lane each, flushed every 16 rows. So results
//! are bit-identical for every SIMD level and thread count, and the sums' errors are about an
//! ulp at most.
//!
//! The sum is kept as `count + rest`, with `count` the number of terms `e = 1` (the maxima) and
//! `rest` the others, so that log-softmax takes `log1p((count - 1) + rest)`: the maximum of a row
//! whose other entries are far below gets `-sum(e)`, not 0.
//!
//! NaN or `+inf` in a row gives a row of NaN, as does a row of `-inf` (as PyTorch).

use super::c;
use crate::math::{exp, exp_nonpositive};
use crate::parallel::{GRAIN, SendPtr, for_ranges, map_ranges};
use crate::simd::{Job, Kernel, Real, Vector, dispatch, map_bcast};

/// Row elements per chunk (a multiple of [`BLOCK`]).
pub const CHUNK: usize = 1 << 13;
/// Virtual lanes of the row sums (element `i` of a row goes to lane `i % VLANES`).
const VLANES: usize = 64;
/// Elements per block of the row sums: each lane's running sum (16 terms) is flushed into its
/// compensated float64 sum at the end of a block.
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
            Op::Softmax | Op::LogSoftmax => 6,
            Op::LogSoftmaxBackward => 4,
            Op::SoftmaxBackward => 2,
        }
    }
}

/// `a - b = s + err` exactly (TwoSum); `err` is NaN where `s` is not finite.
#[inline(always)]
fn two_diff<V: Vector>(a: V, b: V) -> (V, V) {
    let s = a - b;
    let bb = s - a;
    (s, (a - (s - bb)) - (b + bb))
}

/// `x - m` as `s + err`, `err` set to 0 where it is NaN (`s` infinite or NaN).
#[inline(always)]
fn shifted<V: Vector>(x: V, m: V) -> (V, V) {
    let (s, err) = two_diff(x, m);
    (s, V::select(err.is_nan(), c(0.0), err))
}

/// `e^(x - m)` for `x <= m`, with the rounding error of `x - m` put back: `e + e err`.
#[inline(always)]
fn exp_shifted<V: Vector>(x: V, m: V) -> V {
    let (s, err) = shifted(x, m);
    let e = exp_nonpositive(s);
    e.mul_add(err, e)
}

/// `[count, rest]`: the terms `e >= 1` (the maxima) count as 1, the others go to `rest`.
#[inline(always)]
fn split_one<V: Vector>(e: V) -> [V; 2] {
    let one = e.ge(c(1.0));
    [V::select(one, c(1.0), c(0.0)), V::select(one, c(0.0), e)]
}

/// `[y, f_hi, f_lo] -> y f_hi + y f_lo`: softmax's scaling by `f = 1 / sum` held as two parts.
pub struct SoftmaxScale;
impl<T: Real> Kernel<T, 3> for SoftmaxScale {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [y, hi, lo]: [V; 3]) -> V {
        y.mul_add(hi, y * lo)
    }
}

/// `[x, m, l_hi, l_lo] -> (x - m) - l`, with `x - m` exact (as `s + err`) and `l = log(sum)` in
/// two parts: `(s - l_hi) + (err - l_lo)`. `-inf` gives `-inf`.
pub struct LogSoftmaxOut;
impl<T: Real> Kernel<T, 4> for LogSoftmaxOut {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x, m, hi, lo]: [V; 4]) -> V {
        let (s, err) = shifted(x, m);
        (s - hi) + (err - lo)
    }
}

/// `[g, y, dot] -> y (g - dot)`, ATen's `_softmax_backward_data` with `dot = sum(g y)`.
pub struct SoftmaxGrad;
impl<T: Real> Kernel<T, 3> for SoftmaxGrad {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, y, dot]: [V; 3]) -> V {
        y * (g - dot)
    }
}

/// `[g, y, sum] -> g - e^y sum` (one rounding), ATen's `_log_softmax_backward_data` with
/// `sum = sum(g)`.
pub struct LogSoftmaxGrad;
impl<T: Real> Kernel<T, 3> for LogSoftmaxGrad {
    const COST: usize = 4;
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, y, sum]: [V; 3]) -> V {
        (-exp(y)).mul_add(sum, g)
    }
}

/// A compensated (Neumaier) float64 sum.
#[derive(Clone, Copy, Default, Debug)]
struct Acc {
    hi: f64,
    lo: f64,
}

impl Acc {
    #[inline(always)]
    fn add(&mut self, v: f64) {
        let s = self.hi + v;
        self.lo += if self.hi.abs() >= v.abs() {
            (self.hi - s) + v
        } else {
            (v - s) + self.hi
        };
        self.hi = s;
    }
    fn merge(&mut self, o: Acc) {
        self.add(o.hi);
        self.add(o.lo);
    }
    /// `(hi, lo)` with `hi = hi + lo` rounded; an infinite or NaN sum is `(sum, 0)`.
    fn parts(self) -> (f64, f64) {
        if !self.hi.is_finite() {
            return (self.hi, 0.0);
        }
        let s = self.hi + self.lo;
        (
            s,
            if s.is_finite() {
                (self.hi - s) + self.lo
            } else {
                0.0
            },
        )
    }
    fn value(self) -> f64 {
        self.parts().0
    }
}

/// What phase 1 leaves for a chunk or a column: the maximum (forward) and the sums
/// (forward: `[count, rest]`; backward: `[sum]`).
#[derive(Clone, Copy, Default, Debug)]
struct Stats {
    m: f64,
    s: [Acc; 2],
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

/// `e^(a - b)` in float64 for `a <= b`, with the rounding error of `a - b` put back.
fn exp_diff(a: f64, b: f64) -> f64 {
    let (s, err) = two_diff(a, b);
    let e = s.exp();
    if err.is_nan() { e } else { e.mul_add(err, e) }
}

/// `(hi, lo)` of `v` in T: `hi = v` rounded, `lo = v - hi` rounded (0 for f64).
fn split<T: Real>(v: f64, lo: f64) -> (f64, f64) {
    let hi = T::from_f64(v).to_f64();
    (hi, T::from_f64((v - hi) + lo).to_f64())
}

/// The row's totals from its chunks' stats: forward `[M, S_hi, S_lo]` with S the sum (softmax)
/// or `[M, L_hi, L_lo]` with `L = log(sum)` (log-softmax); backward `[sum, 0, 0]`.
fn totals<T: Real>(op: Op, stats: &[Stats]) -> [f64; 3] {
    match op {
        Op::SoftmaxBackward | Op::LogSoftmaxBackward => {
            let mut a = Acc::default();
            stats.iter().for_each(|s| a.merge(s.s[0]));
            [a.value(), 0.0, 0.0]
        }
        Op::Softmax | Op::LogSoftmax => {
            let m = stats.iter().fold(f64::NEG_INFINITY, |m, s| m.max(s.m));
            let (mut ones, mut rest) = (0.0, Acc::default());
            for s in stats {
                if s.m == m {
                    ones += s.s[0].value();
                    rest.merge(s.s[1]);
                } else {
                    let w = exp_diff(s.m, m);
                    rest.add(s.s[0].value() * w);
                    rest.add(s.s[1].value() * w);
                }
            }
            if op == Op::Softmax {
                rest.add(ones);
                let (hi, lo) = rest.parts();
                [m, hi, lo]
            } else {
                rest.add(ones - 1.0); // exact: `ones` counts
                let (hi, lo) = rest.parts();
                // log(1 + hi + lo) = log1p(hi) + lo / (1 + hi)
                let l = hi.ln_1p();
                let (h, l2) = split::<T>(l, lo / (1.0 + hi));
                [m, h, l2]
            }
        }
    }
}

/// Phase 2 parameters of one chunk from the row's totals: softmax `[f_hi, f_lo, _]` with
/// `f = e^(m_c - M) / S`; log-softmax `[M, L_hi, L_lo]`; backward `[sum, _, _]`.
fn chunk_params<T: Real>(op: Op, t: [f64; 3], s: &Stats) -> [f64; 3] {
    match op {
        Op::Softmax => {
            let [m, hi, lo] = t;
            // 1 / (hi + lo) as r + r_lo: r_lo = (1 - r hi - r lo) / hi.
            let r = 1.0 / hi;
            let r_lo = (-r.mul_add(hi, -1.0) - r * lo) / hi;
            let r_lo = if r_lo.is_finite() { r_lo } else { 0.0 };
            let (r, r_lo) = if s.m == m {
                (r, r_lo)
            } else {
                let w = exp_diff(s.m, m);
                (r * w, r_lo * w)
            };
            let (h, l) = split::<T>(r, r_lo);
            [h, l, 0.0]
        }
        _ => t,
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

/// Adds the first `n` lanes of each `v[k]` to `acc[k][lane]` and zeroes `v`.
#[inline(always)]
fn flush<V: Vector, const K: usize>(
    v: &mut [V; K],
    acc: &mut [[Acc; 64]; K],
    lane0: usize,
    n: usize,
) {
    for k in 0..K {
        let mut buf = [V::Elem::default(); 64];
        unsafe { v[k].store(buf.as_mut_ptr()) };
        for (a, b) in acc[k][lane0..lane0 + n].iter_mut().zip(&buf) {
            a.add(b.to_f64());
        }
        v[k] = V::splat(V::Elem::default());
    }
}

/// Sums `K` terms per element over a row of `n`: `term(at)` gives the terms of the `V::LANES`
/// elements at `at` (padded past `n` so that they add 0). Element `i` goes to virtual lane
/// `i % 64` (64 independent running sums in T, whatever the level); at the end of each block of
/// [`BLOCK`] elements the lanes are added pairwise in float64 and the block's total goes into a
/// compensated float64 sum.
#[inline(always)]
unsafe fn row_sums<V: Vector, const K: usize>(
    n: usize,
    mut term: impl FnMut(usize) -> [V; K],
) -> [Acc; K] {
    let per = VLANES / V::LANES;
    let mut total = [Acc::default(); K];
    let mut acc = [[V::splat(V::Elem::default()); K]; VLANES];
    let mut i = 0;
    while i < n {
        let end = (i + BLOCK).min(n);
        while i < end {
            for (a, acc) in acc[..per].iter_mut().enumerate() {
                let t = term(i + a * V::LANES);
                for k in 0..K {
                    acc[k] = acc[k] + t[k];
                }
            }
            i += VLANES;
        }
        for (k, total) in total.iter_mut().enumerate() {
            let mut buf = [V::Elem::default(); VLANES];
            for (a, acc) in acc[..per].iter_mut().enumerate() {
                unsafe { acc[k].store(buf.as_mut_ptr().add(a * V::LANES)) };
                acc[k] = V::splat(V::Elem::default());
            }
            let mut v: [f64; VLANES] = buf.map(|b| b.to_f64());
            let mut w = VLANES;
            while w > 1 {
                w /= 2;
                for j in 0..w {
                    v[j] += v[j + w];
                }
            }
            total.add(v[0]);
        }
    }
    total
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

/// Phase 1 over `n` contiguous elements (softmax also stores `e` into `out`).
#[inline(always)]
unsafe fn chunk_stats<T: Real, V: Vector<Elem = T>>(op: Op, p: Ptrs<T>, n: usize) -> Stats {
    let (a, b, out) = (p.a.0 as *const T, p.b.0 as *const T, p.out.0);
    let zero = T::default();
    unsafe {
        match op {
            Op::Softmax | Op::LogSoftmax => {
                let m = row_max::<T, V>(a, n);
                let mv = V::splat(m);
                let ninf = T::from_f64(f64::NEG_INFINITY);
                let s = row_sums::<V, 2>(
                    n,
                    #[inline(always)]
                    |at| {
                        let e = exp_shifted(ld::<V>(a, at, n, ninf), mv);
                        if op == Op::Softmax {
                            st(e, out, at, n);
                        }
                        split_one(e)
                    },
                );
                Stats { m: m.to_f64(), s }
            }
            Op::SoftmaxBackward => {
                let [s] = row_sums::<V, 1>(
                    n,
                    #[inline(always)]
                    |at| [ld::<V>(a, at, n, zero) * ld::<V>(b, at, n, zero)],
                );
                Stats {
                    m: 0.0,
                    s: [s, Acc::default()],
                }
            }
            Op::LogSoftmaxBackward => {
                let [s] = row_sums::<V, 1>(
                    n,
                    #[inline(always)]
                    |at| [ld::<V>(a, at, n, zero)],
                );
                Stats {
                    m: 0.0,
                    s: [s, Acc::default()],
                }
            }
        }
    }
}

/// Phase 2 over `n` contiguous elements with the chunk's parameters.
#[inline(always)]
unsafe fn chunk_finish<T: Real, V: Vector<Elem = T>>(op: Op, p: Ptrs<T>, n: usize, q: [f64; 3]) {
    let (a, b, out) = (p.a.0 as *const T, p.b.0 as *const T, p.out.0);
    let q: [T; 3] = q.map(T::from_f64);
    let (q0, q1, q2) = (&q[0] as *const T, &q[1] as *const T, &q[2] as *const T);
    unsafe {
        match op {
            Op::Softmax => {
                let y = out as *const T;
                map_bcast::<T, V, _, 3>(&SoftmaxScale, [y, q0, q1], [false, true, true], out, n)
            }
            Op::LogSoftmax => map_bcast::<T, V, _, 4>(
                &LogSoftmaxOut,
                [a, q0, q1, q2],
                [false, true, true, true],
                out,
                n,
            ),
            Op::SoftmaxBackward => {
                map_bcast::<T, V, _, 3>(&SoftmaxGrad, [a, b, q0], [false, false, true], out, n)
            }
            Op::LogSoftmaxBackward => {
                map_bcast::<T, V, _, 3>(&LogSoftmaxGrad, [a, b, q0], [false, false, true], out, n)
            }
        }
    }
}

/// Column sums of two terms per row (`term(k)` for row `k`), flushed every 16 rows into the
/// first `nv` lanes' compensated sums.
#[inline(always)]
unsafe fn col_sums<V: Vector, F: FnMut(usize) -> [V; 2]>(
    len: usize,
    nv: usize,
    mut term: F,
) -> [[Acc; 64]; 2] {
    let mut lanes = [[Acc::default(); 64]; 2];
    let mut acc = [V::splat(V::Elem::default()); 2];
    for k in 0..len {
        let t = term(k);
        acc[0] = acc[0] + t[0];
        acc[1] = acc[1] + t[1];
        if k % 16 == 15 || k + 1 == len {
            flush(&mut acc, &mut lanes, 0, nv);
        }
    }
    lanes
}

/// A strip of `nv <= V::LANES` columns (stride `inner`) over `len` rows: phases 1 and 2 with one
/// column per lane; sums flushed every 16 rows.
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
    let ninf = T::from_f64(f64::NEG_INFINITY);
    unsafe {
        let (m, lanes) = match op {
            Op::Softmax | Op::LogSoftmax => {
                let mut m = V::splat(ninf);
                for k in 0..len {
                    let v = ld::<V>(a.add(k * inner), 0, nv, ninf);
                    m = V::select(v.gt(m), v, m);
                }
                let lo = V::splat(lowest::<T>());
                let m = V::select(m.lt(lo), lo, m);
                let lanes = col_sums::<V, _>(
                    len,
                    nv,
                    #[inline(always)]
                    |k| {
                        let e = exp_shifted(ld::<V>(a.add(k * inner), 0, nv, ninf), m);
                        if op == Op::Softmax {
                            st(e, out.add(k * inner), 0, nv);
                        }
                        split_one(e)
                    },
                );
                (m, lanes)
            }
            Op::SoftmaxBackward => (
                V::splat(zero),
                col_sums::<V, _>(
                    len,
                    nv,
                    #[inline(always)]
                    |k| {
                        let (g, y) = (
                            ld::<V>(a.add(k * inner), 0, nv, zero),
                            ld::<V>(b.add(k * inner), 0, nv, zero),
                        );
                        [g * y, V::splat(zero)]
                    },
                ),
            ),
            Op::LogSoftmaxBackward => (
                V::splat(zero),
                col_sums::<V, _>(
                    len,
                    nv,
                    #[inline(always)]
                    |k| [ld::<V>(a.add(k * inner), 0, nv, zero), V::splat(zero)],
                ),
            ),
        };
        // Per-column parameters.
        let mut mb = [zero; 64];
        m.store(mb.as_mut_ptr());
        let mut qb = [[zero; 64]; 3];
        for l in 0..nv {
            let s = Stats {
                m: mb[l].to_f64(),
                s: [lanes[0][l], lanes[1][l]],
            };
            let q = chunk_params::<T>(op, totals::<T>(op, &[s]), &s);
            for j in 0..3 {
                qb[j][l] = T::from_f64(q[j]);
            }
        }
        let q: [V; 3] = std::array::from_fn(|j| V::load(qb[j].as_ptr()));
        for k in 0..len {
            let (ak, bk, ok) = (a.add(k * inner), b.add(k * inner), out.add(k * inner));
            let v = match op {
                Op::Softmax => SoftmaxScale.eval([ld::<V>(ok, 0, nv, zero), q[0], q[1]]),
                Op::LogSoftmax => LogSoftmaxOut.eval([ld::<V>(ak, 0, nv, zero), q[0], q[1], q[2]]),
                Op::SoftmaxBackward => {
                    SoftmaxGrad.eval([ld::<V>(ak, 0, nv, zero), ld::<V>(bk, 0, nv, zero), q[0]])
                }
                Op::LogSoftmaxBackward => {
                    LogSoftmaxGrad.eval([ld::<V>(ak, 0, nv, zero), ld::<V>(bk, 0, nv, zero), q[0]])
                }
            };
            st(v, ok, 0, nv);
        }
    }
}

/// The work of one task.
#[derive(Clone, Copy)]
enum Task {
    /// Whole rows `r0..r1` of `len` (at most a chunk) elements.
    Rows(usize, usize, usize),
    /// Phase 1 of chunks `c0..c1` of one row of `len` at `p`.
    Stats(usize, usize, usize),
    /// Phase 2 of chunks `c0..c1` of one row of `len` at `p`, with the row's totals.
    Finish(usize, usize, usize, [f64; 3]),
    /// Column blocks `i0..i1` (item `i`: outer index `i / blocks`, columns from `(i % blocks) *
    /// COLS`), each over `len` rows of `inner`.
    Cols(usize, usize, usize, usize),
}

struct SoftmaxJob<'a, T> {
    op: Op,
    p: Ptrs<T>,
    task: Task,
    stats: &'a [Stats],
}

impl<T: Real> Job<T> for SoftmaxJob<'_, T> {
    type Output = Vec<Stats>;
    #[inline(always)]
    fn run<V: Vector<Elem = T>>(self) -> Vec<Stats> {
        let (op, p) = (self.op, self.p);
        let mut res = Vec::new();
        unsafe {
            match self.task {
                Task::Rows(r0, r1, len) => {
                    for r in r0..r1 {
                        let pr = p.at(r * len);
                        let s = chunk_stats::<T, V>(op, pr, len);
                        let q = chunk_params::<T>(op, totals::<T>(op, &[s]), &s);
                        chunk_finish::<T, V>(op, pr, len, q);
                    }
                }
                Task::Stats(c0, c1, len) => {
                    for ch in c0..c1 {
                        let n = CHUNK.min(len - ch * CHUNK);
                        res.push(chunk_stats::<T, V>(op, p.at(ch * CHUNK), n));
                    }
                }
                Task::Finish(c0, c1, len, t) => {
                    for ch in c0..c1 {
                        let n = CHUNK.min(len - ch * CHUNK);
                        let q = chunk_params::<T>(op, t, &self.stats[ch]);
                        chunk_finish::<T, V>(op, p.at(ch * CHUNK), n, q);
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
    let job = |p: Ptrs<T>, task: Task, stats: &[Stats]| dispatch(SoftmaxJob { op, p, task, stats });
    let cost = op.cost();
    if inner > 1 {
        let items = outer * inner.div_ceil(COLS);
        let per = COLS.min(inner) * len;
        for_ranges(items, (GRAIN / per).max(1), per * cost, |i0, i1| {
            job(p, Task::Cols(i0, i1, len, inner), &[]);
        });
    } else if len <= CHUNK {
        for_ranges(outer, (GRAIN / len).max(1), len * cost, |r0, r1| {
            job(p, Task::Rows(r0, r1, len), &[]);
        });
    } else {
        let chunks = len.div_ceil(CHUNK);
        for r in 0..outer {
            let pr = p.at(r * len);
            let stats: Vec<Stats> = map_ranges(chunks, 1, CHUNK * cost, |c0, c1| {
                job(pr, Task::Stats(c0, c1, len), &[])
            })
            .concat();
            let t = totals::<T>(op, &stats);
            for_ranges(chunks, 1, CHUNK, |c0, c1| {
                job(pr, Task::Finish(c0, c1, len, t), &stats);
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
