//! SIMD abstraction and dispatch.
//!
//! Kernels are written once, generic over [`Vector`]: a bundle of `LANES` floats of one element
//! type ([`Real`]: `f32` or `f64`). A scalar `f32`/`f64` is itself a one-lane `Vector`, which is
//! the portable fallback. Wider instruction sets add more `Vector` types; [`Real`] names the
//! vector type of each level, and [`map`] picks the level once per call, never per element.
//!
//! A kernel is a [`Kernel`]: `N` input vectors in, one vector out, lane by lane. Tails are run
//! through the same vector code, with zeros in the lanes past the end (masked loads), so every
//! element's result is independent of where it sits in the array (the basis of bit-identical
//! results for any strides or threads).

use std::fmt::Debug;
use std::mem::MaybeUninit;
use std::ops::{Add, Div, Mul, Neg, Sub};
use std::sync::atomic::{AtomicU8, Ordering};

#[cfg(target_arch = "aarch64")]
pub mod neon;
#[cfg(target_arch = "x86_64")]
pub mod x86;

/// Element types the kernels are written for: `f32` and `f64`.
pub trait Real:
    Copy
    + Send
    + Sync
    + Debug
    + PartialOrd
    + Default
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + crate::math::MathConsts
    + 'static
{
    /// Short name, as NumPy spells the dtype.
    const NAME: &'static str;
    /// Bits in the significand, including the implicit one (24 or 53).
    const MANTISSA_DIGITS: u32;
    /// The portable one-lane vector: the type itself.
    type Scalar: Vector<Elem = Self>;
    #[cfg(target_arch = "x86_64")]
    type Avx2: Vector<Elem = Self>;
    #[cfg(target_arch = "x86_64")]
    type Avx512: Vector<Elem = Self>;
    #[cfg(target_arch = "aarch64")]
    type Neon: Vector<Elem = Self>;
    /// Converts a constant written in f64 (rounded to nearest).
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn is_nan(self) -> bool;
}

macro_rules! real {
    ($t:ident, $name:expr, $avx2:ident, $avx512:ident, $neon:ident) => {
        impl Real for $t {
            type Scalar = $t;
            #[cfg(target_arch = "x86_64")]
            type Avx2 = x86::$avx2;
            #[cfg(target_arch = "x86_64")]
            type Avx512 = x86::$avx512;
            #[cfg(target_arch = "aarch64")]
            type Neon = neon::$neon;
            const NAME: &'static str = $name;
            const MANTISSA_DIGITS: u32 = $t::MANTISSA_DIGITS;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                self.is_nan()
            }
        }
    };
}
real!(f32, "float32", Avx2F32, Avx512F32, NeonF32);
real!(f64, "float64", Avx2F64, Avx512F64, NeonF64);

