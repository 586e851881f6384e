//! Splitting work into fixed-size ranges and running them on nonlin's threads.
//!
//! Range boundaries depend only on the problem size, never on the thread count, so reductions
//! that combine per-range results in order are bit-identical for any number of threads.
//!
//! The pool is small and ours (it replaced rayon): the calling thread takes tasks too, and the
//! `threads - 1` workers spin for a while after a call before they sleep, so back-to-back calls
//! (a training loop) do not pay a thread wake-up each (measured with rayon: 5-15 us per call,
//! which made two threads slower than one below about 2e5 elements). One call at a time uses
//! the workers; a call that finds them busy (from another Python thread) runs serially.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Work (elements times the kernel's relative cost, float64 elements counting twice) below
/// which a call runs on the calling thread alone: about 2 us of work, where a second thread
/// starts to pay. Measured on the 2-core machine, microseconds on one thread / two (tasks of
/// `GRAIN / cost` elements): relu float32 at 8000 elements 1.4 / 1.3, 16000 2.3 / 2.3, 32000
/// 3.8 / 3.2; sigmoid float32 (cost 12) at 2000 3.0 / 3.0 (one task), 4000 5.7 / 3.6; gelu
/// float32 (24) at 1000 4.0 / 4.0 (one task), 2000 7.4 / 4.3; gelu float64 (48) at 500 8.3 /
/// 8.3 (one task), 1000 15.9 / 8.5; silu_backward float64 (48) at 1000 8.1 / 4.8.
pub const MIN_PARALLEL: usize = 1 << 14;
/// Work per task: elementwise calls split into pieces of `GRAIN / cost` elements (at least 256),
/// the reductions into ranges of about `GRAIN` elements (a call on fewer runs on the calling
/// thread).
pub const GRAIN: usize = 1 << 13;
/// How long an idle worker spins before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

/// Most tasks of one [`Pool::run`] (16 bits of the state word).
const MAX_TASKS: usize = 0xffff;

static SERIAL: AtomicBool = AtomicBool::new(false);

/// Runs every later call on the calling thread. Set in a child process after `fork()`, where
/// the parent's worker threads do not exist; the parent's pool is forgotten there, never
/// dropped (dropping it would join those threads). [`set_num_threads`] starts a new one.
pub fn force_serial() {
    SERIAL.store(true, Relaxed);
    // (A lock held by another thread at the fork stays held in the child: leave the pool then.)
    if let Ok(mut slot) = POOL.try_write() {
        std::mem::forget(slot.take());
    }
}

/// A type-erased `&dyn Fn(usize)`: the task body of the current call.
struct JobRef {
    data: *const (),
    call: unsafe fn(*const (), usize),
}

struct Shared {
    /// `epoch << 32 | tasks << 16 | next task`: a worker claims task `next` of the current call
    /// by a compare-exchange of the whole word, so that a stale worker cannot claim a task of a
    /// later call. (The task count is in the word too: read on its own, a later call's larger
    /// count let a worker that had read the finished call's word claim one more task of it, a
    /// task then run twice, and the caller could return while one still ran.)
    state: AtomicU64,
    job: AtomicPtr<JobRef>,
    /// Tasks of the current call not finished yet.
    pending: AtomicUsize,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    shutdown: AtomicBool,
}

impl Shared {
    /// Claims and runs tasks of `epoch` until none is left.
    fn work(&self, epoch: u64) {
        loop {
            let s = self.state.load(Acquire);
            let (t, tasks) = (s & 0xffff, (s >> 16) & 0xffff);
            // Tests widen the window between reading the word and claiming from it (with the
            // task count read apart, the test below hung).
            #[cfg(test)]
            std::thread::yield_now();
            if s >> 32 != epoch || t >= tasks {
                return;
            }
            if self
                .state
                .compare_exchange_weak(s, s + 1, AcqRel, Relaxed)
                .is_err()
            {
                continue;
            }
            // The caller waits for `pending` to reach 0, so the job outlives this use.
            let job = unsafe { &*self.job.load(Acquire) };
            let t = t as usize;
            if let Err(e) = catch_unwind(AssertUnwindSafe(|| unsafe { (job.call)(job.data, t) })) {
                *self.panic.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            }
            self.pending.fetch_sub(1, Release);
        }
    }

