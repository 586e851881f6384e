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

/// Contiguous groups (`inner == 1`), `n` of them, `k` entries each at `x + j k`: the forward
/// (`g` None) writes each group's maximum to `out[j]`; the backward writes `g[j]` at the group's
/// winner (the first NaN, else the first maximum, as [`FirstMax`] and [`Route`] pick it) and
/// zeros at the others. One pass of branch-free scalar code, with the common piece counts as
/// constants, which the compiler vectorizes across groups (interleaved loads and stores); the
/// vector kernels would need the groups transposed.
#[inline(always)]
unsafe fn contiguous_groups<T: Real>(
    x: *const T,
    k: usize,
    n: usize,
    g: Option<*const T>,
    out: *mut T,
) {
    unsafe {
        match (k, g) {
            (2, None) => groups::<T, 2, false>(x, 2, n, x, out),
            (3, None) => groups::<T, 3, false>(x, 3, n, x, out),
            (4, None) => groups::<T, 4, false>(x, 4, n, x, out),
            (_, None) => groups::<T, 0, false>(x, k, n, x, out),
            (2, Some(g)) => groups::<T, 2, true>(x, 2, n, g, out),
            (3, Some(g)) => groups::<T, 3, true>(x, 3, n, g, out),
            (4, Some(g)) => groups::<T, 4, true>(x, 4, n, g, out),
            (_, Some(g)) => groups::<T, 0, true>(x, k, n, g, out),
        }
    }
}

/// [`contiguous_groups`] for `K` pieces (`K == 0`: `k` pieces), backward if `B` (`g` is then
/// the gradient, `n` long, and `out` is `n k` long; else `out` is `n` long).
#[inline(always)]
#[allow(clippy::eq_op)] // v != v: v is NaN
unsafe fn groups<T: Real, const K: usize, const B: bool>(
    x: *const T,
    k: usize,
    n: usize,
    g: *const T,
    out: *mut T,
) {
    let k = if K == 0 { k } else { K };
    let x = unsafe { std::slice::from_raw_parts(x, n * k) };
    let g = unsafe { std::slice::from_raw_parts(g, if B { n } else { 0 }) };
    let out = unsafe { std::slice::from_raw_parts_mut(out, if B { n * k } else { n }) };
    for j in 0..n {
        let mut m = x[j * k];
        for p in 1..k {
            let v = x[j * k + p];
            m = if (m == m) & ((v > m) | (v != v)) {
                v
            } else {
                m
            };
        }
        if !B {
            out[j] = m;
            continue;
        }
        let mut found = false;
        for p in 0..k {
            let v = x[j * k + p];
            let hit = !found & ((v == m) | ((v != v) & (m != m)));
            out[j * k + p] = if hit { g[j] } else { T::default() };
            found |= hit;
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
        if inner == 1 {
            let x = unsafe { self.x.get().add(r0 * k) };
            let g = self.g.map(|g| unsafe { g.get().add(r0) as *const T });
            let out = unsafe { self.out.get().add(if g.is_some() { r0 * k } else { r0 }) };
            return unsafe { contiguous_groups(x, k, r1 - r0, g, out) };
        }
        // Scratch for the backward's m and found: on the stack for a small call.
        let need = if self.g.is_some() { 2 * inner } else { 0 };
        let (mut small, mut big) = ([T::default(); 64], Vec::new());
        let scratch: &mut [T] = if need <= small.len() {
            &mut small[..need]
        } else {
            big.resize(need, T::default());
            &mut big
        };
        let (m, found) = scratch.split_at_mut(need / 2);
        for r in r0..r1 {
            unsafe {
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
