//! Splitting work into fixed-size ranges and running them on rayon's threads.
//!
//! Range boundaries depend only on the problem size, never on the thread count, so reductions
//! that combine per-range results in order are bit-identical for any number of threads.

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

/// Elements of work below which a call runs on the calling thread alone.
pub const MIN_PARALLEL: usize = 1 << 16;
/// Elements per task.
pub const GRAIN: usize = 1 << 14;

static SERIAL: AtomicBool = AtomicBool::new(false);

/// Runs every later call on the calling thread. Set in a child process after `fork()`, where
/// the parent's worker threads do not exist.
pub fn force_serial() {
    SERIAL.store(true, Ordering::Relaxed);
}

/// Number of threads a large call uses.
pub fn num_threads() -> usize {
    if SERIAL.load(Ordering::Relaxed) { 1 } else { rayon::current_num_threads() }
}

/// Splits `0..n` into consecutive ranges of `grain` items (the last may be shorter), calls `f`
/// on each and returns the results in range order. `work_per_item` scales `n` to elements, to
/// decide whether threads pay off.
pub fn map_ranges<R: Send>(
    n: usize,
    grain: usize,
    work_per_item: usize,
    f: impl Fn(usize, usize) -> R + Sync + Send,
) -> Vec<R> {
    let grain = grain.max(1);
    let tasks = n.div_ceil(grain);
    let range = |t: usize| (t * grain, ((t + 1) * grain).min(n));
    if tasks <= 1 || n.saturating_mul(work_per_item) < MIN_PARALLEL || num_threads() == 1 {
        (0..tasks).map(|t| { let (a, b) = range(t); f(a, b) }).collect()
    } else {
        (0..tasks).into_par_iter().map(|t| { let (a, b) = range(t); f(a, b) }).collect()
    }
}

/// Like [`map_ranges`] with no result.
pub fn for_ranges(n: usize, grain: usize, work_per_item: usize, f: impl Fn(usize, usize) + Sync + Send) {
    map_ranges(n, grain, work_per_item, f);
}

/// A raw pointer that may cross threads: every task touches a disjoint part of the memory.
#[derive(Clone, Copy)]
pub struct SendPtr<T>(pub *mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer (a method, so that closures capture the whole `SendPtr`).
    #[inline(always)]
    pub fn get(self) -> *mut T {
        self.0
    }
}
