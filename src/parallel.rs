//! Splitting work into fixed-size ranges and running them on rayon's threads.
//!
//! Range boundaries depend only on the problem size, never on the thread count, so reductions
//! that combine per-range results in order are bit-identical for any number of threads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

/// Work (elements times the kernel's relative cost) below which a call runs on the calling
/// thread alone. Measured on the 2-core machine, float32 (ns/element, one thread / two):
/// relu at 2^18 elements 0.072 / 0.094, at 1e6 0.078 / 0.078; sigmoid (cost 4) at 2^16
/// 0.23 / 0.40, at 1e5 0.22 / 0.17 (but noisy), at 2^18 0.22 / 0.14. Waking rayon's sleeping
/// workers costs 5-15 us.
pub const MIN_PARALLEL: usize = 1 << 19;
/// Elements per task.
pub const GRAIN: usize = 1 << 14;

static SERIAL: AtomicBool = AtomicBool::new(false);

/// Runs every later call on the calling thread. Set in a child process after `fork()`, where
/// the parent's worker threads do not exist.
pub fn force_serial() {
    SERIAL.store(true, Ordering::Relaxed);
}

/// nonlin's own thread pool (not rayon's global one, which the embedding program may own).
static POOL: RwLock<Option<Arc<ThreadPool>>> = RwLock::new(None);

fn build_pool(threads: usize) -> Arc<ThreadPool> {
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("nonlin-{i}"))
        .build()
        .expect("nonlin: cannot start worker threads");
    Arc::new(pool)
}

/// The pool, created on first use with `NONLIN_NUM_THREADS` threads, or one per core.
fn pool() -> Arc<ThreadPool> {
    if let Some(p) = POOL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return p.clone();
    }
    let mut slot = POOL.write().unwrap_or_else(|e| e.into_inner());
    slot.get_or_insert_with(|| {
        let env = std::env::var("NONLIN_NUM_THREADS")
            .ok()
            .and_then(|v| v.trim().parse().ok());
        build_pool(
            env.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        )
    })
    .clone()
}

/// Uses `threads` threads for large calls from now on (1: always the calling thread).
pub fn set_num_threads(threads: usize) {
    *POOL.write().unwrap_or_else(|e| e.into_inner()) = Some(build_pool(threads));
}

/// Number of threads a large call uses.
pub fn num_threads() -> usize {
    if SERIAL.load(Ordering::Relaxed) {
        1
    } else {
        pool().current_num_threads()
    }
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
    let serial = || {
        (0..tasks)
            .map(|t| {
                let (a, b) = range(t);
                f(a, b)
            })
            .collect()
    };
    if tasks <= 1
        || n.saturating_mul(work_per_item) < MIN_PARALLEL
        || SERIAL.load(Ordering::Relaxed)
    {
        return serial();
    }
    let pool = pool();
    if pool.current_num_threads() == 1 {
        return serial();
    }
    pool.install(|| {
        (0..tasks)
            .into_par_iter()
            .map(|t| {
                let (a, b) = range(t);
                f(a, b)
            })
            .collect()
    })
}

/// Like [`map_ranges`] with no result.
pub fn for_ranges(
    n: usize,
    grain: usize,
    work_per_item: usize,
    f: impl Fn(usize, usize) + Sync + Send,
) {
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