/// `LANES` values of one [`Real`] type, with the few operations the kernels need.
///
/// Comparisons are IEEE ordered comparisons (false when either side is NaN).
pub trait Vector:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    type Elem: Real;
    type Mask: Copy;
    const LANES: usize;

    fn splat(v: Self::Elem) -> Self;
    /// Loads `LANES` elements.
    ///
    /// # Safety
    /// `ptr` is valid for `LANES` reads (no alignment needed).
    unsafe fn load(ptr: *const Self::Elem) -> Self;
    /// Stores `LANES` elements.
    ///
    /// # Safety
    /// `ptr` is valid for `LANES` writes.
    unsafe fn store(self, ptr: *mut Self::Elem);
    /// [`Vector::store`] without reading the cache lines first (x86's non-temporal stores), for
    /// outputs larger than the caches; the default is `store`. Follow the last one with
    /// [`Vector::fence`].
    ///
    /// # Safety
    /// `ptr` is valid for `LANES` writes and aligned to the vector's size.
    #[inline(always)]
    unsafe fn store_stream(self, ptr: *mut Self::Elem) {
        unsafe { self.store(ptr) }
    }
    /// Orders earlier [`Vector::store_stream`]s before later stores (x86: `sfence`).
    #[inline(always)]
    fn fence() {}
    /// Asks for the cache line at `ptr` to be loaded (x86's `prefetcht0`); the default does
    /// nothing. Never faults, whatever `ptr` is.
    #[inline(always)]
    fn prefetch(_ptr: *const Self::Elem) {}
    /// Loads the first `n < LANES` elements at `ptr` into the first lanes, `pad` into the others
    /// (the tail of an array). x86 levels use masked loads; the default goes through a buffer.
    ///
    /// # Safety
    /// `ptr` is valid for `n` reads.
    #[inline(always)]
    unsafe fn load_partial(ptr: *const Self::Elem, n: usize, pad: Self::Elem) -> Self {
        let mut buf = [MaybeUninit::<Self::Elem>::uninit(); 64];
        for (j, b) in buf[..Self::LANES].iter_mut().enumerate() {
            b.write(if j < n { unsafe { *ptr.add(j) } } else { pad });
        }
        unsafe { Self::load(buf.as_ptr() as *const Self::Elem) }
    }
    /// Stores the first `n < LANES` lanes at `ptr`.
    ///
    /// # Safety
    /// `ptr` is valid for `n` writes.
    #[inline(always)]
    unsafe fn store_partial(self, ptr: *mut Self::Elem, n: usize) {
        let mut buf = [MaybeUninit::<Self::Elem>::uninit(); 64];
        unsafe {
            self.store(buf.as_mut_ptr() as *mut Self::Elem);
            std::ptr::copy_nonoverlapping(buf.as_ptr() as *const Self::Elem, ptr, n);
        }
    }

    /// `self * b + c`, fused (one rounding) on every level.
    fn mul_add(self, b: Self, c: Self) -> Self;
    fn abs(self) -> Self;
    /// `|self|` with the sign bit of `sign`.
    fn copysign(self, sign: Self) -> Self;
    /// `2^self` for integer-valued `self` in the normal exponent range.
    fn pow2i(self) -> Self;
    /// `(m, e)` with `self = m 2^e`, `1 <= m < 2` and `e` integer-valued, for positive normal
    /// finite `self` (other inputs give unspecified values: callers select them away).
    fn frexp(self) -> (Self, Self);

    fn gt(self, b: Self) -> Self::Mask;
    fn ge(self, b: Self) -> Self::Mask;
    fn lt(self, b: Self) -> Self::Mask;
    fn le(self, b: Self) -> Self::Mask;
    /// True in lanes where `self` is NaN.
    fn is_nan(self) -> Self::Mask;
    fn and(a: Self::Mask, b: Self::Mask) -> Self::Mask;
    fn or(a: Self::Mask, b: Self::Mask) -> Self::Mask;
    /// `m ? a : b`, lane by lane.
    fn select(m: Self::Mask, a: Self, b: Self) -> Self;
    /// True if any lane of `m` is: a kernel skips work that no lane of the vector needs (the
    /// lanes' results are the same either way, so this is a branch per vector, not per element).
    fn any(m: Self::Mask) -> bool;

    /// `i` (lanes in {0, 1, 2, 3}) prepared for [`Vector::lookup4`].
    #[inline(always)]
    fn index4(i: Self) -> Self {
        i
    }
    /// `table[i]`, lane by lane, for `i` from [`Vector::index4`]: one of four interpolants'
    /// coefficients. AVX2 permutes a constant register; the default selects.
    #[inline(always)]
    fn lookup4(i: Self, table: [f64; 4]) -> Self {
        // No closures here: they would compile without the caller's target features.
        let mut v = Self::splat(Self::Elem::from_f64(table[0]));
        for (k, &t) in table.iter().enumerate().skip(1) {
            let at = i.gt(Self::splat(Self::Elem::from_f64(k as f64 - 0.5)));
            v = Self::select(at, Self::splat(Self::Elem::from_f64(t)), v);
        }
        v
    }

    /// The float64 vector of the same level (`Self` for float64 vectors).
    type F64: Vector<Elem = f64>;
    /// The lanes converted to float64 (exactly): for a float32 vector with more lanes than
    /// `F64`, the low half and the high half; otherwise every lane, twice.
    fn widen(self) -> (Self::F64, Self::F64);
    /// The inverse of [`Vector::widen`], each lane rounded to nearest (the second half is
    /// ignored where `widen` repeats).
    fn narrow(lo: Self::F64, hi: Self::F64) -> Self;
}