    fn worker(&self) {
        let mut seen = self.state.load(Acquire) >> 32;
        loop {
            let start = Instant::now();
            let mut epoch = self.state.load(Acquire) >> 32;
            while epoch == seen && start.elapsed() < SPIN && !self.shutdown.load(Relaxed) {
                std::hint::spin_loop();
                epoch = self.state.load(Acquire) >> 32;
            }
            if epoch == seen {
                self.sleepers.fetch_add(1, SeqCst);
                let mut g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
                while self.state.load(SeqCst) >> 32 == seen && !self.shutdown.load(SeqCst) {
                    g = self.wake.wait(g).unwrap_or_else(|p| p.into_inner());
                }
                drop(g);
                self.sleepers.fetch_sub(1, SeqCst);
                epoch = self.state.load(Acquire) >> 32;
            }
            if self.shutdown.load(Acquire) {
                return;
            }
            seen = epoch;
            self.work(epoch);
        }
    }
}

struct Pool {
    shared: Arc<Shared>,
    threads: usize,
    workers: Vec<JoinHandle<()>>,
    /// Held by the call that uses the workers.
    busy: Mutex<()>,
}

impl Pool {
    /// A pool of `threads` threads (the caller and `threads - 1` workers); an error if a worker
    /// cannot be started (the ones started stop again when the pool is dropped).
    fn new(threads: usize) -> std::io::Result<Pool> {
        let shared = Arc::new(Shared {
            state: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            pending: AtomicUsize::new(0),
            panic: Mutex::new(None),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
        });
        let mut pool = Pool {
            shared,
            threads: threads.max(1),
            workers: Vec::new(),
            busy: Mutex::new(()),
        };
        for i in 1..pool.threads {
            let s = pool.shared.clone();
            let w = std::thread::Builder::new()
                .name(format!("nonlin-{i}"))
                .spawn(move || s.worker())?;
            pool.workers.push(w);
        }
        Ok(pool)
    }

