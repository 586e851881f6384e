//! Elementwise kernels over strided N-d arrays (any strides, negative ones included).
//!
//! The axes are put in the output's memory order and merged where every operand is contiguous
//! across them. What remains is a set of rows: contiguous rows run the kernel in place; strided
//! rows are gathered into a small buffer, run through the same kernel and scattered, so results
//! are bit-identical to the contiguous case.

use crate::parallel::{GRAIN, SendPtr, for_ranges};
use crate::simd::{Job, Kernel, Real, Vector, dispatch, map_bcast};
use std::mem::MaybeUninit;

/// Elements gathered per block on the strided path.
const BLOCK: usize = 256;

/// Outputs of at least this many bytes are written by streaming (non-temporal) stores where
/// they are contiguous: they do not stay in the caches anyway, and a cached store first reads
/// the line it writes, a third stream of memory traffic beside the input and the output. Not
/// in place, where the lines are in the cache already (read as the input).
pub const STREAM_MIN_BYTES: usize = 24 << 20;

/// Pointer and strides (in elements) of one operand.
#[derive(Clone, Copy)]
pub struct View<'a, T> {
    pub ptr: *const T,
    pub strides: &'a [isize],
}

/// `out[i] = k(ins[0][i], ..)` over every index of `shape`.
///
/// # Safety
/// Each view addresses valid memory at every index of `shape`. The output view must not map two
/// indices to one element, and must not overlap an input except by being exactly equal to it.
pub unsafe fn elementwise<T: Real, K: Kernel<T, N>, const N: usize>(
    k: &K,
    shape: &[usize],
    ins: [View<'_, T>; N],
    out_ptr: *mut T,
    out_strides: &[isize],
) {
    if shape.contains(&0) {
        return;
    }
    // Every operand C-contiguous (the common case): one row, and no plan to build.
    let flat = ([shape.iter().product::<usize>()], [([1; N], 1)]);
    let planned;
    let (lens, strides): (&[usize], &[([isize; N], isize)]) =
        if ins.iter().all(|v| c_contiguous(shape, v.strides)) && c_contiguous(shape, out_strides) {
            (&flat.0, &flat.1)
        } else {
            planned = plan(shape, ins.map(|v| v.strides), out_strides);
            (&planned.0, &planned.1)
        };
    let inner = *lens.last().unwrap();
    let rows: usize = lens[..lens.len() - 1].iter().product();
    let ptrs: [SendPtr<T>; N] = ins.map(|v| SendPtr(v.ptr as *mut T));
    let out = SendPtr(out_ptr);
    // Work items are pieces of rows, at most GRAIN elements each, so that one long row (the
    // contiguous case) is split across threads too.
    let pieces = inner.div_ceil(GRAIN).max(1);
    let piece = inner.div_ceil(pieces);
    let grain = (GRAIN / piece).max(1);
    let stream = rows * inner * size_of::<T>() >= STREAM_MIN_BYTES
        && !ins.iter().any(|v| std::ptr::eq(v.ptr, out_ptr));
    for_ranges(rows * pieces, grain, piece * K::COST, |r0, r1| {
        dispatch(RowsJob {
            k,
            lens,
            strides,
            ins: ptrs,
            out,
            items: (r0, r1),
            pieces,
            piece,
            stream,
        });
    });
}

/// Whether `strides` (in elements) lay `shape` out in C order with no gaps.
fn c_contiguous(shape: &[usize], strides: &[isize]) -> bool {
    let mut expect = 1;
    for (&n, &s) in shape.iter().zip(strides).rev() {
        if n != 1 && s != expect {
            return false;
        }
        expect *= n as isize;
    }
    true
}

/// Axes in the output's memory order (largest stride outermost), size-1 axes dropped and
/// neighbours merged where every operand is contiguous across them. Returns each axis's length
/// and its (input strides, output stride).
fn plan<const N: usize>(
    shape: &[usize],
    in_strides: [&[isize]; N],
    out_strides: &[isize],
) -> (Vec<usize>, Vec<([isize; N], isize)>) {
    let ndim = shape.len();
    let mut axes: Vec<usize> = (0..ndim).filter(|&a| shape[a] != 1).collect();
    axes.sort_by_key(|&a| std::cmp::Reverse(out_strides[a].unsigned_abs()));
    let mut lens: Vec<usize> = Vec::new();
    let mut strides: Vec<([isize; N], isize)> = Vec::new();
    for a in axes {
        let len = shape[a];
        let s: [isize; N] = in_strides.map(|st| st[a]);
        let o = out_strides[a];
        if let (Some(l), Some((ps, po))) = (lens.last_mut(), strides.last_mut())
            && *po == o * len as isize
            && ps.iter().zip(&s).all(|(p, q)| *p == q * len as isize)
        {
            *l *= len;
            *ps = s;
            *po = o;
            continue;
        }
        lens.push(len);
        strides.push((s, o));
    }
    if lens.is_empty() {
        lens.push(1);
        strides.push(([1; N], 1));
    }
    (lens, strides)
}

struct RowsJob<'a, K, T, const N: usize> {
    k: &'a K,
    lens: &'a [usize],
    strides: &'a [([isize; N], isize)],
    ins: [SendPtr<T>; N],
    out: SendPtr<T>,
    /// Range of work items; item `i` is piece `i % pieces` (of `piece` elements) of row
    /// `i / pieces`.
    items: (usize, usize),
    pieces: usize,
    piece: usize,
    /// Write contiguous rows by streaming stores.
    stream: bool,
}