/// `(v, v)`: [`Vector::widen`] of a vector that is already float64.
#[inline(always)]
pub(crate) fn same<V: Copy>(v: V) -> (V, V) {
    (v, v)
}

/// `lo`: [`Vector::narrow`] of a vector that is already float64.
#[inline(always)]
pub(crate) fn first<V>(lo: V, _hi: V) -> V {
    lo
}

/// A kernel written for float64 lanes only, to evaluate float32 arguments through float64 (see
/// [`via_f64`]).
pub trait Wide<const N: usize> {
    fn eval64<W: Vector<Elem = f64>>(&self, args: [W; N]) -> W;
}

/// `k` on `args` converted to float64, each result rounded back to the element type once.
///
/// For float32, an evaluation in plain float64 arithmetic with relative error `d` rounds to
/// within `1/2 + 2^24 d` ulp: no pairs are needed for the 1-ulp budget, where float32 arithmetic
/// would need them. The float64 vectors have half the lanes, so this pays where the pairs cost
/// more than twice the plain arithmetic.
#[inline(always)]
pub fn via_f64<V: Vector, K: Wide<N>, const N: usize>(k: &K, args: [V; N]) -> V {
    let mut lo = [<V::F64 as Vector>::splat(0.0); N];
    let mut hi = lo;
    for j in 0..N {
        (lo[j], hi[j]) = args[j].widen();
    }
    let a = k.eval64(lo);
    let b = if V::F64::LANES < V::LANES {
        k.eval64(hi)
    } else {
        a
    };
    V::narrow(a, b)
}