    /// Runs `f(t)` for every `t < tasks` (at most [`MAX_TASKS`]) on the caller and the workers;
    /// returns when all are done.
    fn run(&self, tasks: usize, f: &(dyn Fn(usize) + Sync)) {
        unsafe fn call(data: *const (), t: usize) {
            let f = unsafe { &*(data as *const &(dyn Fn(usize) + Sync)) };
            f(t)
        }
        let sh = &*self.shared;
        let job = JobRef {
            data: &f as *const &(dyn Fn(usize) + Sync) as *const (),
            call,
        };
        assert!(tasks <= MAX_TASKS);
        sh.job.store(&job as *const JobRef as *mut JobRef, Relaxed);
        sh.pending.store(tasks, Relaxed);
        let epoch = (sh.state.load(Relaxed) >> 32) + 1;
        sh.state.store(epoch << 32 | (tasks as u64) << 16, SeqCst);
        if sh.sleepers.load(SeqCst) > 0 {
            let _g = sh.lock.lock().unwrap_or_else(|p| p.into_inner());
            sh.wake.notify_all();
        }
        sh.work(epoch);
        while sh.pending.load(Acquire) != 0 {
            std::hint::spin_loop();
        }
        if let Some(e) = sh.panic.lock().unwrap_or_else(|p| p.into_inner()).take() {
            resume_unwind(e);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, SeqCst);
        {
            let _g = self.shared.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

static POOL: RwLock<Option<Arc<Pool>>> = RwLock::new(None);
/// Why the threads `NONLIN_NUM_THREADS` asks for did not start.
static START_ERROR: Mutex<Option<String>> = Mutex::new(None);

/// The pool, created on first use with `NONLIN_NUM_THREADS` threads, or one per core (also when
/// those cannot start: see [`start_error`]).
fn pool() -> Arc<Pool> {
    if let Some(p) = POOL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return p.clone();
    }
    let mut slot = POOL.write().unwrap_or_else(|e| e.into_inner());
    slot.get_or_insert_with(|| {
        let asked = crate::env::num_threads().and_then(|n| {
            Pool::new(n)
                .inspect_err(|e| {
                    *START_ERROR.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string())
                })
                .ok()
        });
        let cores = || std::thread::available_parallelism().map_or(1, |n| n.get());
        // One thread (no workers) cannot fail to start.
        Arc::new(
            asked.unwrap_or_else(|| Pool::new(cores()).unwrap_or_else(|_| Pool::new(1).unwrap())),
        )
    })
    .clone()
}

/// Starts the pool; the error that kept the threads `NONLIN_NUM_THREADS` asks for from starting,
/// if it did.
pub fn start_error() -> Option<String> {
    pool();
    START_ERROR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// Uses `threads` threads for large calls from now on (1: always the calling thread); if they
/// cannot be started, an error, and the threads in use stay.
pub fn set_num_threads(threads: usize) -> std::io::Result<()> {
    let new = Arc::new(Pool::new(threads)?);
    let old = POOL.write().unwrap_or_else(|e| e.into_inner()).replace(new);
    drop(old); // its workers stop once no call uses it
    SERIAL.store(false, Relaxed); // (in a forked child, the new pool's threads exist)
    Ok(())
}

/// Number of threads a large call uses.
pub fn num_threads() -> usize {
    if SERIAL.load(Relaxed) {
        1
    } else {
        pool().threads
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
    if tasks <= 1 || n.saturating_mul(work_per_item) < MIN_PARALLEL || SERIAL.load(Relaxed) {
        return serial();
    }
    let pool = pool();
    let Ok(_busy) = (if pool.threads > 1 {
        pool.busy.try_lock()
    } else {
        return serial();
    }) else {
        return serial(); // another thread's call has the workers
    };
    let mut results: Vec<Option<R>> = (0..tasks).map(|_| None).collect();
    let slots = SendPtr(results.as_mut_ptr());
    // Claim ranges in batches (about four per thread), so that the threads touch the shared
    // counter a few times per call, not once per range. Each range is still computed on its
    // own, so results do not depend on the batching.
    let per = tasks.div_ceil((4 * pool.threads).min(MAX_TASKS));
    pool.run(tasks.div_ceil(per), &|b| {
        for t in b * per..((b + 1) * per).min(tasks) {
            let (a, z) = range(t);
            // Each range writes its own slot.
            unsafe { *slots.get().add(t) = Some(f(a, z)) };
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every task ran"))
        .collect()
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
pub struct SendPtr<T>(pub *mut T);
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer (a method, so that closures capture the whole `SendPtr`).
    #[inline(always)]
    pub fn get(self) -> *mut T {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_come_back_in_order_for_any_pool() {
        for threads in [1, 2, 3, 4] {
            let pool = Pool::new(threads).unwrap();
            for tasks in [1, 2, 7, 100] {
                for _ in 0..50 {
                    let hits: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
                    pool.run(tasks, &|t| {
                        hits[t].fetch_add(1, Relaxed);
                    });
                    assert!(
                        hits.iter().all(|h| h.load(Relaxed) == 1),
                        "{threads} threads, {tasks} tasks"
                    );
                }
            }
        }
        let n = 1_000_003;
        let parts = map_ranges(n, GRAIN, 1, |a, b| (a, b));
        assert_eq!(parts.len(), n.div_ceil(GRAIN));
        assert!(parts.windows(2).all(|w| w[0].1 == w[1].0));
        assert_eq!((parts[0].0, parts.last().unwrap().1), (0, n));
    }

    #[test]
    fn every_task_runs_once_when_calls_of_different_sizes_follow_each_other() {
        let pool = Pool::new(2).unwrap();
        for i in 0..20000 {
            let tasks = [1, 5, 2, 9, 3][i % 5];
            let hits: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
            pool.run(tasks, &|t| {
                hits[t].fetch_add(1, Relaxed);
            });
            let got: Vec<usize> = hits.iter().map(|h| h.load(Relaxed)).collect();
            assert!(got.iter().all(|&h| h == 1), "call {i}: {got:?}");
        }
    }

    #[test]
    fn a_panicking_task_reaches_the_caller_and_the_pool_still_works() {
        let pool = Pool::new(2).unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.run(8, &|t| assert!(t != 5, "task 5"))
        }));
        assert!(r.is_err());
        let count = AtomicUsize::new(0);
        pool.run(8, &|_| {
            count.fetch_add(1, Relaxed);
        });
        assert_eq!(count.load(Relaxed), 8);
    }
}
