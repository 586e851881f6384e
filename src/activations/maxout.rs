//! Maxout (Goodfellow et al. 2013): the max over groups of `pieces` consecutive entries on one
//! axis.
//!
//! Arrays are C-contiguous of shape `(outer, groups * pieces, inner)`; the output has shape
//! `(outer, groups, inner)`. Each group's result is its first maximal entry, and a NaN in a group
//! wins (the first NaN), as `numpy.argmax` picks; the backward sends the gradient to that entry.

use crate::parallel::{GRAIN, SendPtr, for_ranges};
use crate::simd::{Job, Kernel, Real, Vector, dispatch, map_with};

/// `[a, b] -> b` if `b` beats the running maximum `a` (`b > a`, or `b` is the first NaN), else `a`.
struct FirstMax;
impl<T: Real> Kernel<T, 2> for FirstMax {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [a, b]: [V; 2]) -> V {
        V::select(a.is_nan(), a, V::select(V::or(b.gt(a), b.is_nan()), b, a))
    }
}

/// Index of the first maximal entry of `n` values spaced `stride` apart (first NaN wins).
/// Branch-free (selects, not jumps): with random data the comparisons are unpredictable.
#[inline(always)]
unsafe fn argmax<T: Real>(x: *const T, n: usize, stride: usize) -> usize {
    let mut best = 0;
    let mut m = unsafe { *x };
    for p in 1..n {
        let v = unsafe { *x.add(p * stride) };
        let take = !m.is_nan() & ((v > m) | v.is_nan());
        best = if take { p } else { best };
        m = if take { v } else { m };
    }
    best
}

/// # Safety
/// `x` is valid for `outer * groups * pieces * inner` reads, `out` for `outer * groups * inner`
/// writes, and they do not overlap.
pub unsafe fn maxout_raw<T: Real>(
    x: *const T,
    outer: usize,
    groups: usize,
    pieces: usize,
    inner: usize,
    out: *mut T,
) {
    let (x, out) = (SendPtr(x as *mut T), SendPtr(out));
    let rows = outer * groups;
    for_ranges(
        rows,
        (GRAIN / (pieces * inner).max(1)).max(1),
        pieces * inner,
        |r0, r1| {
            dispatch(MaxoutJob {
                x,
                out,
                rows: (r0, r1),
                pieces,
                inner,
            })
        },
    );
}

struct MaxoutJob<T> {
    x: SendPtr<T>,
    out: SendPtr<T>,
    rows: (usize, usize),
    pieces: usize,
    inner: usize,
}

impl<T: Real> Job<T> for MaxoutJob<T> {
    type Output = ();
    #[inline(always)]
    fn run<V: Vector<Elem = T>>(self) {
        let (pieces, inner) = (self.pieces, self.inner);
        for r in self.rows.0..self.rows.1 {
            unsafe {
                let x = self.x.0.add(r * pieces * inner) as *const T;
                let out = self.out.0.add(r * inner);
                if inner == 1 {
                    *out = *x.add(argmax(x, pieces, 1));
                } else {
                    std::ptr::copy_nonoverlapping(x, out, inner);
                    for p in 1..pieces {
                        map_with::<T, V, _, 2>(
                            &FirstMax,
                            [out as *const T, x.add(p * inner)],
                            out,
                            inner,
                        );
                    }
                }
            }
        }
    }
}

/// Writes the gradient of maxout into `grad_input` (x's shape): `g` at each group's first maximal
/// entry, zeros elsewhere.
///
/// # Safety
/// As [`maxout_raw`], with `g` of the output's size and `grad_input` of x's size, not
/// overlapping either input.
pub unsafe fn maxout_backward_raw<T: Real>(
    g: *const T,
    x: *const T,
    outer: usize,
    groups: usize,
    pieces: usize,
    inner: usize,
    grad_input: *mut T,
) {
    let (g, x, gi) = (
        SendPtr(g as *mut T),
        SendPtr(x as *mut T),
        SendPtr(grad_input),
    );
    let rows = outer * groups;
    let block = pieces * inner;
    for_ranges(rows, (GRAIN / block.max(1)).max(1), block, |r0, r1| {
        for r in r0..r1 {
            unsafe {
                let xs = x.get().add(r * block) as *const T;
                let dst = gi.get().add(r * block);
                std::ptr::write_bytes(dst, 0, block);
                for i in 0..inner {
                    let p = argmax(xs.add(i), pieces, inner);
                    *dst.add(p * inner + i) = *g.get().add(r * inner + i);
                }
            }
        }
    });
}

/// Safe form of [`maxout_raw`]: `x.len() == outer * groups * pieces * inner`, output length
/// `outer * groups * inner`.
pub fn maxout<T: Real>(x: &[T], groups: usize, pieces: usize, inner: usize, out: &mut [T]) {
    let outer = x.len() / (groups * pieces * inner).max(1);
    assert_eq!(
        x.len(),
        outer * groups * pieces * inner,
        "maxout: bad shape"
    );
    assert_eq!(
        out.len(),
        outer * groups * inner,
        "maxout: bad output length"
    );
    unsafe { maxout_raw(x.as_ptr(), outer, groups, pieces, inner, out.as_mut_ptr()) }
}

/// Safe form of [`maxout_backward_raw`].
pub fn maxout_backward<T: Real>(
    g: &[T],
    x: &[T],
    groups: usize,
    pieces: usize,
    inner: usize,
    grad_input: &mut [T],
) {
    let outer = x.len() / (groups * pieces * inner).max(1);
    assert_eq!(
        x.len(),
        outer * groups * pieces * inner,
        "maxout_backward: bad shape"
    );
    assert_eq!(
        g.len(),
        outer * groups * inner,
        "maxout_backward: bad grad_output length"
    );
    assert_eq!(
        grad_input.len(),
        x.len(),
        "maxout_backward: bad grad_input length"
    );
    unsafe {
        maxout_backward_raw(
            g.as_ptr(),
            x.as_ptr(),
            outer,
            groups,
            pieces,
            inner,
            grad_input.as_mut_ptr(),
        )
    }
}
