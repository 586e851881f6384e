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

/// True where `a` and `b` are the same value, or both NaN.
#[inline(always)]
fn same<V: Vector>(a: V, b: V) -> V::Mask {
    V::or(V::and(a.ge(b), a.le(b)), V::and(a.is_nan(), b.is_nan()))
}

/// `[x, m, found, g] -> g` at the first entry equal to the group's maximum `m` (not `found`
/// yet), else 0.
struct Route;
impl<T: Real> Kernel<T, 4> for Route {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x, m, found, g]: [V; 4]) -> V {
        let zero = V::splat(T::default());
        V::select(V::and(found.le(zero), same(x, m)), g, zero)
    }
}

/// `[x, m, found] -> 1` once the group's maximum has been met, else `found`.
struct Found;
impl<T: Real> Kernel<T, 3> for Found {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x, m, found]: [V; 3]) -> V {
        V::select(same(x, m), V::splat(T::from_f64(1.0)), found)
    }
}

/// Groups per block when a group's pieces are contiguous (`inner == 1`): the block is transposed
/// so that the kernels run across groups.
const BLOCK: usize = 64;

/// `dst[p * w + j] = src[(j * pieces + p)]` for `j < n`: piece `p` of `n` groups in a row.
#[inline(always)]
unsafe fn transpose_in<T: Real>(src: *const T, pieces: usize, n: usize, dst: *mut T, w: usize) {
    for j in 0..n {
        for p in 0..pieces {
            unsafe { *dst.add(p * w + j) = *src.add(j * pieces + p) };
        }
    }
}

/// The maximum of each of `n` groups (columns), piece `p` at `x(p)`, into `m`.
#[inline(always)]
unsafe fn max_rows<T: Real, V: Vector<Elem = T>>(
    x: impl Fn(usize) -> *const T,
    pieces: usize,
    n: usize,
    m: *mut T,
) {
    unsafe {
        std::ptr::copy_nonoverlapping(x(0), m, n);
        for p in 1..pieces {
            map_with::<T, V, _, 2>(&FirstMax, [m as *const T, x(p)], m, n);
        }
    }
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
    unsafe { run(x, None, outer * groups, pieces, inner, out) }
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
    unsafe { run(x, Some(g), outer * groups, pieces, inner, grad_input) }
}

/// Forward (`g` None) or backward over `rows` group rows, split across threads.
unsafe fn run<T: Real>(
    x: *const T,
    g: Option<*const T>,
    rows: usize,
    pieces: usize,
    inner: usize,
    out: *mut T,
) {
    let (x, out, g) = (
        SendPtr(x as *mut T),
        SendPtr(out),
        g.map(|g| SendPtr(g as *mut T)),
    );
    let grain = (GRAIN / (pieces * inner).max(1)).max(1);
    for_ranges(rows, grain, pieces * inner, |r0, r1| {
        dispatch(MaxoutJob {
            x,
            out,
            g,
            rows: (r0, r1),
            pieces,
            inner,
        })
    });
}

/// Forward (`g` is None: `out` gets the maxima) or backward (`out` is grad_input) over a range of
/// group rows.
struct MaxoutJob<T> {
    x: SendPtr<T>,
    out: SendPtr<T>,
    g: Option<SendPtr<T>>,
    rows: (usize, usize),
    pieces: usize,
    inner: usize,
}

impl<T: Real> Job<T> for MaxoutJob<T> {
    type Output = ();
    #[inline(always)]
    fn run<V: Vector<Elem = T>>(self) {
        let (k, inner, (r0, r1)) = (self.pieces, self.inner, self.rows);
        // Blocks of `w` groups (fewer than BLOCK when the range is short: a small call
        // allocates and clears small buffers).
        let w = BLOCK.min(r1 - r0);
        let cols = if inner == 1 { w } else { inner };
        // One scratch for m, found (backward), t and res (backward, inner == 1): on the stack
        // for a small call.
        let tl = if inner == 1 { k * w } else { 0 };
        let need = if self.g.is_some() { 2 * (cols + tl) } else { tl };
        let (mut small, mut big) = ([T::default(); 64], Vec::new());
        let scratch: &mut [T] = if need <= small.len() {
            &mut small[..need]
        } else {
            big.resize(need, T::default());
            &mut big
        };
        let (t, rest) = scratch.split_at_mut(tl);
        let (m, rest) = rest.split_at_mut(if self.g.is_some() { cols } else { 0 });
        let (found, res) = rest.split_at_mut(m.len());
        let mut r = r0;
        while r < r1 {
            unsafe {
                if inner == 1 {
                    // A block of groups, transposed: piece p of group j at t[p * w + j].
                    let n = w.min(r1 - r);
                    let x = self.x.get().add(r * k) as *const T;
                    transpose_in(x, k, n, t.as_mut_ptr(), w);
                    let tp = t.as_ptr();
                    match self.g {
                        None => max_rows::<T, V>(|p| tp.add(p * w), k, n, self.out.get().add(r)),
                        Some(g) => {
                            max_rows::<T, V>(|p| tp.add(p * w), k, n, m.as_mut_ptr());
                            found[..n].fill(T::default());
                            let g = g.get().add(r) as *const T;
                            for p in 0..k {
                                let (mp, fp) = (m.as_ptr(), found.as_mut_ptr());
                                let args = [tp.add(p * w), mp, fp as *const T, g];
                                map_with::<T, V, _, 4>(
                                    &Route,
                                    args,
                                    res.as_mut_ptr().add(p * w),
                                    n,
                                );
                                map_with::<T, V, _, 3>(
                                    &Found,
                                    [tp.add(p * w), mp, fp as *const T],
                                    fp,
                                    n,
                                );
                            }
                            let gi = self.out.get().add(r * k);
                            let rp = res.as_ptr();
                            for j in 0..n {
                                for p in 0..k {
                                    *gi.add(j * k + p) = *rp.add(p * w + j);
                                }
                            }
                        }
                    }
                    r += n;
                } else {
                    // One group row: piece p is the contiguous row x + p * inner.
                    let x = self.x.get().add(r * k * inner) as *const T;
                    match self.g {
                        None => max_rows::<T, V>(
                            |p| x.add(p * inner),
                            k,
                            inner,
                            self.out.get().add(r * inner),
                        ),
                        Some(g) => {
                            max_rows::<T, V>(|p| x.add(p * inner), k, inner, m.as_mut_ptr());
                            found.fill(T::default());
                            let g = g.get().add(r * inner) as *const T;
                            let gi = self.out.get().add(r * k * inner);
                            for p in 0..k {
                                let (mp, fp) = (m.as_ptr(), found.as_mut_ptr());
                                let xp = x.add(p * inner);
                                map_with::<T, V, _, 4>(
                                    &Route,
                                    [xp, mp, fp as *const T, g],
                                    gi.add(p * inner),
                                    inner,
                                );
                                map_with::<T, V, _, 3>(&Found, [xp, mp, fp as *const T], fp, inner);
                            }
                        }
                    }
                    r += 1;
                }
            }
        }
    }
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