impl<T: Real, K: Kernel<T, N>, const N: usize> Job<T> for RowsJob<'_, K, T, N> {
    type Output = ();
    #[inline(always)]
    fn run<V: Vector<Elem = T>>(self) {
        let d = self.lens.len() - 1;
        let inner = self.lens[d];
        let (in_step, out_step) = (&self.strides[d].0, self.strides[d].1);
        // Rows where every input is contiguous or constant (stride 0, a broadcast weight).
        let contiguous = out_step == 1 && in_step.iter().all(|&s| s == 1 || s == 0);
        let bcast: [bool; N] = std::array::from_fn(|j| in_step[j] == 0);
        let mut bufs = [[MaybeUninit::<T>::uninit(); BLOCK]; N];
        let mut res = [MaybeUninit::<T>::uninit(); BLOCK];
        for item in self.items.0..self.items.1 {
            let (row, start) = (item / self.pieces, (item % self.pieces) * self.piece);
            let len = self.piece.min(inner - start);
            // Offsets of the piece's first element.
            let mut rem = row;
            let mut in_off: [isize; N] = std::array::from_fn(|j| start as isize * in_step[j]);
            let mut out_off = start as isize * out_step;
            for a in (0..d).rev() {
                let i = (rem % self.lens[a]) as isize;
                rem /= self.lens[a];
                for (off, st) in in_off.iter_mut().zip(&self.strides[a].0) {
                    *off += i * st;
                }
                out_off += i * self.strides[a].1;
            }
            let srcs: [*const T; N] =
                std::array::from_fn(|j| unsafe { self.ins[j].0.offset(in_off[j]) } as *const T);
            let dst = unsafe { self.out.0.offset(out_off) };
            // A contiguous row is one segment, run in place. A strided row goes in blocks:
            // operands with unit stride are read in place, constant ones (stride 0) broadcast,
            // the others gathered, and a strided output is written to `res` and scattered. Every
            // segment goes through the one call of `map_bcast` below, so that the kernel is
            // compiled into this loop only once.
            let mut done = 0;
            while done < len {
                let o = unsafe { dst.offset(done as isize * out_step) };
                // Streaming stores start at the first element aligned to the vector: the ones
                // before it are a segment of their own.
                let head = match self.stream && contiguous {
                    true => (o as usize).wrapping_neg() % size_of::<V>() / size_of::<T>(),
                    false => 0,
                };
                let seg = if !contiguous {
                    BLOCK.min(len - done)
                } else if head > 0 {
                    head.min(len - done)
                } else {
                    len - done
                };
                let stream = self.stream && contiguous && head == 0;
                let bp: [*const T; N] = std::array::from_fn(|j| unsafe {
                    let src = srcs[j].offset(done as isize * in_step[j]);
                    if matches!(in_step[j], 0 | 1) {
                        return src;
                    }
                    let buf = bufs[j].as_mut_ptr() as *mut T;
                    for i in 0..seg {
                        *buf.add(i) = *src.offset(i as isize * in_step[j]);
                    }
                    buf as *const T
                });
                let scatter = !contiguous && out_step != 1;
                let w = if scatter {
                    res.as_mut_ptr() as *mut T
                } else {
                    o
                };
                unsafe { map_bcast::<T, V, K, N>(self.k, bp, bcast, w, seg, stream) };
                if scatter {
                    for i in 0..seg {
                        unsafe { *o.offset(i as isize * out_step) = *w.add(i) };
                    }
                }
                done += seg;
            }
        }
    }
}

/// Offsets (in elements) of the lowest and highest element a view can touch.
pub fn extent(shape: &[usize], strides: &[isize]) -> (isize, isize) {
    let (mut lo, mut hi) = (0isize, 0isize);
    for (&n, &s) in shape.iter().zip(strides) {
        if n == 0 {
            return (0, -1);
        }
        let far = (n as isize - 1) * s;
        if far < 0 { lo += far } else { hi += far }
    }
    (lo, hi)
}