macro_rules! scalar_vector {
    ($t:ty, $bits:ty, $mant:expr, $bias:expr) => {
        impl Vector for $t {
            type Elem = $t;
            type Mask = bool;
            const LANES: usize = 1;
            #[inline(always)]
            fn splat(v: $t) -> Self {
                v
            }
            #[inline(always)]
            unsafe fn load(ptr: *const $t) -> Self {
                unsafe { ptr.read_unaligned() }
            }
            #[inline(always)]
            unsafe fn store(self, ptr: *mut $t) {
                unsafe { ptr.write_unaligned(self) }
            }
            #[inline(always)]
            fn mul_add(self, b: Self, c: Self) -> Self {
                // Fused, as on every SIMD level, so that all levels give bit-identical results
                // (libm's fma uses the FMA instruction where the CPU has one).
                <$t>::mul_add(self, b, c)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn copysign(self, sign: Self) -> Self {
                <$t>::copysign(self, sign)
            }
            #[inline(always)]
            fn pow2i(self) -> Self {
                <$t>::from_bits(((self as i64 + $bias) as $bits) << $mant)
            }
            #[inline(always)]
            fn frexp(self) -> (Self, Self) {
                let b = self.to_bits();
                let mant = (1 as $bits << $mant) - 1;
                let e = ((b >> $mant) & (2 * $bias + 1)) as i64 - $bias;
                (<$t>::from_bits((b & mant) | (($bias as $bits) << $mant)), e as $t)
            }
            #[inline(always)]
            fn gt(self, b: Self) -> bool {
                self > b
            }
            #[inline(always)]
            fn ge(self, b: Self) -> bool {
                self >= b
            }
            #[inline(always)]
            fn lt(self, b: Self) -> bool {
                self < b
            }
            #[inline(always)]
            fn le(self, b: Self) -> bool {
                self <= b
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                self != self
            }
            #[inline(always)]
            fn and(a: bool, b: bool) -> bool {
                a & b
            }
            #[inline(always)]
            fn or(a: bool, b: bool) -> bool {
                a | b
            }
            #[inline(always)]
            fn select(m: bool, a: Self, b: Self) -> Self {
                if m { a } else { b }
            }
            #[inline(always)]
            fn any(m: bool) -> bool {
                m
            }
            type F64 = f64;
            #[inline(always)]
            fn widen(self) -> (f64, f64) {
                (self as f64, self as f64)
            }
            #[inline(always)]
            fn narrow(lo: f64, _hi: f64) -> Self {
                lo as $t
            }
        }
    };
}
scalar_vector!(f32, u32, 23, 127);
scalar_vector!(f64, u64, 52, 1023);

/// A lane-wise function of `N` inputs: forward (`N = 1`), backward (`N = 2`, gradient first).
///
/// `eval` must treat each lane independently and must not depend on `V::LANES`.
pub trait Kernel<T: Real, const N: usize>: Sync {
    /// Cost per float32 element relative to a plain load-op-store (relu: 1), measured: sigmoid
    /// about 11, silu 16, gelu 29 (the exp-based kernels take 12, 18, 24 or 30). Calls are split
    /// across threads when `n * COST` (twice that for float64) reaches
    /// [`crate::parallel::MIN_PARALLEL`].
    const COST: usize = 1;
    fn eval<V: Vector<Elem = T>>(&self, args: [V; N]) -> V;
    /// Why this kernel's parameters do not work at type `T`, if they do not (celu's alpha
    /// rounded to 0); `eval` then gives NaN where it should not. Checked by the bindings.
    fn unusable(&self) -> Option<String> {
        None
    }
}

/// Work to run at one SIMD level: `run` is generic over the vector type and is compiled once per
/// level, inside that level's target features (implementations mark it `#[inline(always)]`).
pub trait Job<T: Real> {
    type Output;
    fn run<V: Vector<Elem = T>>(self) -> Self::Output;
}

/// Instruction-set levels, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Scalar = 0,
    #[cfg(target_arch = "x86_64")]
    Avx2 = 1,
    #[cfg(target_arch = "x86_64")]
    Avx512 = 2,
    #[cfg(target_arch = "aarch64")]
    Neon = 1,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => "avx512",
            #[cfg(target_arch = "aarch64")]
            Level::Neon => "neon",
        }
    }

    /// Every level, lowest first.
    pub fn all() -> &'static [Level] {
        &[
            Level::Scalar,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2,
            #[cfg(target_arch = "x86_64")]
            Level::Avx512,
            #[cfg(target_arch = "aarch64")]
            Level::Neon,
        ]
    }

    pub fn from_name(name: &str) -> Option<Level> {
        Level::all().iter().copied().find(|l| l.name() == name)
    }

    /// The best level this CPU runs.
    pub fn detect() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                return Level::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Level::Avx2;
            }
        }
        #[cfg(target_arch = "aarch64")]
        if std::arch::is_aarch64_feature_detected!("neon") {
            return Level::Neon;
        }
        Level::Scalar
    }
}

const UNSET: u8 = u8::MAX;
static LEVEL: AtomicU8 = AtomicU8::new(UNSET);

/// The level used by every call: the best the CPU runs, or a lower one named by the
/// environment variable `NONLIN_SIMD` (scalar, avx2, avx512, neon) or set with [`set_level`].
pub fn level() -> Level {
    let l = LEVEL.load(Ordering::Relaxed);
    if l != UNSET {
        return Level::all()[l as usize];
    }
    let best = Level::detect();
    let chosen = crate::env::simd().map_or(best, |l| l.min(best));
    LEVEL.store(chosen as u8, Ordering::Relaxed);
    chosen
}

