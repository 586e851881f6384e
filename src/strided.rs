//! Elementwise kernels over strided N-d arrays (any strides, negative ones included).
//!
//! The axes are put in the output's memory order and merged where every operand is contiguous
//! across them. What remains is a set of rows: contiguous rows run the kernel in place; strided
//! rows are gathered into a small buffer, run through the same kernel and scattered, so results
//! are bit-identical to the contiguous case. Rows shorter than two vectors are gathered several
//! to a buffer.

use crate::parallel::{GRAIN, SendPtr, for_ranges};
use crate::simd::{Job, Kernel, Mem, Real, Vector, dispatch, map_bcast};
use std::mem::MaybeUninit;

/// Elements gathered per block on the strided path.
const BLOCK: usize = 256;

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
    // Work items are pieces of rows, of about GRAIN work each (float64 elements cost twice
    // float32's), so that one long row (the contiguous case) is split across threads too, and
    // a short call to a costly kernel as well.
    let cost = K::COST * size_of::<T>() / 4;
    let most = (GRAIN / cost).max(256);
    let pieces = inner.div_ceil(most).max(1);
    let piece = inner.div_ceil(pieces);
    let grain = (most / piece).max(1);
    let in_place = ins.iter().any(|v| std::ptr::eq(v.ptr, out_ptr));
    let mem = Mem::for_output(rows * inner * size_of::<T>(), K::COST == 1 && !in_place);
    for_ranges(rows * pieces, grain, piece * cost, |r0, r1| {
        dispatch(RowsJob {
            k,
            lens,
            strides,
            ins: ptrs,
            out,
            items: (r0, r1),
            pieces,
            piece,
            mem,
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
    /// How contiguous rows meet memory.
    mem: Mem,
}

/// Offsets (in elements) of the first element of one row after another, counted without a
/// division per row.
struct RowWalk<'a, const N: usize> {
    lens: &'a [usize],
    strides: &'a [([isize; N], isize)],
    /// Index along each outer axis (the last axis, the row itself, excluded).
    idx: Vec<usize>,
    ins: [isize; N],
    out: isize,
}

impl<'a, const N: usize> RowWalk<'a, N> {
    fn new(lens: &'a [usize], strides: &'a [([isize; N], isize)], mut row: usize) -> Self {
        let d = lens.len() - 1;
        let mut w = RowWalk {
            lens,
            strides,
            idx: vec![0; d],
            ins: [0; N],
            out: 0,
        };
        for a in (0..d).rev() {
            let i = row % lens[a];
            row /= lens[a];
            w.idx[a] = i;
            for (off, st) in w.ins.iter_mut().zip(&strides[a].0) {
                *off += i as isize * st;
            }
            w.out += i as isize * strides[a].1;
        }
        w
    }

    /// Moves `rows` rows on; the rows skipped stay within one run of the last outer axis.
    fn skip(&mut self, rows: usize) {
        if let Some(a) = self.idx.len().checked_sub(1) {
            let ((s, o), k) = (&self.strides[a], rows as isize - 1);
            self.idx[a] += rows - 1;
            for (off, st) in self.ins.iter_mut().zip(s) {
                *off += k * st;
            }
            self.out += k * o;
        }
        self.next();
    }

    fn next(&mut self) {
        for a in (0..self.idx.len()).rev() {
            let (s, o) = &self.strides[a];
            self.idx[a] += 1;
            let back = if self.idx[a] == self.lens[a] {
                1 - self.lens[a] as isize
            } else {
                1
            };
            for (off, st) in self.ins.iter_mut().zip(s) {
                *off += back * st;
            }
            self.out += back * o;
            if back == 1 {
                return;
            }
            self.idx[a] = 0;
        }
    }
}

/// `rows` rows of `len` elements from `src` to `dst`, each pointer with its (row, element)
/// strides (by columns where the rows are short, so that the inner loop is the long one).
///
/// # Safety
/// Both addresses are valid at every index, and the two do not overlap.
#[inline(never)]
unsafe fn copy_rows<T: Copy>(
    src: *const T,
    [src_row, src_step]: [isize; 2],
    dst: *mut T,
    [dst_row, dst_step]: [isize; 2],
    rows: usize,
    len: usize,
) {
    // The longer loop inside.
    let (outer, inner) = if rows > len { (len, rows) } else { (rows, len) };
    let [(so, si), (do_, di)] = match rows > len {
        true => [(src_step, src_row), (dst_step, dst_row)],
        false => [(src_row, src_step), (dst_row, dst_step)],
    };
    for i in 0..outer as isize {
        let (s, d) = unsafe { (src.offset(i * so), dst.offset(i * do_)) };
        for r in 0..inner as isize {
            unsafe { *d.offset(r * di) = *s.offset(r * si) };
        }
    }
}

impl<T: Real, K: Kernel<T, N>, const N: usize> Job<T> for RowsJob<'_, K, T, N> {
    type Output = ();
    #[inline(always)]
    fn run<V: Vector<Elem = T>>(self) {
        let d = self.lens.len() - 1;
        let inner = self.lens[d];
        let (in_step, out_step) = (&self.strides[d].0, self.strides[d].1);
        // Rows where every input is contiguous or constant (stride 0, a broadcast weight).
        let contiguous_rows = out_step == 1 && in_step.iter().all(|&s| s == 1 || s == 0);
        // Short rows (one piece each) are gathered whole into the buffers, up to `per` rows a
        // block, and their results scattered back. Below two vectors a row, that beats a
        // partial vector and a call of the kernel per row (float32 rows of 2 took 5 ns an
        // element, 0.5 packed); above, the copies cost more than they save. A 1-d call is one
        // row: nothing to gather it with (one element: 12-25 ns of a call of 220-450 ns).
        let short = inner < 2 * V::LANES && !(d == 0 && contiguous_rows);
        let per = BLOCK / inner;
        let contiguous = !short && contiguous_rows;
        let bcast: [bool; N] = std::array::from_fn(|j| !short && in_step[j] == 0);
        let mut bufs = [[MaybeUninit::<T>::uninit(); BLOCK]; N];
        let mut res = [MaybeUninit::<T>::uninit(); BLOCK];
        let (mut item, last) = self.items;
        let mut walk = RowWalk::new(self.lens, self.strides, item / self.pieces);
        // Which piece of its row the current item is, and how many of its elements are done.
        let (mut piece, mut done) = (item % self.pieces, 0);
        // A contiguous row is one segment, run in place. A strided row goes in blocks: operands
        // with unit stride are read in place, constant ones (stride 0) broadcast, the others
        // gathered, and a strided output is written to `res` and scattered. Every segment goes
        // through the one call of `map_bcast` below, so that the kernel is compiled into this
        // loop only once.
        while item < last {
            let start = piece * self.piece;
            let len = self.piece.min(inner - start);
            let (seg, mem, scatter, o);
            let (mut rows, mut row_out) = (1, [0, 0]);
            let bp: [*const T; N];
            if short {
                // Rows along the next axis out, up to the end of its run: one row stride each.
                let (run, (stride_in, stride_out)) = match d {
                    0 => (1, ([0; N], 0)),
                    _ => (self.lens[d - 1] - walk.idx[d - 1], self.strides[d - 1]),
                };
                rows = per.min(last - item).min(run);
                for j in 0..N {
                    let src = unsafe { self.ins[j].0.offset(walk.ins[j]) };
                    let buf = bufs[j].as_mut_ptr() as *mut T;
                    unsafe {
                        copy_rows(
                            src,
                            [stride_in[j], in_step[j]],
                            buf,
                            [inner as isize, 1],
                            rows,
                            inner,
                        )
                    };
                }
                (seg, mem, scatter, o) = (rows * inner, Mem::Cached, true, self.out.0);
                row_out = [stride_out, out_step];
                bp = std::array::from_fn(|j| bufs[j].as_ptr() as *const T);
            } else {
                let at = (start + done) as isize;
                o = unsafe { self.out.0.offset(walk.out + at * out_step) };
                (seg, mem) = match contiguous {
                    true => (len - done, self.mem),
                    false => (BLOCK.min(len - done), Mem::Cached),
                };
                bp = std::array::from_fn(|j| unsafe {
                    let src = self.ins[j].0.offset(walk.ins[j] + at * in_step[j]) as *const T;
                    if matches!(in_step[j], 0 | 1) {
                        return src;
                    }
                    let buf = bufs[j].as_mut_ptr() as *mut T;
                    copy_rows(src, [0, in_step[j]], buf, [0, 1], 1, seg);
                    buf as *const T
                });
                scatter = !contiguous && out_step != 1;
            }
            let w = if scatter {
                res.as_mut_ptr() as *mut T
            } else {
                o
            };
            unsafe { map_bcast::<T, V, K, N>(self.k, bp, bcast, w, seg, mem) };
            if short {
                let dst = unsafe { o.offset(walk.out) };
                unsafe { copy_rows(w, [inner as isize, 1], dst, row_out, rows, inner) };
                walk.skip(rows);
                item += rows;
                continue;
            }
            if scatter {
                unsafe { copy_rows(w, [0, 1], o, [0, out_step], 1, seg) };
            }
            done += seg;
            if done == len {
                (done, item, piece) = (0, item + 1, piece + 1);
                if piece == self.pieces {
                    piece = 0;
                    walk.next();
                }
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