/// Uses `level` (at most the best this CPU runs) from now on; returns the level set.
pub fn set_level(level: Level) -> Level {
    let l = level.min(Level::detect());
    LEVEL.store(l as u8, Ordering::Relaxed);
    l
}

/// Runs `job` at the level chosen by [`level`].
pub fn dispatch<T: Real, J: Job<T>>(job: J) -> J::Output {
    match level() {
        Level::Scalar => job.run::<T::Scalar>(),
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { run_avx2(job) },
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { run_avx512(job) },
        // NEON is part of the aarch64 baseline: no target-feature wrapper is needed.
        #[cfg(target_arch = "aarch64")]
        Level::Neon => job.run::<T::Neon>(),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<T: Real, J: Job<T>>(job: J) -> J::Output {
    job.run::<T::Avx2>()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512<T: Real, J: Job<T>>(job: J) -> J::Output {
    job.run::<T::Avx512>()
}

/// `dst[i] = k(srcs[0][i], ..)` for `i < n`, with vector type `V`. Always inlined, so that it is
/// compiled inside the caller's target features.
///
/// # Safety
/// Every `srcs[j]` is valid for `n` reads and `dst` for `n` writes. `dst` may be equal to a
/// source pointer (in place) but must not otherwise overlap one.
#[inline(always)]
pub unsafe fn map_with<T: Real, V: Vector<Elem = T>, K: Kernel<T, N>, const N: usize>(
    k: &K,
    srcs: [*const T; N],
    dst: *mut T,
    n: usize,
) {
    unsafe { map_bcast::<T, V, K, N>(k, srcs, [false; N], dst, n, Mem::Cached) }
}

/// As [`map_with`], but operand `j` is the single value `*srcs[j]` for every `i` where
/// `bcast[j]` (an operand of stride 0, such as a per-channel weight). `mem` says how the
/// operands meet memory (see [`Mem`]).
///
/// # Safety
/// As [`map_with`]; a broadcast source is valid for one read.
#[inline(always)]
pub unsafe fn map_bcast<T: Real, V: Vector<Elem = T>, K: Kernel<T, N>, const N: usize>(
    k: &K,
    srcs: [*const T; N],
    bcast: [bool; N],
    dst: *mut T,
    n: usize,
    mem: Mem,
) {
    let stream = mem == Mem::Stream;
    let mut splats = [V::splat(T::default()); N];
    for j in 0..N {
        if bcast[j] {
            splats[j] = V::splat(unsafe { *srcs[j] });
        }
    }
    // The stores start at the first element of `dst` aligned to the vector (streaming stores
    // must; others that cross cache lines cost too: one thread, float32 relu at 1e5 elements,
    // 0.101 -> 0.082 ns/element); the ones before it go with the rest, below. An element then
    // goes through one copy of the kernel or another depending on where `dst` is, and the
    // copies may differ in the sign of a NaN result (see `one_nan`).
    let head = ((dst as usize).wrapping_neg() % size_of::<V>() / size_of::<T>()).min(n);
    let mut i = head;
    // Four vectors per step: their independent dependency chains interleave, which long
    // kernels (exp, pairs, a division) need to keep the vector units busy.
    while i + 4 * V::LANES <= n {
        let l = V::LANES;
        if mem != Mem::Cached {
            for j in 0..N {
                if !bcast[j] {
                    prefetch_ahead::<V>(srcs[j].wrapping_add(i), 4 * l);
                }
            }
        }
        // (Direct calls, not a closure: see load_args.)
        let a = unsafe { load_args(&srcs, &bcast, &splats, i) };
        let b = unsafe { load_args(&srcs, &bcast, &splats, i + l) };
        let c = unsafe { load_args(&srcs, &bcast, &splats, i + 2 * l) };
        let d = unsafe { load_args(&srcs, &bcast, &splats, i + 3 * l) };
        let (ya, yb, yc, yd) = (one_nan(k, a), one_nan(k, b), one_nan(k, c), one_nan(k, d));
        unsafe {
            put(ya, dst.add(i), stream);
            put(yb, dst.add(i + l), stream);
            put(yc, dst.add(i + 2 * l), stream);
            put(yd, dst.add(i + 3 * l), stream);
        }
        i += 4 * l;
    }
    if stream {
        V::fence();
    }
    // The head and the rest, one vector at a time; the last of each partial, with zeros in the
    // lanes past its end, through the same code (one more copy of the kernel, not two).
    for (mut i, end) in [(0, head), (i, n)] {
        while i < end {
            let rest = end - i;
            let mut args = splats;
            for j in 0..N {
                if !bcast[j] {
                    args[j] = unsafe { load_n(srcs[j].add(i), rest, T::default()) };
                }
            }
            unsafe { store_n(one_nan(k, args), dst.add(i), rest) };
            i += V::LANES;
        }
    }
}

/// `k.eval(args)`, with every NaN lane the positive quiet NaN if two NaNs can meet in it: in a
/// kernel of two operands (a gradient and x), or of more than a plain load-op-store
/// (`K::COST > 1`: -x and x, say). x86 gives the first operand of an operation on two NaNs,
/// and the compiler orders the operands of `a * b` as it likes, differently in different
/// copies of one kernel: mish(+NaN) in float32 at avx2 was -NaN in the four-vector loop and
/// +NaN in the partial vector after it. The cheap kernels of one operand (one select, max or
/// multiplication by a constant) have one NaN to give, x's, and stay as they are: this would
/// cost them a third (float32 relu in L1, 0.040 -> 0.056 ns/element).
#[inline(always)]
pub fn one_nan<T: Real, V: Vector<Elem = T>, K: Kernel<T, N>, const N: usize>(k: &K, args: [V; N]) -> V {
    let y = k.eval(args);
    match K::COST > 1 || N > 1 {
        true => positive_nan(y),
        false => y,
    }
}

/// `y` with every NaN lane the positive quiet NaN (see [`one_nan`]; for loops that compute
/// their results without a [`Kernel`]).
#[inline(always)]
pub fn positive_nan<V: Vector>(y: V) -> V {
    V::select(y.is_nan(), V::splat(V::Elem::from_f64(f64::NAN)), y)
}

/// How a loop over long contiguous operands meets memory.
///
/// Measured at avx512 on the 2-core machine, 1.6e7 elements with `out=`, 2 threads, ns per
/// element (cached stores / streaming stores, each without / with prefetching 4 KiB ahead):
/// relu float32 0.347 0.287 / 0.203 0.177, leaky_relu float64 0.785 0.738 / 0.552 0.508,
/// sigmoid float32 0.458 0.376 / 0.572 0.463, tanh float32 0.496 0.393 / 0.633 0.490, sigmoid
/// float64 1.256 1.092 / 1.718 1.174. Streaming stores pay only where memory is the bound; for
/// a costly kernel they lose (the copy floor is about 0.23). In the caches (up to 1e6 float32
/// elements) prefetching costs up to a tenth (sigmoid float32 at 1e4 0.420 -> 0.456).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mem {
    /// Operands that fit in the caches: plain loads and stores.
    Cached,
    /// Inputs larger than the caches: each loop step prefetches the lines [`AHEAD`] bytes past
    /// the ones it loads.
    Prefetch,
    /// As [`Mem::Prefetch`], and the output written by [`Vector::store_stream`]: for the cheap
    /// kernels, where memory traffic is the bound (a cached store reads the line it writes).
    Stream,
}

/// Outputs of at least this many bytes are past the caches (3/4 of the L3 of the machine where
/// it was measured): see [`Mem::for_output`].
pub const LARGE_BYTES: usize = 24 << 20;

impl Mem {
    /// How a call whose output takes `bytes` meets memory: [`Mem::Cached`] below
    /// [`LARGE_BYTES`]; above, [`Mem::Stream`] if `stream` (for cheap kernels out of place: in
    /// place the lines are in the cache already, read as the input), else [`Mem::Prefetch`].
    pub fn for_output(bytes: usize, stream: bool) -> Mem {
        match (bytes >= LARGE_BYTES, stream) {
            (false, _) => Mem::Cached,
            (true, true) => Mem::Stream,
            (true, false) => Mem::Prefetch,
        }
    }
}

/// How far ahead of its loads [`Mem::Prefetch`] prefetches, in bytes: a page (1 KiB did as
/// well without streaming stores, and slightly worse with them).
pub const AHEAD: usize = 4096;

/// Prefetches the lines [`AHEAD`] bytes past the `n` elements at `p`.
#[inline(always)]
pub fn prefetch_ahead<V: Vector>(p: *const V::Elem, n: usize) {
    let p = (p as *const u8).wrapping_add(AHEAD);
    for line in 0..(n * size_of::<V::Elem>()).div_ceil(64) {
        V::prefetch(p.wrapping_add(64 * line) as *const V::Elem);
    }
}

/// `v` stored at `p`, by [`Vector::store_stream`] if `stream`.
///
/// # Safety
/// As the store taken.
#[inline(always)]
unsafe fn put<V: Vector>(v: V, p: *mut V::Elem, stream: bool) {
    unsafe {
        if stream {
            v.store_stream(p)
        } else {
            v.store(p)
        }
    }
}

/// `V::LANES` elements at `p`, or the `n < V::LANES` there and `pad` after them.
#[inline(always)]
pub(crate) unsafe fn load_n<V: Vector>(p: *const V::Elem, n: usize, pad: V::Elem) -> V {
    unsafe {
        if n >= V::LANES {
            V::load(p)
        } else {
            V::load_partial(p, n, pad)
        }
    }
}

/// The first `min(n, V::LANES)` lanes of `v` at `p`.
#[inline(always)]
pub(crate) unsafe fn store_n<V: Vector>(v: V, p: *mut V::Elem, n: usize) {
    unsafe {
        if n >= V::LANES {
            v.store(p)
        } else {
            v.store_partial(p, n)
        }
    }
}

/// The operands at element `i`: `srcs[j] + i` loaded, or `splats[j]` where `bcast[j]`. A
/// function, not a closure: a closure is compiled without the caller's target features, and the
/// loads inside it can then become calls.
///
/// # Safety
/// Every non-broadcast `srcs[j]` is valid for `V::LANES` reads at `i`.
#[inline(always)]
unsafe fn load_args<T: Real, V: Vector<Elem = T>, const N: usize>(
    srcs: &[*const T; N],
    bcast: &[bool; N],
    splats: &[V; N],
    i: usize,
) -> [V; N] {
    let mut args = *splats;
    for j in 0..N {
        if !bcast[j] {
            args[j] = unsafe { V::load(srcs[j].add(i)) };
        }
    }
    args
}

/// Lanes of the accumulator in [`reduce_with`], the same on every level.
const SUM_LANES: usize = 16;

/// Writes `dst[i] = km(srcs[0][i], ..)` and returns `sum of kr(srcs[0][i], ..)` for `i < n`, in
/// one pass, with vector type `V`. The order of additions is the same on every level: 16
/// running sums (element `i` goes to sum `i % 16`) over blocks of 256 elements, each block's sums
/// added in order into an f64 total, then the tail in order.
///
/// # Safety
/// Every `srcs[j]` is valid for `n` reads and `dst` for `n` writes; `dst` may equal a source.
#[inline(always)]
pub unsafe fn map_reduce_with<
    T: Real,
    V: Vector<Elem = T>,
    KM: Kernel<T, N>,
    KR: Kernel<T, N>,
    const N: usize,
>(
    km: &KM,
    kr: &KR,
    srcs: [*const T; N],
    dst: *mut T,
    n: usize,
) -> f64 {
    const BLOCK: usize = 256;
    let per = SUM_LANES / V::LANES; // vectors per 16 elements
    let full = n - n % SUM_LANES;
    let mut total = 0.0f64;
    let zeros = [V::splat(T::default()); N];
    let mut i = 0;
    while i < full {
        let end = (i + BLOCK).min(full);
        let mut acc = [V::splat(T::default()); SUM_LANES];
        while i < end {
            for (a, acc) in acc[..per].iter_mut().enumerate() {
                let at = i + a * V::LANES;
                let args = unsafe { load_args(&srcs, &[false; N], &zeros, at) };
                *acc = *acc + kr.eval(args);
                unsafe { one_nan(km, args).store(dst.add(at)) };
            }
            i += SUM_LANES;
        }
        let mut sums = [T::default(); SUM_LANES];
        for (a, acc) in acc[..per].iter().enumerate() {
            unsafe { acc.store(sums.as_mut_ptr().add(a * V::LANES)) };
        }
        total += sums.iter().fold(T::default(), |s, &v| s + v).to_f64();
    }
    // The tail, through the same kernels with zeros past the end, added in order.
    let mut red = [T::default(); 64];
    while i < n {
        let rest = (n - i).min(V::LANES);
        let mut args = zeros;
        for j in 0..N {
            args[j] = unsafe { load_n(srcs[j].add(i), rest, T::default()) };
        }
        unsafe {
            kr.eval(args).store(red.as_mut_ptr());
            store_n(one_nan(km, args), dst.add(i), rest);
        }
        for v in &red[..rest] {
            total += v.to_f64();
        }
        i += rest;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`Vector::lookup4`] and [`Vector::any`] on lanes with different indices, at one level.
    struct LaneOps;
    impl<T: Real> Job<T> for LaneOps {
        type Output = Vec<String>;
        #[inline(always)]
        fn run<V: Vector<Elem = T>>(self) -> Vec<String> {
            let table = [0.25, -1.5, 3.0e-7, 1234.5];
            let mut bad = Vec::new();
            for shift in 0..4 {
                let idx: Vec<T> = (0..V::LANES)
                    .map(|j| T::from_f64(((j + shift) % 4) as f64))
                    .collect();
                let i = unsafe { V::load(idx.as_ptr()) };
                let mut got = vec![T::default(); V::LANES];
                unsafe { V::lookup4(V::index4(i), table).store(got.as_mut_ptr()) };
                for (j, g) in got.iter().enumerate() {
                    let want = T::from_f64(table[(j + shift) % 4]);
                    if g.to_f64() != want.to_f64() {
                        bad.push(format!("lookup4 lane {j} shift {shift}: {g:?}"));
                    }
                }
                // `any` of the lanes holding index k: true exactly when some lane holds it
                // (with fewer than 4 lanes, some k are held by no lane).
                for k in 0..4 {
                    let (lo, hi) = (T::from_f64(k as f64 - 0.5), T::from_f64(k as f64 + 0.5));
                    let m = V::and(i.gt(V::splat(lo)), i.lt(V::splat(hi)));
                    let want = idx.iter().any(|v| v.to_f64() == k as f64);
                    if V::any(m) != want {
                        bad.push(format!("any, shift {shift}, index {k}"));
                    }
                }
            }
            bad
        }
    }

    #[test]
    fn lane_ops_at_every_level() {
        let before = level();
        for &l in Level::all().iter().filter(|&&l| l <= Level::detect()) {
            set_level(l);
            let bad: Vec<String> =
                [dispatch::<f32, _>(LaneOps), dispatch::<f64, _>(LaneOps)].concat();
            assert!(bad.is_empty(), "{}: {bad:?}", l.name());
        }
        set_level(before);
    }
}
